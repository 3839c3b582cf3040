import type { DraftMessage } from "../domain/enqueue.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Availability, Message } from "../domain/message.js";
import type { Grant, Queue } from "../domain/queue.js";
import type { TotalsDelta } from "../domain/transition.js";

/** The ports the service layer needs; adapters under `src/adapters/` implement them. */

export interface Clock {
  now(): Date;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** Opaque page cursors: base64url JSON of the sort key of the last item on the page. */
export const encodeCursor = (key: readonly (string | number)[]): string =>
  Buffer.from(JSON.stringify(key)).toString("base64url");

export function decodeCursor(
  cursor: string | undefined,
  arity: number,
): Result<(string | number)[] | undefined> {
  if (cursor === undefined) return ok(undefined);
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(key) &&
      key.length === arity &&
      key.every((part) => typeof part === "string" || typeof part === "number")
    ) {
      return ok(key);
    }
  } catch {
    // fall through to the validation failure below
  }
  return fail("validation_failed", "the cursor is not one this server issued", {
    errors: [{ path: "cursor", message: "malformed cursor" }],
  });
}

/** A page from `limit + 1` rows: the extra row only tells that there is a next page. */
export function pageOf<T>(
  rows: T[],
  limit: number,
  keyOf: (item: T) => readonly (string | number)[],
): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1] as T)) };
}

export interface Enqueued {
  message: Message;
  /** True when a message with the same dedup key was enqueued inside the window: `message` is that original. */
  duplicate: boolean;
}

/** A message as stored, with the compare-and-set token of that version. */
export interface StoredMessage {
  message: Message;
  /** Opaque: SQLite's row version, Cosmos DB's `_etag`. */
  version: string;
}

/** One message's change, decided by the service (`domain/transition.ts`), for the store to persist. */
export interface MessageWrite {
  /** The version the change was decided on: the write happens only if the message is still at it. */
  version: string;
  next: Message;
  /** Added to the queue's counters in the same write. */
  totals: TotalsDelta;
  /** A receive opened a delivery of the message's fifo group at this time (fair group service). */
  servedGroupAt?: Date;
  /**
   * A lease, let go (`"throttled"`) rather than sent again after a throttled
   * store's wait: by then another instance has likely leased the message,
   * and the write would only lose a compare-and-set (docs/performance.md,
   * "Leases that give way to throttling"). What is let go stays visible.
   */
  yieldsToThrottling?: boolean;
}

/**
 * What became of one write: made; lost (the stored message moved on, or is
 * gone; nothing of it applied); or let go because the store was throttling
 * (only a write that `yieldsToThrottling`, and nothing of it applied).
 */
export type WriteOutcome = "written" | "lost" | "throttled";

export type RedriveSelection = { messageIds: string[] } | { all: true; limit: number };

/**
 * A background redrive of a queue's dead letters (an `all` redrive with more
 * than one chunk), kept in the store so that any instance can report it and
 * finish it. `cutoff` is its cursor: the task redrives only dead letters with
 * a sequence below it, and every message it redrives gets a sequence at or
 * above it, so no message is moved twice however often a chunk is repeated.
 */
export interface RedriveTaskRecord {
  id: string;
  tenantId: string;
  queueId: string;
  status: "running" | "done" | "failed";
  redriven: number;
  remaining: number;
  cutoff: number;
  /** The instance working on it; another may take it over once `leaseExpiresAt` has passed. */
  owner: string;
  leaseExpiresAt: Date;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** How long a finished (done or failed) task stays readable before the store forgets it. */
export const FINISHED_TASK_RETENTION_SECONDS = 7 * 86_400;

/** Who claims a task, and until when (renewed with every chunk). */
export interface RedriveTaskClaim {
  owner: string;
  now: Date;
  leaseExpiresAt: Date;
}

export interface QueueStats {
  available: number;
  delayed: number;
  inFlight: number;
  deadLettered: number;
  oldestAvailableAgeSeconds: number;
  enqueuedTotal: number;
  ackedTotal: number;
  deadLetteredTotal: number;
  redrivenTotal: number;
}

/** A queue's stats at one moment: the per-queue history the console charts, kept by the store. */
export interface StatsSample extends QueueStats {
  at: Date;
}

/** How long a queue's stats history is kept. */
export const SAMPLE_RETENTION_MS = 60 * 60 * 1000;

/**
 * The durable home of queues and messages. Every call is scoped by the
 * queue's tenant; an adapter never reads across tenants. Each method is
 * atomic on its own; the contract suite in `test/store/contract.ts` states
 * the behaviour every adapter must show. Stores persist what the service
 * decided: the receive and settle loops live in `receive.ts` and `settle.ts`.
 */
export interface QueueStore {
  readonly kind: "sqlite" | "cosmos";
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Whether an error this store threw means "unavailable, retry" (503) rather than a bug (500). */
  isUnavailable(error: unknown): boolean;

