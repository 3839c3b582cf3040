import type { Container } from "@azure/cosmos";
import type { Result } from "../../domain/errors.js";
import type { ApiKeyRecord, KeyStore, Page, PageRequest } from "../../service/ports.js";
import { BY_CREATED_AT, readPage } from "../shared/pages.js";
import { type KeyDocument, newWriteId, toKey } from "./documents.js";
import { params, readItem, retried, statusOf } from "./queries.js";
import { createOnce } from "./resilience.js";

/** API keys, partitioned by key id: the hot path looks a presented key up by its id alone. */
export class CosmosKeys implements KeyStore {
  constructor(private readonly keys: Container) {}

  async createKey(record: ApiKeyRecord): Promise<void> {
    const document = { ...record, createdAt: record.createdAt.getTime(), writeId: newWriteId() };
    const created = await createOnce<KeyDocument>(this.keys, document, record.id);
    if (!created.ok) throw new Error(`API key id ${record.id} is taken`);
  }

  async findKey(id: string): Promise<ApiKeyRecord | undefined> {
    const resource = await readItem<KeyDocument>(this.keys, id, id);
    return resource && toKey(resource);
  }

  /** Crosses partitions (keys are partitioned by id for the hot-path look-up); an admin's listing, not the hot path. */
  listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>> {
    return readPage(page, BY_CREATED_AT, async ([at, id], count) => {
      const { resources } = await retried(() =>
        this.keys.items
          .query<KeyDocument>({
            query: `SELECT * FROM c WHERE c.tenantId = @tenant AND (c.createdAt > @at OR (c.createdAt = @at AND c.id > @id))`,
            parameters: params({ tenant: tenantId, at, id }),
          })
          .fetchAll(),
      );
      const sorted = resources.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
      return sorted.slice(0, count).map(toKey);
    });
  }

  async deleteKey(tenantId: string, id: string): Promise<boolean> {
    const existing = await this.findKey(id);
    if (!existing || existing.tenantId !== tenantId) return false;
    try {
      await retried(() => this.keys.item(id, id).delete());
    } catch (error) {
      // A retry after a lost answer finds it gone: deleted all the same.
      if (statusOf(error) !== 404) throw error;
    }
    return true;
  }
}
