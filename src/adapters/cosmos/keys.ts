import type { Container } from "@azure/cosmos";
import { ok, type Result } from "../../domain/errors.js";
import {
  type ApiKeyRecord,
  decodeCursor,
  type KeyStore,
  type Page,
  type PageRequest,
  pageOf,
} from "../../service/ports.js";
import { type KeyDocument, toKey } from "./documents.js";
import { params } from "./queries.js";

/** API keys, partitioned by key id: the hot path looks a presented key up by its id alone. */
export class CosmosKeys implements KeyStore {
  constructor(private readonly keys: Container) {}

  async createKey(record: ApiKeyRecord): Promise<void> {
    await this.keys.items.create<KeyDocument>({ ...record, createdAt: record.createdAt.getTime() });
  }

  async findKey(id: string): Promise<ApiKeyRecord | undefined> {
    const { resource } = await this.keys.item(id, id).read<KeyDocument>();
    return resource && toKey(resource);
  }

  /** Crosses partitions (keys are partitioned by id for the hot-path look-up); an admin's listing, not the hot path. */
  async listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>> {
    const after = decodeCursor(page.cursor, 2);
    if (!after.ok) return after;
    const [at, id] = after.value ?? [-1, ""];
    const { resources } = await this.keys.items
      .query<KeyDocument>({
        query: `SELECT * FROM c WHERE c.tenantId = @tenant AND (c.createdAt > @at OR (c.createdAt = @at AND c.id > @id))`,
        parameters: params({ tenant: tenantId, at, id }),
      })
      .fetchAll();
    const sorted = resources
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .slice(0, page.limit + 1);
    return ok(pageOf(sorted.map(toKey), page.limit, (key) => [key.createdAt.getTime(), key.id]));
  }

  async deleteKey(tenantId: string, id: string): Promise<boolean> {
    const existing = await this.findKey(id);
    if (!existing || existing.tenantId !== tenantId) return false;
    await this.keys.item(id, id).delete();
    return true;
  }
}
