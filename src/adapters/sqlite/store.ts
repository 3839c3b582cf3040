import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3, { type Database, type Statement } from "better-sqlite3";
import { isDuplicateOf, tombstoneExpiresAt } from "../../domain/dedup.js";
import { enqueuedMessage, redrivenMessage } from "../../domain/enqueue.js";
import { fail, ok, type Result } from "../../domain/errors.js";
import { newLeaseToken, onReceive, type Transition } from "../../domain/lease.js";
import { LIMITS } from "../../domain/limits.js";
import type { Availability, DeadLetterReason, Message, MessageState } from "../../domain/message.js";
import { fifoRun } from "../../domain/ordering.js";
import type { Ordering, Queue, QueueSettings } from "../../domain/queue.js";
import { redriveProgress } from "../../domain/redrive.js";
import { decodeCursor, pageOf } from "../../service/cursor.js";
import {
  type ApiKeyRecord,
  type Enqueued,
  FINISHED_TASK_RETENTION_SECONDS,
  type KeyStore,
  type NewMessage,
  type Page,
  type PageRequest,
  type QueueStats,
  type QueueStore,
  type Received,
  type ReceiveRequest,
  type RedriveSelection,
  type RedriveTaskClaim,
  type RedriveTaskRecord,
  SAMPLE_RETENTION_MS,
  type Settlement,
  type StatsSample,
} from "../../service/ports.js";
import { type Committer, GroupCommitter, type OpenCommitter } from "./group-commit.js";
import { migrate } from "./migrations.js";

const TOMBSTONES_A_WRITE = 500;

const PRIORITY_LEVELS = Array.from(
  { length: LIMITS.priority.max - LIMITS.priority.min + 1 },
  (_, index) => LIMITS.priority.min + index,
);

/** Disk full, I/O errors, a locked file: conditions a retry may outlive, unlike a bug. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)/;

interface QueueRow {
  id: string;
  tenant_id: string;
  name: string;
  ordering: string;
  settings: string;
  created_at: number;
  updated_at: number;
}

interface MessageRow {
  pk: number;
  tenant_id: string;
  queue_id: string;
  id: string;
  body: string;
  attributes: string;
  priority: number;
  group_id: string | null;
  sequence: number;
  dedup_key: string | null;
  state: string;
  visible_at: number;
  enqueued_at: number;
  expires_at: number;
  delivery_count: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  reason: string | null;
  dead_lettered_at: number | null;
  acked_at: number | null;
}

interface TaskRow {
  id: string;
  tenant_id: string;
  queue_id: string;
  status: string;
  redriven: number;
  remaining: number;
  cutoff: number;
  owner: string;
  lease_expires_at: number;
  error: string | null;
  created_at: number;
  updated_at: number;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  name: string;
  secret_hash: string;
  roles: string;
  grants: string;
  created_at: number;
}

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function toQueue(row: QueueRow): Queue {
  const settings = JSON.parse(row.settings) as QueueSettings;
  return {
    ...settings,
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    ordering: row.ordering as Ordering,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function settingsOf(queue: Queue): string {
  const { id: _id, tenantId: _t, name: _n, ordering: _o, createdAt: _c, updatedAt: _u, ...settings } = queue;
  return JSON.stringify(settings);
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    queueId: row.queue_id,
    body: row.body,
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    priority: row.priority,
    groupId: row.group_id,
    sequence: row.sequence,
    dedupKey: row.dedup_key,
    state: row.state as MessageState,
    visibleAt: new Date(row.visible_at),
    enqueuedAt: new Date(row.enqueued_at),
    expiresAt: new Date(row.expires_at),
    deliveryCount: row.delivery_count,
    leaseToken: row.lease_token,
    leaseExpiresAt: toDate(row.lease_expires_at),
    lastError: row.last_error,
    reason: row.reason as DeadLetterReason | null,
    deadLetteredAt: toDate(row.dead_lettered_at),
    ackedAt: toDate(row.acked_at),
  };
}

function toTask(row: TaskRow): RedriveTaskRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    queueId: row.queue_id,
    status: row.status as RedriveTaskRecord["status"],
    redriven: row.redriven,
    remaining: row.remaining,
    cutoff: row.cutoff,
    owner: row.owner,
    leaseExpiresAt: new Date(row.lease_expires_at),
    error: row.error,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    secretHash: row.secret_hash,
    roles: JSON.parse(row.roles) as string[],
    grants: JSON.parse(row.grants) as ApiKeyRecord["grants"],
    createdAt: new Date(row.created_at),
  };
}

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
 * transaction to completion synchronously.
 */
