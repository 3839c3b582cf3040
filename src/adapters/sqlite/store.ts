import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3, { type Database } from "better-sqlite3";
import type { DraftMessage } from "../../domain/enqueue.js";
import type { Message } from "../../domain/message.js";
import type { Queue } from "../../domain/queue.js";
import type { Enqueued, KeyStore, QueueStore } from "../../service/ports.js";
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
 * dead letters and redrive tasks, stats, keys) is its own module with its SQL.
 */
export class SqliteStore implements QueueStore, KeyStore {
  readonly kind = "sqlite" as const;
  private readonly db: Database;
  private readonly writes: Committer<Message>;
  private readonly changeListeners = new Set<(changes: Message[]) => void>();
  private readonly queues: SqliteQueues;
  private readonly messages: SqliteMessages;
  private readonly deadLetters: SqliteDeadLetters;
  private readonly statistics: SqliteStats;
  private readonly keys: SqliteKeys;

  constructor(options: SqliteStoreOptions) {
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
    this.queues = new SqliteQueues(this.db, this.writes);
    this.messages = new SqliteMessages(this.db, this.writes);
    this.deadLetters = new SqliteDeadLetters(this.db, this.writes, this.messages);
    this.statistics = new SqliteStats(this.db, this.writes, this.messages, this.deadLetters);
    this.keys = new SqliteKeys(this.db, this.writes);
  }

  async ping(): Promise<void> {
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

  isUnavailable(error: unknown): boolean {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE_CODES.test(code)) return true;
    return error instanceof TypeError && !this.db.open;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.writes.flush();
    this.db.close();
  }

  enqueue(queue: Queue, drafts: DraftMessage[]): Promise<Enqueued[]> {
    return this.writes.run(() => this.enqueueWithin(queue, drafts));
  }

  /** Inserts messages; only inside this store's write transaction (a topic's fan-out runs several in one). */
  enqueueWithin(queue: Queue, drafts: DraftMessage[]): Enqueued[] {
    return this.messages.enqueueWithin(queue, drafts);
  }

  /** Runs `work` in the next group's write transaction; answered once it is committed (a store sharing this file). */
  inTransaction<T>(work: () => T): Promise<T> {
    return this.writes.run(work);
  }

  /** The database file, for a store that shares it (src/adapters/sqlite/topics.ts); it writes only through `inTransaction`. */
  get database(): Database {
    return this.db;
  }

  // Each port method, delegated to the module of its concern.
  readonly createQueue: QueueStore["createQueue"] = (queue) => this.queues.createQueue(queue);
  readonly getQueue: QueueStore["getQueue"] = (tenantId, name) => this.queues.getQueue(tenantId, name);
  readonly getQueueById: QueueStore["getQueueById"] = (tenantId, id) =>
    this.queues.getQueueById(tenantId, id);
  readonly listQueues: QueueStore["listQueues"] = (tenantId, page) => this.queues.listQueues(tenantId, page);
  readonly updateQueue: QueueStore["updateQueue"] = (queue) => this.queues.updateQueue(queue);
  readonly deleteQueue: QueueStore["deleteQueue"] = (queue) => this.queues.deleteQueue(queue);
  readonly listPushQueues: QueueStore["listPushQueues"] = () => this.queues.listPushQueues();

  readonly candidates: QueueStore["candidates"] = (queue, partition, now, limit) =>
    this.messages.candidates(queue, partition, now, limit);
  readonly readMessage: QueueStore["readMessage"] = (queue, id) => this.messages.readMessage(queue, id);
  readonly write: QueueStore["write"] = (queue, writes) => this.messages.write(queue, writes);
  readonly getMessage: QueueStore["getMessage"] = (queue, id) => this.messages.getMessage(queue, id);
  readonly purge: QueueStore["purge"] = (queue) => this.messages.purge(queue);
  readonly nextVisibleAt: QueueStore["nextVisibleAt"] = (queue, now) =>
    this.messages.nextVisibleAt(queue, now);
  readonly listMessages: QueueStore["listMessages"] = (queue, view, now, page) =>
    this.messages.listMessages(queue, view, now, page);
  readonly countInFlight: QueueStore["countInFlight"] = (queue, now) =>
    this.messages.countInFlight(queue, now);
  readonly dueMessages: QueueStore["dueMessages"] = (queue, now, limit) =>
    this.messages.dueMessages(queue, now, limit);

  readonly listDeadLetters: QueueStore["listDeadLetters"] = (queue, page) =>
    this.deadLetters.listDeadLetters(queue, page);
  readonly redrive: QueueStore["redrive"] = (queue, selection, now) =>
    this.deadLetters.redrive(queue, selection, now);
  readonly purgeDeadLetters: QueueStore["purgeDeadLetters"] = (queue) =>
    this.deadLetters.purgeDeadLetters(queue);
  readonly createRedriveTask: QueueStore["createRedriveTask"] = (queue, id, claim) =>
    this.deadLetters.createRedriveTask(queue, id, claim);
  readonly getRedriveTask: QueueStore["getRedriveTask"] = (queue, id) =>
    this.deadLetters.getRedriveTask(queue, id);
  readonly advanceRedriveTask: QueueStore["advanceRedriveTask"] = (queue, id, claim, limit) =>
    this.deadLetters.advanceRedriveTask(queue, id, claim, limit);
  readonly failRedriveTask: QueueStore["failRedriveTask"] = (queue, id, owner, error, now) =>
    this.deadLetters.failRedriveTask(queue, id, owner, error, now);
  readonly orphanedRedriveTasks: QueueStore["orphanedRedriveTasks"] = (now, limit) =>
    this.deadLetters.orphanedRedriveTasks(now, limit);

  readonly stats: QueueStore["stats"] = (queue, now) => this.statistics.stats(queue, now);
  readonly recordSample: QueueStore["recordSample"] = (queue, sample) =>
    this.statistics.recordSample(queue, sample);
  readonly samples: QueueStore["samples"] = (queue, since) => this.statistics.samples(queue, since);
  readonly removeExpiredTombstones: QueueStore["removeExpiredTombstones"] = (now) =>
    this.statistics.removeExpiredTombstones(now);

  readonly createKey: KeyStore["createKey"] = (record) => this.keys.createKey(record);
  readonly findKey: KeyStore["findKey"] = (id) => this.keys.findKey(id);
  readonly listKeys: KeyStore["listKeys"] = (tenantId, page) => this.keys.listKeys(tenantId, page);
  readonly deleteKey: KeyStore["deleteKey"] = (tenantId, id) => this.keys.deleteKey(tenantId, id);
}
