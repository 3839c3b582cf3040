import type { DraftMessage } from "../../domain/enqueue.js";
import type { Queue } from "../../domain/queue.js";
import type { Enqueued, KeyStore, QueueStore } from "../../service/ports.js";

/**
 * The port's methods, grouped by the module of each store that serves them
 * (the same concerns in SQLite and in Cosmos DB). Enqueue is the store's own:
 * SQLite runs it in its group commit, which topics' fan-out shares.
 */
export interface StoreConcerns {
  queues: Pick<
    QueueStore,
    | "createQueue"
    | "getQueue"
    | "getQueueById"
    | "listQueues"
    | "updateQueue"
    | "deleteQueue"
    | "listPushQueues"
  >;
  messages: Pick<
    QueueStore,
    | "candidates"
    | "readMessage"
    | "write"
    | "getMessage"
    | "purge"
    | "nextVisibleAt"
    | "listMessages"
    | "countInFlight"
    | "dueMessages"
  >;
  deadLetters: Pick<
    QueueStore,
    | "listDeadLetters"
    | "redrive"
    | "purgeDeadLetters"
    | "createRedriveTask"
    | "getRedriveTask"
    | "advanceRedriveTask"
    | "failRedriveTask"
    | "orphanedRedriveTasks"
  >;
  statistics: Pick<QueueStore, "stats" | "recordSample" | "samples" | "removeExpiredTombstones">;
  keys: KeyStore;
}

/**
 * A store made of concern modules: each port method is handed to the module
 * that serves it, here once for both stores. A store sets `concerns` in its
 * constructor and implements the rest (its lifecycle and `enqueue`).
 */
export abstract class ConcernStore implements QueueStore, KeyStore {
  abstract readonly kind: QueueStore["kind"];
  protected abstract readonly concerns: StoreConcerns;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;
  abstract isUnavailable(error: unknown): boolean;
  abstract enqueue(queue: Queue, drafts: DraftMessage[]): Promise<Enqueued[]>;

  readonly createQueue: QueueStore["createQueue"] = (queue) => this.concerns.queues.createQueue(queue);
  readonly getQueue: QueueStore["getQueue"] = (tenantId, name) =>
    this.concerns.queues.getQueue(tenantId, name);
  readonly getQueueById: QueueStore["getQueueById"] = (tenantId, id) =>
    this.concerns.queues.getQueueById(tenantId, id);
  readonly listQueues: QueueStore["listQueues"] = (tenantId, page) =>
    this.concerns.queues.listQueues(tenantId, page);
  readonly updateQueue: QueueStore["updateQueue"] = (queue) => this.concerns.queues.updateQueue(queue);
  readonly deleteQueue: QueueStore["deleteQueue"] = (queue) => this.concerns.queues.deleteQueue(queue);
  readonly listPushQueues: QueueStore["listPushQueues"] = () => this.concerns.queues.listPushQueues();

  readonly candidates: QueueStore["candidates"] = (queue, partition, now, limit) =>
    this.concerns.messages.candidates(queue, partition, now, limit);
  readonly readMessage: QueueStore["readMessage"] = (queue, id) =>
    this.concerns.messages.readMessage(queue, id);
  readonly write: QueueStore["write"] = (queue, writes) => this.concerns.messages.write(queue, writes);
  readonly getMessage: QueueStore["getMessage"] = (queue, id) => this.concerns.messages.getMessage(queue, id);
  readonly purge: QueueStore["purge"] = (queue) => this.concerns.messages.purge(queue);
  readonly nextVisibleAt: QueueStore["nextVisibleAt"] = (queue, now) =>
    this.concerns.messages.nextVisibleAt(queue, now);
  readonly listMessages: QueueStore["listMessages"] = (queue, view, now, page) =>
    this.concerns.messages.listMessages(queue, view, now, page);
  readonly countInFlight: QueueStore["countInFlight"] = (queue, now) =>
    this.concerns.messages.countInFlight(queue, now);
  readonly dueMessages: QueueStore["dueMessages"] = (queue, now, limit) =>
    this.concerns.messages.dueMessages(queue, now, limit);

  readonly listDeadLetters: QueueStore["listDeadLetters"] = (queue, page) =>
    this.concerns.deadLetters.listDeadLetters(queue, page);
  readonly redrive: QueueStore["redrive"] = (queue, selection, now) =>
    this.concerns.deadLetters.redrive(queue, selection, now);
  readonly purgeDeadLetters: QueueStore["purgeDeadLetters"] = (queue) =>
    this.concerns.deadLetters.purgeDeadLetters(queue);
  readonly createRedriveTask: QueueStore["createRedriveTask"] = (queue, id, claim) =>
    this.concerns.deadLetters.createRedriveTask(queue, id, claim);
  readonly getRedriveTask: QueueStore["getRedriveTask"] = (queue, id) =>
    this.concerns.deadLetters.getRedriveTask(queue, id);
  readonly advanceRedriveTask: QueueStore["advanceRedriveTask"] = (queue, id, claim, limit) =>
    this.concerns.deadLetters.advanceRedriveTask(queue, id, claim, limit);
  readonly failRedriveTask: QueueStore["failRedriveTask"] = (queue, id, owner, error, now) =>
    this.concerns.deadLetters.failRedriveTask(queue, id, owner, error, now);
  readonly orphanedRedriveTasks: QueueStore["orphanedRedriveTasks"] = (now, limit) =>
    this.concerns.deadLetters.orphanedRedriveTasks(now, limit);

  readonly stats: QueueStore["stats"] = (queue, now) => this.concerns.statistics.stats(queue, now);
  readonly recordSample: QueueStore["recordSample"] = (queue, sample) =>
    this.concerns.statistics.recordSample(queue, sample);
  readonly samples: QueueStore["samples"] = (queue, since) => this.concerns.statistics.samples(queue, since);
  readonly removeExpiredTombstones: QueueStore["removeExpiredTombstones"] = (now) =>
    this.concerns.statistics.removeExpiredTombstones(now);

  readonly createKey: KeyStore["createKey"] = (record) => this.concerns.keys.createKey(record);
  readonly findKey: KeyStore["findKey"] = (id) => this.concerns.keys.findKey(id);
  readonly listKeys: KeyStore["listKeys"] = (tenantId, page) => this.concerns.keys.listKeys(tenantId, page);
  readonly deleteKey: KeyStore["deleteKey"] = (tenantId, id) => this.concerns.keys.deleteKey(tenantId, id);
}
