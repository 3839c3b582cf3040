import type { Database, Statement } from "better-sqlite3";
import type { Result } from "../../domain/errors.js";
import type { Message } from "../../domain/message.js";
import type { ApiKeyRecord, KeyStore, Page, PageRequest } from "../../service/ports.js";
import { BY_CREATED_AT, readPage } from "../shared/pages.js";
import type { Committer } from "./group-commit.js";
import { type KeyRow, toKey } from "./rows.js";

function prepare(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    insertKey: q(
      "INSERT INTO api_keys (id, tenant_id, name, secret_hash, roles, grants, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    keyById: q("SELECT * FROM api_keys WHERE id = ?"),
    listKeys: q(
      `SELECT * FROM api_keys WHERE tenant_id = ? AND (created_at > ? OR (created_at = ? AND id > ?))
       ORDER BY created_at, id LIMIT ?`,
    ),
    deleteKey: q("DELETE FROM api_keys WHERE id = ? AND tenant_id = ?"),
  };
}

/** API keys: the records of hashed secrets (src/service/keys.ts). */
export class SqliteKeys implements KeyStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writes: Committer<Message>,
  ) {
    this.sql = prepare(db);
  }

  createKey(record: ApiKeyRecord): Promise<void> {
    return this.writes.run(() => {
      this.sql.insertKey.run(
        record.id,
        record.tenantId,
        record.name,
        record.secretHash,
        JSON.stringify(record.roles),
        JSON.stringify(record.grants),
        record.createdAt.getTime(),
      );
    });
  }

  async findKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.sql.keyById.get(id) as KeyRow | undefined;
    return row && toKey(row);
  }

  listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>> {
    return readPage(page, BY_CREATED_AT, ([at, id], count) =>
      (this.sql.listKeys.all(tenantId, at, at, id, count) as KeyRow[]).map(toKey),
    );
  }

  deleteKey(tenantId: string, id: string): Promise<boolean> {
    return this.writes.run(() => this.sql.deleteKey.run(id, tenantId).changes > 0);
  }
}