  /** Fails with `conflict` when the tenant already has a queue of that name. */
  createQueue(queue: Queue): Promise<Result<Queue>>;
  getQueue(tenantId: string, name: string): Promise<Queue | undefined>;
  /** A malformed cursor fails with `validation_failed`. */
  listQueues(tenantId: string, page: PageRequest): Promise<Result<Page<Queue>>>;
  updateQueue(queue: Queue): Promise<void>;
  /** Removes the queue with its messages and dead letters. */
  deleteQueue(queue: Queue): Promise<void>;

  /**
   * Each message is new or, by its dedup key inside the window, the duplicate
   * of an earlier one in the same partition (`domain/partition.ts`, from its id).
   */
  enqueue(queue: Queue, messages: DraftMessage[]): Promise<Enqueued[]>;
  /**
   * Ready messages of one partition that a receive may lease at `now`, in
   * delivery order (`domain/ordering.ts`), at most `limit`: on standard queues
   * the visible ones by priority, then sequence; on fifo queues, for each group
   * in service order (least recently served first), its deliverable run.
   */
  candidates(queue: Queue, partition: number, now: Date, limit: number): Promise<StoredMessage[]>;
  /** A message by id (its partition is in the id), with its version. */
  readMessage(queue: Queue, messageId: string): Promise<StoredMessage | undefined>;
  /**
   * Persists each change compare-and-set on its version, one outcome per
   * write in order. Each write's totals are applied with it. A store that
   * would let go every write of the call (all throttled) throws its
   * overloaded error instead, as for any request past its retry budget.
   */
  write(queue: Queue, writes: MessageWrite[]): Promise<WriteOutcome[]>;
  getMessage(queue: Queue, messageId: string): Promise<Message | undefined>;
  /** Deletes every ready message (available, delayed or in flight); returns how many. */
  purge(queue: Queue): Promise<number>;
  /** The earliest future `visibleAt` of a ready message, so a long poll can wake when it is due. */
  nextVisibleAt(queue: Queue, now: Date): Promise<Date | undefined>;

  listDeadLetters(queue: Queue, page: PageRequest): Promise<Result<Page<Message>>>;
  /** Keeps a snapshot of the queue's stats for the history charts draw; the store forgets it after `SAMPLE_RETENTION_MS`. */
  recordSample(queue: Queue, sample: StatsSample): Promise<void>;
  /** The queue's snapshots taken at or after `since`, oldest first. */
  samples(queue: Queue, since: Date): Promise<StatsSample[]>;
  /** Messages not yet settled in one view of their state at `now`, in id (arrival) order; nothing is leased. */
  listMessages(
    queue: Queue,
    view: Availability,
    now: Date,
    page: PageRequest,
  ): Promise<Result<Page<Message>>>;
  /** Returns dead letters to the queue (deliveryCount 0, visible now); `remaining` counts what is left for `all`. */
  redrive(
    queue: Queue,
    selection: RedriveSelection,
    now: Date,
  ): Promise<{ redriven: number; remaining: number }>;
  purgeDeadLetters(queue: Queue): Promise<number>;

  /** Starts a running task over every dead letter the queue holds now, claimed by `claim.owner`. */
  createRedriveTask(queue: Queue, id: string, claim: RedriveTaskClaim): Promise<RedriveTaskRecord>;
  getRedriveTask(queue: Queue, id: string): Promise<RedriveTaskRecord | undefined>;
  /**
   * Redrives the task's next `limit` dead letters and records the progress,
   * when the task is running and `claim.owner` holds it or its lease has
   * expired (the claim is a compare-and-set on the task). Undefined when
   * another owner holds it or it is not running. Done once a chunk comes back
   * short: what was dead-lettered before the task began has all been redriven.
   */
  advanceRedriveTask(
    queue: Queue,
    id: string,
    claim: RedriveTaskClaim,
    limit: number,
  ): Promise<RedriveTaskRecord | undefined>;
  /** Marks a running task failed, if `owner` still holds it. */
  failRedriveTask(queue: Queue, id: string, owner: string, error: string, now: Date): Promise<void>;
  /** Running tasks whose lease has expired, across tenants: only for the resume trigger, never for a request. */
  orphanedRedriveTasks(now: Date, limit: number): Promise<RedriveTaskRecord[]>;