export class SqliteStore implements QueueStore, KeyStore {
  readonly kind = "sqlite" as const;
  private readonly db: Database;
  private readonly writes: Committer<Message>;
  private readonly changeListeners = new Set<(changes: Message[]) => void>();
  private readonly sql: ReturnType<typeof prepareStatements>;
  /**
   * Every request opens its queue, and reading and parsing the row cost more
   * than the rest of an enqueue's lookups. This process is the file's only
   * writer (its lock is exclusive), so settings change only through updateQueue and
   * deleteQueue here, which forget it before and after they commit.
   */
  private readonly queueCache = new Map<string, Queue>();

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
    this.sql = prepareStatements(this.db);
    const onCommitted = (changes: Message[]) => {
      for (const listener of this.changeListeners) listener(changes);
    };
    this.writes = options.committer
      ? options.committer(this.db, onCommitted)
      : new GroupCommitter<Message>(this.db, onCommitted);
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

  // Queues

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
    const cached = this.queueCache.get(key);
    if (cached) return cached;
    const row = this.sql.queueByName.get(tenantId, name) as QueueRow | undefined;
    return row && this.remember(key, toQueue(row));
  }

  private remember(key: string, queue: Queue): Queue {
    if (this.queueCache.size >= 10_000) this.queueCache.clear();
    this.queueCache.set(key, queue);
    return queue;
  }

  private forget(queue: Queue): void {
    this.queueCache.delete(`${queue.tenantId}\u0000${queue.name}`);
    this.queueCache.delete(`${queue.tenantId}\u0000#${queue.id}`);
  }

  private async changeQueue(queue: Queue, change: () => void): Promise<void> {
    this.forget(queue);
    try {
      await this.writes.run(change);
    } finally {
      this.forget(queue);
    }
  }

  async listQueues(tenantId: string, page: PageRequest): Promise<Result<Page<Queue>>> {
    const after = decodeCursor(page.cursor, 1);
    if (!after.ok) return after;
    const rows = this.sql.listQueues.all(tenantId, after.value?.[0] ?? "", page.limit + 1) as QueueRow[];
    return ok(pageOf(rows.map(toQueue), page.limit, (queue) => [queue.name]));
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

  // Messages

  enqueue(queue: Queue, messages: NewMessage[]): Promise<Enqueued[]> {
    return this.writes.run(() => this.enqueueWithin(queue, messages));
  }

  /**
   * The body of `enqueue`, for a write that must enqueue together with its
   * own changes (a topic's publish and its copies): call it only inside
   * `write`, whose transaction it joins.
   */
  enqueueWithin(queue: Queue, messages: NewMessage[]): Enqueued[] {
    {
      const results: Enqueued[] = [];
      // One update reserves the sequence range and counts every message in;
      // duplicates are taken back at the end (and leave gaps ordering ignores).
      const { next_sequence: end } = this.sql.reserveForEnqueue.get({
        n: messages.length,
        queue: queue.id,
      }) as {
        next_sequence: number;
      };
      let sequence = end - messages.length;
      let duplicates = 0;
      for (const draft of messages) {
        if (draft.dedupKey !== null) {
          const existing = this.sql.latestByDedupKey.get(queue.id, draft.dedupKey) as MessageRow | undefined;
          if (existing && isDuplicateOf(toMessage(existing), queue, draft.enqueuedAt)) {
            results.push({ message: toMessage(existing), duplicate: true });
            duplicates++;
            continue;
          }
        }
        // Positional parameters: binding by name costs a property lookup each, a row.
        this.sql.insertMessage.run(
          queue.tenantId,
          queue.id,
          draft.id,
          draft.body,
          JSON.stringify(draft.attributes),
          draft.priority,
          draft.groupId,
          sequence,
          draft.dedupKey,
          draft.visibleAt.getTime(),
          draft.enqueuedAt.getTime(),
          draft.expiresAt.getTime(),
        );
        if (draft.groupId !== null) this.sql.touchGroup.run(queue.id, draft.groupId);
        const message = enqueuedMessage(queue, draft, sequence++);
        this.writes.record(message);
        results.push({ duplicate: false, message });
      }
      if (duplicates > 0) this.sql.uncountDuplicates.run({ n: duplicates, queue: queue.id });
      return results;
    }
  }

  /** Runs `work` in the next group's write transaction; answered once it is committed (a store sharing this file). */
  write<T>(work: () => T): Promise<T> {
    return this.writes.run(work);
  }

  /** The database file, for a store that shares it (src/adapters/sqlite/topics.ts); it writes only through `write`. */
  get database(): Database {
    return this.db;
  }

  /** Reserves `count` consecutive sequence numbers for the queue and returns the first. */
  private takeSequences(queueId: string, count: number): number {
    const { next_sequence: next } = this.sql.takeSequences.get(count, queueId) as { next_sequence: number };
    return next - count;
  }

  receive(queue: Queue, request: ReceiveRequest): Promise<Received> {
    return this.writes.run(() =>
      queue.ordering === "fifo" ? this.receiveFifo(queue, request) : this.receiveStandard(queue, request),
    );
  }

  private receiveStandard(queue: Queue, request: ReceiveRequest): Received {
    const received: Received = { delivered: [], deadLettered: [] };
    const now = request.now.getTime();
    // Dead-lettered candidates do not count against `max`, so take another look while they turn up.
    for (let pass = 0; pass < 10 && received.delivered.length < request.max; pass++) {
      const want = request.max - received.delivered.length;
      const rows = this.sql.standardCandidates.all(queue.id, now, want) as MessageRow[];
      for (const row of rows) this.applyReceive(queue, row, request, received);
      if (rows.length < want) break;
    }
    return received;
  }

  private receiveFifo(queue: Queue, request: ReceiveRequest): Received {
    const received: Received = { delivered: [], deadLettered: [] };
    const groups = this.sql.groupsByService.all(queue.id) as { group_id: string }[];
    for (const { group_id: groupId } of groups) {
      const want = request.max - received.delivered.length;
      if (want <= 0) break;
      const head = this.sql.groupHead.all(queue.id, groupId, want + 16) as MessageRow[];
      if (head.length === 0) {
        this.sql.deleteGroup.run(queue.id, groupId);
        continue;
      }
      const before = received.delivered.length;
      const run = fifoRun(head.map(toMessage), request.now, head.length);
      for (const row of head.slice(0, run.length)) {
        if (received.delivered.length >= request.max) break;
        this.applyReceive(queue, row, request, received);
      }
      if (received.delivered.length > before)
        this.sql.serveGroup.run(request.now.getTime(), queue.id, groupId);
    }
    return received;
  }

  private applyReceive(queue: Queue, row: MessageRow, request: ReceiveRequest, into: Received): void {
    const message = toMessage(row);
    const transition = onReceive(
      message,
      queue,
      request.now,
      request.visibilityTimeoutSeconds,
      newLeaseToken(),
    );
    const after = this.apply(queue, message, transition);
    if (transition.kind === "lease") into.delivered.push(after);
    else into.deadLettered.push(after);
  }

  settle(queue: Queue, settlements: Settlement[]): Promise<Result<Message>[]> {
    return this.writes.run(() =>
      settlements.map(({ messageId, decide }) => {
        const row = this.sql.messageById.get(queue.id, messageId, queue.tenantId) as MessageRow | undefined;
        if (!row) return fail("message_not_found", `no message "${messageId}" in this queue`);
        const message = toMessage(row);
        const decision = decide(message);
        if (!decision.ok) return decision;
        return ok(decision.value ? this.apply(queue, message, decision.value) : message);
      }),
    );
  }

  /** Writes a domain transition and records the change; callers run inside a write transaction. */
  private apply(queue: Queue, message: Message, transition: Transition): Message {
    const next = this.writeTransition(queue, message, transition);
    this.writes.record(next);
    return next;
  }

  private writeTransition(queue: Queue, message: Message, transition: Transition): Message {
    switch (transition.kind) {
      case "lease": {
        const next = {
          ...message,
          leaseToken: transition.leaseToken,
          visibleAt: transition.visibleAt,
          leaseExpiresAt: transition.leaseExpiresAt,
          deliveryCount: transition.deliveryCount,
        };
        this.sql.lease.run({
          token: next.leaseToken,
          until: next.visibleAt.getTime(),
          count: next.deliveryCount,
          queue: queue.id,
          id: message.id,
        });
        return next;
      }
      case "deadLetter": {
        const next: Message = {
          ...message,
          state: "dead",
          reason: transition.reason,
          lastError: transition.lastError,
          deadLetteredAt: transition.at,
          leaseToken: null,
          leaseExpiresAt: null,
        };
        this.sql.deadLetter.run(next.reason, next.lastError, transition.at.getTime(), queue.id, message.id);
        this.sql.countDeadLettered.run(queue.id);
        return next;
      }
      case "ack": {
        const next: Message = { ...message, state: "acked", ackedAt: transition.at };
        const removeAt = tombstoneExpiresAt(message, queue, transition.at);
        this.sql.ack.run(transition.at.getTime(), removeAt.getTime(), queue.id, message.id);
        this.sql.countAcked.run(queue.id);
        return next;
      }
      case "release": {
        const next: Message = {
          ...message,
          visibleAt: transition.visibleAt,
          leaseToken: null,
          leaseExpiresAt: null,
          lastError: transition.lastError,
        };
        this.sql.release.run(next.visibleAt.getTime(), next.lastError, queue.id, message.id);
        return next;
      }
      case "extend": {
        const next: Message = {
          ...message,
          visibleAt: transition.visibleAt,
          leaseExpiresAt: transition.leaseExpiresAt,
        };
        this.sql.extend.run({ until: next.visibleAt.getTime(), queue: queue.id, id: message.id });
        return next;
      }
    }
  }

  async getMessage(queue: Queue, messageId: string): Promise<Message | undefined> {
    const row = this.sql.messageById.get(queue.id, messageId, queue.tenantId) as MessageRow | undefined;
    return row && toMessage(row);
  }

  purge(queue: Queue): Promise<number> {
    return this.writes.run(() => {
      const { changes } = this.sql.purgeReady.run(queue.id, queue.tenantId);
      this.sql.deleteGroupsOfQueue.run(queue.id);
      return changes;
    });
  }

  async nextVisibleAt(queue: Queue, now: Date): Promise<Date | undefined> {
    const row = this.sql.nextVisible.get(queue.id, now.getTime()) as { at: number | null };
    return row.at === null ? undefined : new Date(row.at);
  }

  // Dead letters

  async listDeadLetters(queue: Queue, page: PageRequest): Promise<Result<Page<Message>>> {
    const after = decodeCursor(page.cursor, 2);
    if (!after.ok) return after;
    const [at, id] = after.value ?? [-1, ""];
    const rows = this.sql.deadLetters.all(
      queue.id,
      queue.tenantId,
      at,
      at,
      id,
      page.limit + 1,
    ) as MessageRow[];
    return ok(
      pageOf(rows.map(toMessage), page.limit, (message) => [
        message.deadLetteredAt?.getTime() ?? 0,
        message.id,
      ]),
    );
  }

  recordSample(queue: Queue, sample: StatsSample): Promise<void> {
    const { at, ...stats } = sample;
    return this.writes.run(() => {
      this.sql.insertSample.run(queue.id, at.getTime(), queue.tenantId, JSON.stringify(stats));
      this.sql.forgetSamples.run(queue.id, at.getTime() - SAMPLE_RETENTION_MS);
    });
  }

  async samples(queue: Queue, since: Date): Promise<StatsSample[]> {
    const rows = this.sql.samplesSince.all(queue.id, queue.tenantId, since.getTime()) as {
      at: number;
      stats: string;
    }[];
    return rows.map((row) => ({ at: new Date(row.at), ...(JSON.parse(row.stats) as QueueStats) }));
  }

  async listMessages(
    queue: Queue,
    view: Availability,
    now: Date,
    page: PageRequest,
  ): Promise<Result<Page<Message>>> {
    const after = decodeCursor(page.cursor, 1);
    if (!after.ok) return after;
    const [id] = after.value ?? [""];
    const rows = this.sql.browse[view].all({
      queue: queue.id,
      tenant: queue.tenantId,
      after: id,
      now: now.getTime(),
      limit: page.limit + 1,
    }) as MessageRow[];
    return ok(pageOf(rows.map(toMessage), page.limit, (message) => [message.id]));
  }

  redrive(
    queue: Queue,
    selection: RedriveSelection,
    now: Date,
  ): Promise<{ redriven: number; remaining: number }> {
    return this.writes.run(() => {
      const rows =
        "all" in selection
          ? (this.sql.oldestDeadLetters.all(queue.id, selection.limit) as MessageRow[])
          : selection.messageIds
              .map((id) => this.sql.messageById.get(queue.id, id, queue.tenantId) as MessageRow | undefined)
              .filter((row): row is MessageRow => row?.state === "dead");
      this.redriveRows(queue, rows, now);
      const remaining = "all" in selection ? (this.sql.countDead.get(queue.id) as { n: number }).n : 0;
      return { redriven: rows.length, remaining };
    });
  }

  /** Runs inside a write transaction. */
  private redriveRows(queue: Queue, rows: MessageRow[], now: Date): void {
    let sequence = this.takeSequences(queue.id, rows.length);
    for (const row of rows) {
      const revived = { ...redrivenMessage(toMessage(row), queue, now), sequence: sequence++ };
      this.sql.redrive.run(revived.sequence, now.getTime(), revived.expiresAt.getTime(), queue.id, row.id);
      if (row.group_id !== null) this.sql.touchGroup.run(queue.id, row.group_id);
      this.writes.record(revived);
    }
    this.sql.countRedriven.run(rows.length, queue.id);
  }

  purgeDeadLetters(queue: Queue): Promise<number> {
    return this.writes.run(() => this.sql.purgeDead.run(queue.id, queue.tenantId).changes);
  }

  // Redrive tasks: one write transaction a chunk, so the moves and the progress commit together.

  createRedriveTask(queue: Queue, id: string, claim: RedriveTaskClaim): Promise<RedriveTaskRecord> {
    return this.writes.run(() => {
      this.sql.forgetFinishedTasks.run(claim.now.getTime() - FINISHED_TASK_RETENTION_SECONDS * 1000);
      // Every message of the queue has a sequence below the next one, and every redrive takes a new one above it.
      const { next_sequence: cutoff } = this.sql.nextSequence.get(queue.id) as { next_sequence: number };
      const { n: remaining } = this.sql.countDead.get(queue.id) as { n: number };
      const row: TaskRow = {
        id,
        tenant_id: queue.tenantId,
        queue_id: queue.id,
        status: "running",
        redriven: 0,
        remaining,
        cutoff,
        owner: claim.owner,
        lease_expires_at: claim.leaseExpiresAt.getTime(),
        error: null,
        created_at: claim.now.getTime(),
        updated_at: claim.now.getTime(),
      };
      this.sql.insertTask.run(row);
      return toTask(row);
    });
  }

  async getRedriveTask(queue: Queue, id: string): Promise<RedriveTaskRecord | undefined> {
    const row = this.sql.taskById.get(id, queue.id, queue.tenantId) as TaskRow | undefined;
    return row && toTask(row);
  }

  advanceRedriveTask(
    queue: Queue,
    id: string,
    claim: RedriveTaskClaim,
    limit: number,
  ): Promise<RedriveTaskRecord | undefined> {
    return this.writes.run(() => {
      const task = this.sql.taskById.get(id, queue.id, queue.tenantId) as TaskRow | undefined;
      if (task?.status !== "running") return undefined;
      if (task.owner !== claim.owner && task.lease_expires_at > claim.now.getTime()) return undefined;
      const rows = this.sql.deadLettersBelow.all(queue.id, task.cutoff, limit) as MessageRow[];
      this.redriveRows(queue, rows, claim.now);
      const next: TaskRow = {
        ...task,
        ...redriveProgress(task, rows.length, rows.length < limit),
        owner: claim.owner,
        lease_expires_at: claim.leaseExpiresAt.getTime(),
        updated_at: claim.now.getTime(),
      };
      this.sql.updateTask.run(next);
      return toTask(next);
    });
  }

  failRedriveTask(queue: Queue, id: string, owner: string, error: string, now: Date): Promise<void> {
    return this.writes.run(() => {
      this.sql.failTask.run(error, now.getTime(), id, queue.id, owner);
    });
  }

  async orphanedRedriveTasks(now: Date, limit: number): Promise<RedriveTaskRecord[]> {
    return (this.sql.orphanedTasks.all(now.getTime(), limit) as TaskRow[]).map(toTask);
  }

  // Stats and housekeeping

  async stats(queue: Queue, now: Date): Promise<QueueStats> {
    const at = now.getTime();
    const invisible = this.sql.invisibleCounts.get(queue.id, at) as {
      invisible: number;
      in_flight: number | null;
    };
    const oldest = this.sql.oldestNextInLine.get({ queue: queue.id, now: at }) as {
      enqueued_at: number | null;
    };
    const totals = this.sql.totals.get(queue.id) as {
      ready_count: number;
      enqueued_total: number;
      acked_total: number;
      dead_lettered_total: number;
      redriven_total: number;
    };
    const dead = this.sql.countDead.get(queue.id) as { n: number };
    const inFlight = invisible.in_flight ?? 0;
    return {
      available: totals.ready_count - invisible.invisible,
      delayed: invisible.invisible - inFlight,
      inFlight,
      deadLettered: dead.n,
      oldestAvailableAgeSeconds:
        oldest.enqueued_at === null ? 0 : Math.max(0, Math.floor((at - oldest.enqueued_at) / 1000)),
      enqueuedTotal: totals.enqueued_total,
      ackedTotal: totals.acked_total,
      deadLetteredTotal: totals.dead_lettered_total,
      redrivenTotal: totals.redriven_total,
    };
  }

  /**
   * In writes of 500 rows, each waiting its turn among the requests: one
   * 10,000-row delete held the event loop for about a tenth of a second.
   */
  async removeExpiredTombstones(now: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const chunk = await this.writes.run(
        () => this.sql.removeTombstones.run(now.getTime(), TOMBSTONES_A_WRITE).changes,
      );
      removed += chunk;
      if (chunk < TOMBSTONES_A_WRITE) return removed;
    }
  }

  async listPushQueues(): Promise<Queue[]> {
    return (this.sql.pushQueues.all() as QueueRow[]).map(toQueue);
  }

  async getQueueById(tenantId: string, queueId: string): Promise<Queue | undefined> {
    const key = `${tenantId}\u0000#${queueId}`;
    const cached = this.queueCache.get(key);
    if (cached) return cached;
    const row = this.sql.queueById.get(queueId, tenantId) as QueueRow | undefined;
    return row && this.remember(key, toQueue(row));
  }

  async countInFlight(queue: Queue, now: Date): Promise<number> {
    return (this.sql.countInFlight.get(queue.id, now.getTime()) as { n: number }).n;
  }

  async dueMessages(queue: Queue, now: Date, limit: number): Promise<Message[]> {
    return (this.sql.standardCandidates.all(queue.id, now.getTime(), limit) as MessageRow[]).map(toMessage);
  }

  // API keys

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

  async listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>> {
    const after = decodeCursor(page.cursor, 2);
    if (!after.ok) return after;
    const [at, id] = after.value ?? [-1, ""];
    const rows = this.sql.listKeys.all(tenantId, at, at, id, page.limit + 1) as KeyRow[];
    return ok(pageOf(rows.map(toKey), page.limit, (key) => [key.createdAt.getTime(), key.id]));
  }

  deleteKey(tenantId: string, id: string): Promise<boolean> {
    return this.writes.run(() => this.sql.deleteKey.run(id, tenantId).changes > 0);
  }
}

