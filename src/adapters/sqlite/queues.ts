import type { Database, Statement } from "better-sqlite3";
import { fail, ok, type Result } from "../../domain/errors.js";
import type { Message } from "../../domain/message.js";
import type { Queue } from "../../domain/queue.js";
import type { Page, PageRequest } from "../../service/ports.js";
import { BY_NAME, readPage } from "../shared/pages.js";
import type { Committer } from "./group-commit.js";
import { type QueueRow, settingsOf, toQueue } from "./rows.js";

/** Queues kept in the cache; past it the cache is dropped and refilled (a safety valve, not an eviction policy). */
const MAX_CACHED_QUEUES = 10_000;

function prepare(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    queueByName: q("SELECT * FROM queues WHERE tenant_id = ? AND name = ?"),
    queueById: q("SELECT * FROM queues WHERE id = ? AND tenant_id = ?"),
    insertQueue: q(
      "INSERT INTO queues (id, tenant_id, name, ordering, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    listQueues: q("SELECT * FROM queues WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?"),
    updateQueue: q("UPDATE queues SET settings = ?, updated_at = ? WHERE id = ? AND tenant_id = ?"),
    deleteQueue: q("DELETE FROM queues WHERE id = ? AND tenant_id = ?"),
    deleteMessagesOfQueue: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ?"),
    deleteGroupsOfQueue: q("DELETE FROM fifo_groups WHERE queue_id = ?"),
    deleteTasksOfQueue: q("DELETE FROM redrive_tasks WHERE queue_id = ?"),
    deleteSamplesOfQueue: q("DELETE FROM queue_samples WHERE queue_id = ?"),
    pushQueues: q("SELECT * FROM queues WHERE json_extract(settings, '$.push') IS NOT NULL"),
  };
}

/** Queues, with a cache of their settings. */
export class SqliteQueues {
  private readonly sql: ReturnType<typeof prepare>;
  /**
   * Every request opens its queue, and reading and parsing the row cost more
   * than the rest of an enqueue's lookups. This process is the file's only
   * writer (its lock is exclusive), so settings change only through updateQueue and
   * deleteQueue here, which forget it before and after they commit.
   */
  private readonly cache = new Map<string, Queue>();

  constructor(
    db: Database,
    private readonly writes: Committer<Message>,
  ) {
    this.sql = prepare(db);
  }

  createQueue(queue: Queue): Promise<Result<Queue>> {
    return this.writes.run(() => {
      if (this.sql.queueByName.get(queue.tenantId, queue.name)) {
        return fail("conflict", `a queue named "${queue.name}" already exists`);
      }
      this.sql.insertQueue.run(
        queue.id,
        queue.tenantId,
        queue.name,
        queue.ordering,
        settingsOf(queue),
        queue.createdAt.getTime(),
        queue.updatedAt.getTime(),
      );
      return ok(queue);
    });
  }

  async getQueue(tenantId: string, name: string): Promise<Queue | undefined> {
    const key = `${tenantId}\u0000${name}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const row = this.sql.queueByName.get(tenantId, name) as QueueRow | undefined;
    return row && this.remember(key, toQueue(row));
  }

  async getQueueById(tenantId: string, queueId: string): Promise<Queue | undefined> {
    const key = `${tenantId}\u0000#${queueId}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const row = this.sql.queueById.get(queueId, tenantId) as QueueRow | undefined;
    return row && this.remember(key, toQueue(row));
  }

  private remember(key: string, queue: Queue): Queue {
    if (this.cache.size >= MAX_CACHED_QUEUES) this.cache.clear();
    this.cache.set(key, queue);
    return queue;
  }

  private forget(queue: Queue): void {
    this.cache.delete(`${queue.tenantId}\u0000${queue.name}`);
    this.cache.delete(`${queue.tenantId}\u0000#${queue.id}`);
  }

  private async changeQueue(queue: Queue, change: () => void): Promise<void> {
    this.forget(queue);
    try {
      await this.writes.run(change);
    } finally {
      this.forget(queue);
    }
  }

  listQueues(tenantId: string, page: PageRequest): Promise<Result<Page<Queue>>> {
    return readPage(page, BY_NAME, ([after], count) =>
      (this.sql.listQueues.all(tenantId, after, count) as QueueRow[]).map(toQueue),
    );
  }

  updateQueue(queue: Queue): Promise<void> {
    return this.changeQueue(queue, () => {
      this.sql.updateQueue.run(settingsOf(queue), queue.updatedAt.getTime(), queue.id, queue.tenantId);
    });
  }

  deleteQueue(queue: Queue): Promise<void> {
    return this.changeQueue(queue, () => {
      this.sql.deleteMessagesOfQueue.run(queue.id, queue.tenantId);
      this.sql.deleteGroupsOfQueue.run(queue.id);
      this.sql.deleteTasksOfQueue.run(queue.id);
      this.sql.deleteSamplesOfQueue.run(queue.id);
      this.sql.deleteQueue.run(queue.id, queue.tenantId);
    });
  }

  async listPushQueues(): Promise<Queue[]> {
    return (this.sql.pushQueues.all() as QueueRow[]).map(toQueue);
  }
}