  stats(queue: Queue, now: Date): Promise<QueueStats>;
  /** Removes acked tombstones whose dedup window has passed; returns how many. */
  removeExpiredTombstones(now: Date): Promise<number>;
  /** Every queue with push delivery, across tenants: only for the push safety net, never for a request. */
  listPushQueues(): Promise<Queue[]>;
  /** A queue by its id (change feeds and push jobs carry ids, not names). */
  getQueueById(tenantId: string, queueId: string): Promise<Queue | undefined>;
  /** Messages of the queue that are leased right now (push concurrency). */
  countInFlight(queue: Queue, now: Date): Promise<number>;
  /** Ready messages due by `now` and not leased, oldest first: what the push safety net makes sure has a job. */
  dueMessages(queue: Queue, now: Date, limit: number): Promise<Message[]>;
}

/** One push delivery attempt to make at `dueAt`. */
export interface PushJob {
  tenantId: string;
  queueId: string;
  messageId: string;
  /** The message's delivery count when the job was scheduled; with the id, it names the attempt. */
  deliveryCount: number;
  dueAt: Date;
}

/**
 * A job's identity: the message, its delivery count and the due time.
 * Scheduling the same job twice (a change seen twice, a redelivered job
 * deferred again) yields the same id, which both dispatchers drop. Service
 * Bus drops a repeated id for the whole duplicate-detection window (1 h
 * here), even after the first job ran, so a job that must run again gets a
 * new due time: see `deferral` in push.ts and the safety net in changes.ts.
 */
export const pushJobId = (job: PushJob): string =>
  `${job.messageId}:${job.deliveryCount}:${job.dueAt.getTime()}`;

/**
 * Schedules push jobs: Service Bus on Azure (scheduled messages, duplicate
 * detection on the attempt's id), a SQLite table on the local host. Scheduling
 * the same attempt twice is harmless.
 */
export interface Dispatcher {
  schedule(jobs: PushJob[]): Promise<void>;
}

/** Queue metrics: custom metrics in Application Insights on Azure, the log locally. */
export interface MetricsSink {
  track(name: string, value: number, dimensions: Record<string, string>): void;
}

/** Live queue events for dashboards: Server-Sent Events locally, Web PubSub on Azure. */
export interface QueueEvent {
  /** `topic.published`: a topic's copy reached (or was refused by) this queue, with its subscription's counters. */
  type: "message.dead_lettered" | "queue.stats" | "queue.backlog" | "topic.published" | "topic.stats";
  tenantId: string;
  queueId: string;
  data: Record<string, unknown>;
}

export interface EventSink {
  publish(event: QueueEvent): void;
}

/** Where a dashboard connects for a queue's live events. */
export interface LiveEventsConnection {
  transport: "sse" | "webpubsub";
  url: string;
}

/**
 * Live events as the API serves them: the local host streams them itself
 * (Server-Sent Events); on Azure, Web PubSub carries them and the API only
 * hands out a connection.
 */
export interface LiveEvents extends EventSink {
  /** Present where this host streams events itself. */
  subscribe?: (tenantId: string, queueId: string, listener: (event: QueueEvent) => void) => () => void;
  negotiate(tenantId: string, queueId: string, streamPath: string): Promise<LiveEventsConnection>;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  /** A keyed hash (HMAC with the pepper) of the secret part; the secret itself is never stored. */
  secretHash: string;
  roles: string[];
  grants: Record<string, Grant[]>;
  createdAt: Date;
}

export interface KeyStore {
  createKey(record: ApiKeyRecord): Promise<void>;
  /** Looks a key up by id across tenants: the id comes from the presented key, the tenant from the record. */
  findKey(id: string): Promise<ApiKeyRecord | undefined>;
  listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>>;
  /** Returns false when the tenant has no such key. */
  deleteKey(tenantId: string, id: string): Promise<boolean>;
}

/** Where the service's secrets come from: Key Vault on Azure, the data directory locally. */
export interface SecretSource {
  /** The key API-key secrets are hashed with; never stored beside the hashes. */
  apiKeyPepper(): Promise<Buffer>;
  /** The master secret every push queue's signing secret is derived from. */
  pushSigningMaster(): Promise<Buffer>;
}

/** A file of the built web console, as the API serves it. */
export interface StaticFile {
  body: Buffer;
  contentType: string;
  /** Content-hashed names can be cached for good. */
  immutable: boolean;
}

/** Reads a console file by its path below the console's root; undefined when there is none. */
export type ReadStaticFile = (path: string) => StaticFile | undefined;

/** Resolves a host name to every address it has (push URL checks). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Whether private and loopback targets are allowed (a local host started with CONVEYOR_ALLOW_PRIVATE_PUSH). */
  allowPrivate: boolean;
}

export type WebhookOutcome = { kind: "response"; status: number } | { kind: "failed"; error: string };

/** POSTs one webhook; never follows redirects, and refuses any address the SSRF rule refuses. */
export type SendWebhook = (request: WebhookRequest) => Promise<WebhookOutcome>;

/** Wakes long polls when a queue may have become receivable (an enqueue, a nack, a redrive). */
export interface QueueSignals {
  /** Wakes the queue's waiters; with `available`, no more of them than that many messages can serve. */
  notify(queueId: string, available?: number): void;
  /** Resolves on the next notify for the queue, or when `signal` aborts. */
  wait(queueId: string, signal: AbortSignal): Promise<void>;
}

/**
 * Committed changes to messages as a store streams them, in commit order,
 * each message as it is after the change: what feeds the change handler
 * (`changes.ts`). The SQLite store is one on the local host; on Azure the
 * Cosmos DB change feed trigger (src/functions/message-changes.ts) hands its
 * batches to the handler instead, so a Cosmos store has none of its own.
 */
export interface ChangeSource {
  /** Calls `listener` after each commit; returns what stops it. */
  onCommittedChanges(listener: (changes: Message[]) => void): () => void;
}