function prepareStatements(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    queueByName: q("SELECT * FROM queues WHERE tenant_id = ? AND name = ?"),
    insertQueue: q(
      "INSERT INTO queues (id, tenant_id, name, ordering, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    listQueues: q("SELECT * FROM queues WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?"),
    updateQueue: q("UPDATE queues SET settings = ?, updated_at = ? WHERE id = ? AND tenant_id = ?"),
    deleteQueue: q("DELETE FROM queues WHERE id = ? AND tenant_id = ?"),
    deleteMessagesOfQueue: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ?"),
    deleteGroupsOfQueue: q("DELETE FROM fifo_groups WHERE queue_id = ?"),
    takeSequences: q(
      "UPDATE queues SET next_sequence = next_sequence + ? WHERE id = ? RETURNING next_sequence",
    ),
    reserveForEnqueue: q(
      `UPDATE queues SET next_sequence = next_sequence + @n, enqueued_total = enqueued_total + @n,
         ready_count = ready_count + @n WHERE id = @queue RETURNING next_sequence`,
    ),
    uncountDuplicates: q(
      "UPDATE queues SET enqueued_total = enqueued_total - @n, ready_count = ready_count - @n WHERE id = @queue",
    ),
    countAcked: q("UPDATE queues SET acked_total = acked_total + 1 WHERE id = ?"),
    countDeadLettered: q("UPDATE queues SET dead_lettered_total = dead_lettered_total + 1 WHERE id = ?"),
    countRedriven: q("UPDATE queues SET redriven_total = redriven_total + ? WHERE id = ?"),
    totals: q(
      "SELECT ready_count, enqueued_total, acked_total, dead_lettered_total, redriven_total FROM queues WHERE id = ?",
    ),
    latestByDedupKey: q(
      "SELECT * FROM messages WHERE queue_id = ? AND dedup_key = ? ORDER BY enqueued_at DESC LIMIT 1",
    ),
    insertMessage: q(
      `INSERT INTO messages (tenant_id, queue_id, id, body, attributes, priority, group_id, sequence, dedup_key,
         state, visible_at, enqueued_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?)`,
    ),
    touchGroup: q("INSERT OR IGNORE INTO fifo_groups (queue_id, group_id) VALUES (?, ?)"),
    standardCandidates: q(
      `SELECT * FROM messages INDEXED BY messages_standard_order
       WHERE queue_id = ? AND state = 'ready' AND visible_at <= ?
       ORDER BY priority DESC, sequence LIMIT ?`,
    ),
    groupsByService: q("SELECT group_id FROM fifo_groups WHERE queue_id = ? ORDER BY served_at, group_id"),
    groupHead: q(
      `SELECT * FROM messages INDEXED BY messages_fifo_order
       WHERE queue_id = ? AND state = 'ready' AND group_id IS NOT NULL AND group_id = ? ORDER BY sequence LIMIT ?`,
    ),
    deleteGroup: q("DELETE FROM fifo_groups WHERE queue_id = ? AND group_id = ?"),
    serveGroup: q("UPDATE fifo_groups SET served_at = ? WHERE queue_id = ? AND group_id = ?"),
    messageById: q("SELECT * FROM messages WHERE queue_id = ? AND id = ? AND tenant_id = ?"),
    lease: q(
      `UPDATE messages SET lease_token = @token, visible_at = @until, lease_expires_at = @until, delivery_count = @count
       WHERE queue_id = @queue AND id = @id`,
    ),
    deadLetter: q(
      `UPDATE messages SET state = 'dead', reason = ?, last_error = ?, dead_lettered_at = ?,
         lease_token = NULL, lease_expires_at = NULL
       WHERE queue_id = ? AND id = ?`,
    ),
    ack: q("UPDATE messages SET state = 'acked', acked_at = ?, remove_at = ? WHERE queue_id = ? AND id = ?"),
    release: q(
      `UPDATE messages SET visible_at = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL
       WHERE queue_id = ? AND id = ?`,
    ),
    extend: q(
      "UPDATE messages SET visible_at = @until, lease_expires_at = @until WHERE queue_id = @queue AND id = @id",
    ),
    purgeReady: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ? AND state = 'ready'"),
    nextVisible: q(
      "SELECT MIN(visible_at) AS at FROM messages WHERE queue_id = ? AND state = 'ready' AND visible_at > ?",
    ),
    deadLetters: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND tenant_id = ? AND state = 'dead'
         AND (dead_lettered_at > ? OR (dead_lettered_at = ? AND id > ?))
       ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    insertSample: q(
      "INSERT OR REPLACE INTO queue_samples (queue_id, at, tenant_id, stats) VALUES (?, ?, ?, ?)",
    ),
    forgetSamples: q("DELETE FROM queue_samples WHERE queue_id = ? AND at < ?"),
    samplesSince: q(
      "SELECT at, stats FROM queue_samples WHERE queue_id = ? AND tenant_id = ? AND at >= ? ORDER BY at",
    ),
    deleteSamplesOfQueue: q("DELETE FROM queue_samples WHERE queue_id = ?"),
    // The explorer's views of ready messages at @now; it is for looking, not a hot path.
    browse: {
      available: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND visible_at <= @now ORDER BY id LIMIT @limit`,
      ),
      delayed: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND visible_at > @now AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
         ORDER BY id LIMIT @limit`,
      ),
      inFlight: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND lease_expires_at > @now ORDER BY id LIMIT @limit`,
      ),
    },
    oldestDeadLetters: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND state = 'dead' ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    redrive: q(
      `UPDATE messages SET state = 'ready', sequence = ?, visible_at = ?, expires_at = ?, delivery_count = 0,
         lease_token = NULL, lease_expires_at = NULL, reason = NULL, dead_lettered_at = NULL
       WHERE queue_id = ? AND id = ?`,
    ),
    countDead: q("SELECT COUNT(*) AS n FROM messages WHERE queue_id = ? AND state = 'dead'"),
    deadLettersBelow: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND state = 'dead' AND sequence < ? ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    nextSequence: q("SELECT next_sequence FROM queues WHERE id = ?"),
    insertTask: q(
      `INSERT INTO redrive_tasks (id, tenant_id, queue_id, status, redriven, remaining, cutoff, owner,
         lease_expires_at, error, created_at, updated_at)
       VALUES (@id, @tenant_id, @queue_id, @status, @redriven, @remaining, @cutoff, @owner,
         @lease_expires_at, @error, @created_at, @updated_at)`,
    ),
    taskById: q("SELECT * FROM redrive_tasks WHERE id = ? AND queue_id = ? AND tenant_id = ?"),
    updateTask: q(
      `UPDATE redrive_tasks SET status = @status, redriven = @redriven, remaining = @remaining, owner = @owner,
         lease_expires_at = @lease_expires_at, updated_at = @updated_at
       WHERE id = @id AND queue_id = @queue_id AND tenant_id = @tenant_id`,
    ),
    failTask: q(
      `UPDATE redrive_tasks SET status = 'failed', error = ?, updated_at = ?
       WHERE id = ? AND queue_id = ? AND owner = ? AND status = 'running'`,
    ),
    orphanedTasks: q(
      `SELECT * FROM redrive_tasks INDEXED BY redrive_tasks_running
       WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?`,
    ),
    forgetFinishedTasks: q(
      "DELETE FROM redrive_tasks INDEXED BY redrive_tasks_finished WHERE status <> 'running' AND updated_at < ?",
    ),
    deleteTasksOfQueue: q("DELETE FROM redrive_tasks WHERE queue_id = ?"),
    purgeDead: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ? AND state = 'dead'"),
    // Only rows not visible yet: in flight or delayed, covered by messages_by_visibility.
    // Its condition is restated for the planner; every invisible row meets it,
    // since visible_at > now >= enqueued_at for any row without a lease.
    invisibleCounts: q(
      `SELECT COUNT(*) AS invisible, SUM(lease_token IS NOT NULL) AS in_flight
       FROM messages INDEXED BY messages_by_visibility
       WHERE queue_id = ? AND state = 'ready' AND (lease_token IS NOT NULL OR visible_at > enqueued_at)
         AND visible_at > ?`,
    ),
    // The oldest of the messages next in line, one per priority: a walk down
    // the delivery-order index that stops at the first visible message.
    oldestNextInLine: q(
      `SELECT MIN((SELECT enqueued_at FROM messages INDEXED BY messages_standard_order
                   WHERE queue_id = @queue AND state = 'ready' AND priority = level.value AND visible_at <= @now
                   ORDER BY priority DESC, sequence LIMIT 1)) AS enqueued_at
       FROM json_each('${JSON.stringify(PRIORITY_LEVELS)}') AS level`,
    ),
    removeTombstones: q(
      `DELETE FROM messages WHERE pk IN (
         SELECT pk FROM messages INDEXED BY messages_tombstones WHERE state = 'acked' AND remove_at <= ? LIMIT ?)`,
    ),
    pushQueues: q("SELECT * FROM queues WHERE json_extract(settings, '$.push') IS NOT NULL"),
    queueById: q("SELECT * FROM queues WHERE id = ? AND tenant_id = ?"),
    countInFlight: q(
      `SELECT COUNT(*) AS n FROM messages
       WHERE queue_id = ? AND state = 'ready' AND lease_token IS NOT NULL AND visible_at > ?`,
    ),
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
