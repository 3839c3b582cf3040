import type { CosmosClient } from "@azure/cosmos";
import type { DraftMessage } from "../../domain/enqueue.js";
import type { Queue } from "../../domain/queue.js";
import type { Enqueued } from "../../service/ports.js";
import { ConcernStore, type StoreConcerns } from "../shared/concern-store.js";
import definitions from "./containers.json" with { type: "json" };
import { CosmosDeadLetters } from "./dead-letters.js";
import type { Total } from "./documents.js";
import { CosmosKeys } from "./keys.js";
import { CosmosMessages } from "./messages.js";
import { addToTotals, isTransientCosmosError } from "./queries.js";
import { CosmosQueues } from "./queues.js";
import { HybridLogicalClock } from "./sequence.js";
import { PendingTotals } from "./totals.js";

export interface CosmosStoreOptions {
  client: CosmosClient;
  databaseId: string;
  /** How long lifetime totals add up in memory before they are sent (totals.ts); tests set it. */
  totalsFlushMs?: number;
}

/**
 * The Cosmos DB (NoSQL) store. Partitioning: `queues` by tenant, `messages`
 * by queue partition (`documents.ts#partitionKeyOf`: each partition's
 * messages, totals, dedup claims and fifo groups share one logical partition,
 * so no hot-path query crosses partitions), `keys` by key id. Every change to
 * a message is a compare-and-set on its `_etag` (`If-Match`), so concurrent
 * receivers on any number of instances never lease one message twice. See
 * docs/cosmos.md for costs and limits. Each concern is its own module (`ConcernStore`
 * hands each port method to its module).
 */
export class CosmosStore extends ConcernStore {
  override readonly kind = "cosmos" as const;
  protected override readonly concerns: StoreConcerns & { messages: CosmosMessages };
  private readonly totals: PendingTotals<Total>;

  constructor(private readonly options: CosmosStoreOptions) {
    super();
    const database = options.client.database(options.databaseId);
    const messages = database.container("messages");
    const sequences = new HybridLogicalClock();
    this.totals = new PendingTotals<Total>(
      (pk, delta) => addToTotals(messages, pk, delta),
      options.totalsFlushMs,
    );
    const queues = new CosmosQueues(database.container("queues"), messages, this.totals);
    const messageStore = new CosmosMessages(messages, sequences, this.totals);
    this.concerns = {
      queues,
      messages: messageStore,
      deadLetters: new CosmosDeadLetters(messages, messageStore, sequences),
      statistics: queues,
      keys: new CosmosKeys(database.container("keys")),
    };
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

  override async ping(): Promise<void> {
    await this.options.client.database(this.options.databaseId).read();
  }

  /** Sends the totals counted here first: a process that stops cleanly leaves none uncounted. */
  override async close(): Promise<void> {
    await this.totals.close();
    this.options.client.dispose();
  }

  override isUnavailable(error: unknown): boolean {
    return isTransientCosmosError(error);
  }

  override enqueue(queue: Queue, drafts: DraftMessage[]): Promise<Enqueued[]> {
    return this.concerns.messages.enqueue(queue, drafts);
  }
}
