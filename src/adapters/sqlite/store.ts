import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3, { type Database } from "better-sqlite3";
import type { DraftMessage } from "../../domain/enqueue.js";
import type { Message } from "../../domain/message.js";
import type { Queue } from "../../domain/queue.js";
import type { Enqueued } from "../../service/ports.js";
import { ConcernStore, type StoreConcerns } from "../shared/concern-store.js";
import { SqliteDeadLetters } from "./dead-letters.js";
import { type Committer, GroupCommitter, type OpenCommitter } from "./group-commit.js";
import { SqliteKeys } from "./keys.js";
import { SqliteMessages } from "./messages.js";
import { migrate } from "./migrations.js";
import { SqliteQueues } from "./queues.js";
import { SqliteStats } from "./stats.js";

/** Disk full, I/O errors, a locked file: conditions a retry may outlive, unlike a bug. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)/;

export interface SqliteStoreOptions {
  /** The directory of `conveyor.db`; created when missing. */
  dataDir: string;
  /** Another committer than `GroupCommitter`: only the crash harness's faulty one (src/tools/ack-before-commit.ts). */
  committer?: OpenCommitter<Message>;
}

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
 * a write is on disk before it is acknowledged. All writes go through the
 * group committer (one fsync per group, not per request); reads run directly
 * and see only committed data, because better-sqlite3 runs each group's
 * transaction to completion synchronously. Each concern (queues, messages,
 * dead letters and redrive tasks, stats, keys) is its own module with its SQL
 * (`ConcernStore` hands each port method to its module).
 */
export class SqliteStore extends ConcernStore {
  override readonly kind = "sqlite" as const;
  private readonly db: Database;
  private readonly writes: Committer<Message>;
  private readonly changeListeners = new Set<(changes: Message[]) => void>();
  protected override readonly concerns: StoreConcerns & { messages: SqliteMessages };

  constructor(options: SqliteStoreOptions) {
    super();
    mkdirSync(options.dataDir, { recursive: true });
    this.db = new BetterSqlite3(join(options.dataDir, "conveyor.db"));
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
      // One process owns the file (the queue cache depends on it); a second one fails at open.
      this.db.pragma("locking_mode = EXCLUSIVE");
      migrate(this.db);
    } catch (error) {
      this.db.close();
      if ((error as { code?: string }).code === "SQLITE_BUSY") {
        throw new Error(`${options.dataDir} is in use by another Conveyor process`, { cause: error });
      }
      throw error;
    }
    const onCommitted = (changes: Message[]) => {
      for (const listener of this.changeListeners) listener(changes);
    };
    this.writes = options.committer
      ? options.committer(this.db, onCommitted)
      : new GroupCommitter<Message>(this.db, onCommitted);
    const messages = new SqliteMessages(this.db, this.writes);
    const deadLetters = new SqliteDeadLetters(this.db, this.writes, messages);
    this.concerns = {
      queues: new SqliteQueues(this.db, this.writes),
      messages,
      deadLetters,
      statistics: new SqliteStats(this.db, this.writes, messages, deadLetters),
      keys: new SqliteKeys(this.db, this.writes),
    };
  }

  override async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  /**
   * Committed changes to messages, in commit order: every message a write
   * created or changed, as it is after the change. The local host feeds them
   * to the same change handler the Cosmos DB change feed feeds on Azure.
   */
  onCommittedChanges(listener: (changes: Message[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  override isUnavailable(error: unknown): boolean {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE_CODES.test(code)) return true;
    return error instanceof TypeError && !this.db.open;
  }

  override async close(): Promise<void> {
    if (!this.db.open) return;
    this.writes.flush();
    this.db.close();
  }

  override enqueue(queue: Queue, drafts: DraftMessage[]): Promise<Enqueued[]> {
    return this.writes.run(() => this.enqueueWithin(queue, drafts));
  }

  /** Inserts messages; only inside this store's write transaction (a topic's fan-out runs several in one). */
  enqueueWithin(queue: Queue, drafts: DraftMessage[]): Enqueued[] {
    return this.concerns.messages.enqueueWithin(queue, drafts);
  }

  /** Runs `work` in the next group's write transaction; answered once it is committed (a store sharing this file). */
  inTransaction<T>(work: () => T): Promise<T> {
    return this.writes.run(work);
  }

  /** The database file, for a store that shares it (src/adapters/sqlite/topics.ts); it writes only through `inTransaction`. */
  get database(): Database {
    return this.db;
  }
}
