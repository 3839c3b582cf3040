import type { CosmosClient } from "@azure/cosmos";
import type { KeyStore, QueueStore } from "../../service/ports.js";
import definitions from "./containers.json" with { type: "json" };
import { CosmosDeadLetters } from "./dead-letters.js";
import { CosmosKeys } from "./keys.js";
import { CosmosMessages } from "./messages.js";
import { isTransientCosmosError } from "./queries.js";
import { CosmosQueues } from "./queues.js";
import { HybridLogicalClock } from "./sequence.js";

export interface CosmosStoreOptions {
  client: CosmosClient;
  databaseId: string;
}

/**
 * The Cosmos DB (NoSQL) store. Partitioning: `queues` by tenant, `messages`
 * by queue partition (`documents.ts#partitionKeyOf`: each partition's
 * messages, totals, dedup claims and fifo groups share one logical partition,
 * so no hot-path query crosses partitions), `keys` by key id. Every change to
 * a message is a compare-and-set on its `_etag` (`If-Match`), so concurrent
 * receivers on any number of instances never lease one message twice. See
 * docs/cosmos.md for costs and limits. Each concern is its own module.
 */
export class CosmosStore implements QueueStore, KeyStore {
  readonly kind = "cosmos" as const;
  private readonly queues: CosmosQueues;
  private readonly messages: CosmosMessages;
  private readonly deadLetters: CosmosDeadLetters;
  private readonly keys: CosmosKeys;

  constructor(private readonly options: CosmosStoreOptions) {
    const database = options.client.database(options.databaseId);
    const messages = database.container("messages");
    const sequences = new HybridLogicalClock();
    this.queues = new CosmosQueues(database.container("queues"), messages);
    this.messages = new CosmosMessages(messages, sequences);
    this.deadLetters = new CosmosDeadLetters(messages, this.messages, sequences);
    this.keys = new CosmosKeys(database.container("keys"));
  }

  /** Creates the database and containers from the shared definitions (emulators and tests; Bicep does it on Azure). */
  static async ensureContainers(client: CosmosClient, databaseId: string): Promise<void> {
    const { database } = await client.databases.createIfNotExists({ id: databaseId });
    for (const container of definitions.containers) {
      await database.containers.createIfNotExists({
        id: container.id,
        partitionKey: { paths: [container.partitionKey] },
        indexingPolicy: container.indexingPolicy as never,
        ...(container.defaultTtl === null ? {} : { defaultTtl: container.defaultTtl }),
      });
    }
  }

  async ping(): Promise<void> {
    await this.options.client.database(this.options.databaseId).read();
  }

  async close(): Promise<void> {
    this.options.client.dispose();
  }

  isUnavailable(error: unknown): boolean {
    return isTransientCosmosError(error);
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
  readonly stats: QueueStore["stats"] = (queue, now) => this.queues.stats(queue, now);
  readonly recordSample: QueueStore["recordSample"] = (queue, sample) =>
    this.queues.recordSample(queue, sample);
  readonly samples: QueueStore["samples"] = (queue, since) => this.queues.samples(queue, since);
  readonly removeExpiredTombstones: QueueStore["removeExpiredTombstones"] = (now) =>
    this.queues.removeExpiredTombstones(now);

  readonly enqueue: QueueStore["enqueue"] = (queue, drafts) => this.messages.enqueue(queue, drafts);
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

  readonly createKey: KeyStore["createKey"] = (record) => this.keys.createKey(record);
  readonly findKey: KeyStore["findKey"] = (id) => this.keys.findKey(id);
  readonly listKeys: KeyStore["listKeys"] = (tenantId, page) => this.keys.listKeys(tenantId, page);
  readonly deleteKey: KeyStore["deleteKey"] = (tenantId, id) => this.keys.deleteKey(tenantId, id);
}
