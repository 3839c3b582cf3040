import {
  BulkOperationType,
  type Container,
  type CosmosClient,
  type JSONObject,
  type OperationInput,
  type PatchOperation,
  type SqlParameter,
} from "@azure/cosmos";
import { fail, ok, type Result } from "../../domain/errors.js";
import type { Subscription, Topic } from "../../domain/topic.js";
import type { Page, PageRequest } from "../../service/ports.js";
import { decodeCursor, pageOf } from "../../service/ports.js";
import type {
  CopyOutcome,
  NewTopicMessage,
  Published,
  SubscriptionStats,
  TopicCounters,
  TopicMessage,
  TopicStore,
} from "../../service/topic-ports.js";
import { withRetry } from "./resilience.js";
import { HybridLogicalClock } from "./sequence.js";
import {
  type CountsDocument,
  countsDocumentId,
  type DedupDocument,
  dedupDocumentId,
  emptyMeta,
  META_ID,
  type MetaDocument,
  type SubscriptionDocument,
  subscriptionDocumentId,
  type TopicDocument,
  type TopicMessageDocument,
  toSubscription,
  toSubscriptionDocument,
  toTopic,
  toTopicDocument,
  toTopicMessage,
  ttlUntil,
} from "./topic-documents.js";

const MAX_CAS_RETRIES = 5;

const statusOf = (error: unknown): number | undefined => {
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const status = code ?? statusCode;
  return typeof status === "number" ? status : undefined;
};

export interface CosmosTopicStoreOptions {
  client: CosmosClient;
  databaseId: string;
}

/**
 * Topics on Cosmos DB. `topics` (partition /tenantId) holds the topic
 * documents: the name look-up and the listing stay in the tenant's
 * partition, apart from queues, whose listing reads every document of its
 * partition. `topicMessages` (partition /topicId) holds everything a
 * publish touches: the topic's totals, its subscriptions and their counters,
 * dedup claims and the messages, so a publish and its fan-out never leave
 * the topic's partition. A publish writes the message with its pending
 * copies first; the copies are made after (inline, by the change feed of
 * `topicMessages` and by the safety net), and `recordCopies` takes each off
 * `pending` with a compare-and-set on the message's `_etag`, so a copy is
 * counted once however often the fan-out runs. See docs/cosmos.md.
 */
export class CosmosTopicStore implements TopicStore {
  private readonly topics: Container;
  private readonly items: Container;
  private readonly sequences = new HybridLogicalClock();

  constructor(options: CosmosTopicStoreOptions) {
    const database = options.client.database(options.databaseId);
    this.topics = database.container("topics");
    this.items = database.container("topicMessages");
  }

  // Topics

  async createTopic(topic: Topic): Promise<Result<Topic>> {
    try {
      await retryThrottled(() => this.topics.items.create(toTopicDocument(topic)));
    } catch (error) {
      if (statusOf(error) === 409) return fail("conflict", `a topic named "${topic.name}" already exists`);
      throw error;
    }
    await retryThrottled(() => this.items.items.upsert<MetaDocument>(emptyMeta(topic)));
    return ok(topic);
  }

  async getTopic(tenantId: string, name: string): Promise<Topic | undefined> {
    const { resource } = await retryThrottled(() => this.topics.item(name, tenantId).read<TopicDocument>());
    return resource?.kind === "topic" ? toTopic(resource) : undefined;
  }

  async getTopicById(tenantId: string, topicId: string): Promise<Topic | undefined> {
    const [document] = await this.query<TopicDocument>(
      this.topics,
      tenantId,
      "SELECT * FROM c WHERE c.tenantId = @pk AND c.kind = 'topic' AND c.topicId = @topicId",
      { topicId },
    );
    return document && toTopic(document);
  }

  async listTopics(tenantId: string, page: PageRequest): Promise<Result<Page<Topic>>> {
    const after = decodeCursor(page.cursor, 1);
    if (!after.ok) return after;
    const documents = await this.query<TopicDocument>(
      this.topics,
      tenantId,
      "SELECT TOP @n * FROM c WHERE c.tenantId = @pk AND c.kind = 'topic' AND c.id > @after ORDER BY c.id",
      { n: page.limit + 1, after: after.value?.[0] ?? "" },
    );
    return ok(pageOf(documents.map(toTopic), page.limit, (topic) => [topic.name]));
  }

  /** The topic document first: once it is gone no route finds the topic, so a crash midway leaves nothing reachable. */
  async deleteTopic(topic: Topic): Promise<void> {
    try {
      await retryThrottled(() => this.topics.item(topic.name, topic.tenantId).delete());
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    const ids = await this.queryTopic<{ id: string }>(topic, "SELECT c.id FROM c", "", {});
    for (let start = 0; start < ids.length; start += 100) {
      await retryThrottled(() =>
        this.items.items.executeBulkOperations(
          ids.slice(start, start + 100).map(({ id }) => ({
            operationType: BulkOperationType.Delete,
            id,
            partitionKey: topic.id,
          })),
        ),
      );
    }
  }

  // Subscriptions

  async putSubscription(
    topic: Topic,
    subscription: Subscription,
  ): Promise<{ subscription: Subscription; created: boolean }> {
    const id = subscriptionDocumentId(subscription.name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const existing = await this.readInTopic<SubscriptionDocument>(topic, id);
      if (existing) {
        // A replacement is the same subscription: it keeps its id (and so its counters and owed copies).
        const kept: Subscription = {
          ...subscription,
          id: existing.subscriptionId,
          createdAt: new Date(existing.createdAt),
        };
        try {
          await retryThrottled(() =>
            this.items.item(id, topic.id).replace(toSubscriptionDocument(kept), {
              accessCondition: { type: "IfMatch", condition: existing._etag ?? "" },
            }),
          );
          return { subscription: kept, created: false };
        } catch (error) {
          if (statusOf(error) === 412) continue;
          throw error;
        }
      }
      // Counters first: a crash before the subscription exists leaves an unused counter, never an uncounted subscription.
      await retryThrottled(() =>
        this.items.items.upsert<CountsDocument>({
          id: countsDocumentId(subscription.id),
          kind: "counts",
          topicId: topic.id,
          tenantId: topic.tenantId,
          deliveredTotal: 0,
          undeliverableTotal: 0,
          lastError: null,
        }),
      );
      try {
        await retryThrottled(() => this.items.items.create(toSubscriptionDocument(subscription)));
        return { subscription, created: true };
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
        await this.deleteQuietly(countsDocumentId(subscription.id), topic.id);
      }
    }
    throw Object.assign(new Error("the subscription kept changing; retry"), { code: 503 });
  }

  async getSubscription(topic: Topic, name: string): Promise<Subscription | undefined> {
    const resource = await this.readInTopic<SubscriptionDocument>(topic, subscriptionDocumentId(name));
    return resource?.kind === "subscription" ? toSubscription(resource) : undefined;
  }

  async listSubscriptions(topic: Topic): Promise<Subscription[]> {
    return (await this.subscriptionDocuments(topic)).map(toSubscription);
  }

  async deleteSubscription(topic: Topic, name: string): Promise<boolean> {
    const resource = await this.readInTopic<SubscriptionDocument>(topic, subscriptionDocumentId(name));
    if (resource?.kind !== "subscription") return false;
    const deleted = await this.deleteQuietly(resource.id, topic.id);
    await this.deleteQuietly(countsDocumentId(resource.subscriptionId), topic.id);
    return deleted;
  }

  async stats(topic: Topic): Promise<TopicCounters> {
    const documents = await this.queryTopic<MetaDocument | CountsDocument | SubscriptionDocument>(
      topic,
      "SELECT * FROM c",
      "AND c.kind IN ('meta', 'counts', 'subscription')",
      {},
    );
    const counts = new Map<string, CountsDocument>();
    for (const document of documents) if (document.kind === "counts") counts.set(document.id, document);
    const subscriptions = new Map<string, SubscriptionStats>();
    for (const document of documents) {
      if (document.kind !== "subscription") continue;
      const count = counts.get(countsDocumentId(document.subscriptionId));
      subscriptions.set(document.subscriptionId, {
        deliveredTotal: count?.deliveredTotal ?? 0,
        undeliverableTotal: count?.undeliverableTotal ?? 0,
        lastError: count?.lastError ?? null,
      });
    }
    const meta = documents.find((document): document is MetaDocument => document.kind === "meta");
    return {
      topic: {
        publishedTotal: meta?.publishedTotal ?? 0,
        deliveredTotal: meta?.deliveredTotal ?? 0,
        filteredTotal: meta?.filteredTotal ?? 0,
      },
      subscriptions,
    };
  }

  // Messages

  /**
   * Each message is durable (with its dedup claim, in one transactional
   * batch) before the next is written. The totals follow in one `incr` patch
   * per call: a crash between the two leaves them short, never over.
   */
  async publish(topic: Topic, messages: NewTopicMessage[]): Promise<Published[]> {
    const results: Published[] = [];
    for (const message of messages) results.push(await this.publishOne(topic, message));
    const stored = results.filter((result) => !result.duplicate);
    await this.addToTotals(topic, {
      publishedTotal: stored.length,
      filteredTotal: stored.reduce((sum, result) => sum + result.message.filtered, 0),
    });
    return results;
  }

  private async publishOne(topic: Topic, message: NewTopicMessage): Promise<Published> {
    const document = this.toDocument(topic, message);
    if (message.dedupKey === null) {
      await retryThrottled(() => this.items.items.create(document));
      return { message: toTopicMessage(document), duplicate: false, made: [] };
    }
    const claim: DedupDocument = {
      id: dedupDocumentId(message.dedupKey),
      kind: "dedup",
      topicId: topic.id,
      tenantId: topic.tenantId,
      messageId: message.id,
      windowEndsAt: message.publishedAt.getTime() + topic.deduplicationWindowSeconds * 1000,
      ttl: Math.max(1, topic.deduplicationWindowSeconds),
    };
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const existing = await this.readInTopic<DedupDocument>(topic, claim.id);
      if (existing) {
        const original = await this.readMessage(topic, existing.messageId);
        if (original && existing.windowEndsAt > message.publishedAt.getTime()) {
          return { message: toTopicMessage(original), duplicate: true, made: [] };
        }
        // The window has passed (or the original is gone): release the stale claim, compare-and-set.
        if (!(await this.deleteIfMatch(topic.id, existing.id, existing._etag))) continue;
      }
      if (await this.createClaimed(topic.id, document, claim)) {
        return { message: toTopicMessage(document), duplicate: false, made: [] };
      }
    }
    throw Object.assign(new Error("the dedup claim kept changing; retry"), { code: 503 });
  }

  private toDocument(topic: Topic, message: NewTopicMessage): TopicMessageDocument {
    const { copies, filtered, id, dedupKey, publishedAt, ...content } = message;
    const owing = copies.length > 0;
    const removeAt = publishedAt.getTime() + topic.deduplicationWindowSeconds * 1000;
    return {
      ...content,
      id,
      kind: "message",
      topicId: topic.id,
      tenantId: topic.tenantId,
      dedupKey,
      publishedAt: publishedAt.getTime(),
      sequence: this.sequences.next(publishedAt.getTime()),
      copies,
      pending: copies,
      owing,
      filtered,
      removeAt,
      // Item TTL counts from the last write (https://learn.microsoft.com/azure/cosmos-db/time-to-live).
      ...(owing ? {} : { ttl: ttlUntil(removeAt, Date.now()) }),
    };
  }

  /** The claim and the message in one transactional batch: both exist or neither. False when the key was claimed first. */
  private async createClaimed(
    topicId: string,
    message: TopicMessageDocument,
    claim: DedupDocument,
  ): Promise<boolean> {
    const operations: OperationInput[] = [
      { operationType: BulkOperationType.Create, resourceBody: claim as unknown as JSONObject },
      { operationType: BulkOperationType.Create, resourceBody: message as unknown as JSONObject },
    ];
    const response = await retryThrottled(() => this.items.items.batch(operations, topicId));
    if (response.result?.[0]?.statusCode === 409) return false;
    if (!response.result?.every((item) => item.statusCode >= 200 && item.statusCode < 300)) {
      throw Object.assign(new Error(`the publish batch failed with ${response.code}`), {
        code: response.code,
      });
    }
    return true;
  }

  async pendingMessages(topic: Topic, limit: number): Promise<TopicMessage[]> {
    const documents = await this.queryTopic<TopicMessageDocument>(
      topic,
      "SELECT TOP @n * FROM c",
      "AND c.kind = 'message' AND c.owing = true ORDER BY c.sequence",
      { n: limit },
    );
    return documents.map(toTopicMessage);
  }

  /**
   * Takes the outcomes' copies off `pending` with a replace on the etag the
   * decision was made on (a concurrent fan-out that took them first wins,
   * and this one re-reads and finds nothing left to count), then counts what
   * it took. A crash between the replace and the counts leaves them short by
   * those copies; a replay never counts a copy twice.
   */
  async recordCopies(topic: Topic, messageId: string, outcomes: CopyOutcome[]): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const document = await this.readMessage(topic, messageId);
      if (!document) return;
      const fresh = outcomes.filter((outcome) =>
        document.pending.some((copy) => copy.subscriptionId === outcome.subscriptionId),
      );
      if (fresh.length === 0) return;
      const pending = document.pending.filter(
        (copy) => !fresh.some((outcome) => outcome.subscriptionId === copy.subscriptionId),
      );
      const owing = pending.length > 0;
      const next: TopicMessageDocument = {
        ...document,
        pending,
        owing,
        ...(owing ? {} : { ttl: ttlUntil(document.removeAt, Date.now()) }),
      };
      try {
        await retryThrottled(() =>
          this.items
            .item(messageId, topic.id)
            .replace(next, { accessCondition: { type: "IfMatch", condition: document._etag ?? "" } }),
        );
      } catch (error) {
        const status = statusOf(error);
        if (status === 412) continue;
        if (status === 404) return;
        throw error;
      }
      await this.countCopies(topic, fresh);
      return;
    }
    throw Object.assign(new Error("the topic message kept changing; retry"), { code: 503 });
  }

  private async countCopies(topic: Topic, outcomes: CopyOutcome[]): Promise<void> {
    await this.addToTotals(topic, {
      deliveredTotal: outcomes.filter((outcome) => outcome.delivered).length,
    });
    for (const outcome of outcomes) {
      const operations: PatchOperation[] = outcome.delivered
        ? [{ op: "incr", path: "/deliveredTotal", value: 1 }]
        : [
            { op: "incr", path: "/undeliverableTotal", value: 1 },
            { op: "set", path: "/lastError", value: outcome.error },
          ];
      try {
        await retryThrottled(() =>
          this.items.item(countsDocumentId(outcome.subscriptionId), topic.id).patch(operations),
        );
      } catch (error) {
        // The subscription was deleted after the publish: its copy is still made, and counted nowhere.
        if (statusOf(error) !== 404) throw error;
      }
    }
  }

  /** Crosses partitions (a timer's look for what the change feed missed), like the redrive timer's query. */
  async topicsWithPendingCopies(before: Date, limit: number): Promise<Topic[]> {
    const { resources } = await retryThrottled(() =>
      this.items.items
        .query<{ tenantId: string; topicId: string }>({
          query:
            "SELECT TOP @n c.tenantId, c.topicId FROM c WHERE c.kind = 'message' AND c.owing = true AND c.publishedAt < @before",
          parameters: params({ n: limit * 10, before: before.getTime() }),
        })
        .fetchAll(),
    );
    const topics = new Map<string, Topic>();
    for (const owner of resources) {
      if (topics.size >= limit || topics.has(owner.topicId)) continue;
      const topic = await this.getTopicById(owner.tenantId, owner.topicId);
      if (topic) topics.set(topic.id, topic);
    }
    return [...topics.values()];
  }

  /** Crosses partitions: the housekeeping sweep for where item TTL is not enforced (TTL removes them on Azure). */
  async removeExpiredTopicMessages(now: Date): Promise<number> {
    const { resources } = await retryThrottled(() =>
      this.items.items
        .query<{ id: string; topicId: string }>({
          query:
            "SELECT c.id, c.topicId FROM c WHERE c.kind = 'message' AND c.owing = false AND c.removeAt <= @now",
          parameters: params({ now: now.getTime() }),
        })
        .fetchAll(),
    );
    let removed = 0;
    for (const { id, topicId } of resources) if (await this.deleteQuietly(id, topicId)) removed++;
    return removed;
  }

  // Helpers

  /** A query inside one logical partition, which its text must also name (`= @pk`): the local test server ignores the scope. */
  private async query<T>(
    container: Container,
    partitionKey: string,
    query: string,
    values: Record<string, unknown>,
  ): Promise<T[]> {
    if (!query.includes("= @pk")) throw new Error(`query does not filter on its partition: ${query}`);
    const { resources } = await retryThrottled(() =>
      container.items
        .query<T>({ query, parameters: params({ ...values, pk: partitionKey }) }, { partitionKey })
        .fetchAll(),
    );
    return resources;
  }

  /**
   * A query in the topic's partition that also names the topic's tenant:
   * topic ids are never guessable, but tenant isolation does not rest on that.
   * `where` continues the filter (`AND ...`, then any ORDER BY).
   */
  private queryTopic<T>(
    topic: Topic,
    select: string,
    where: string,
    values: Record<string, unknown>,
  ): Promise<T[]> {
    return this.query<T>(
      this.items,
      topic.id,
      `${select} WHERE c.topicId = @pk AND c.tenantId = @tenant ${where}`,
      {
        ...values,
        tenant: topic.tenantId,
      },
    );
  }

  private subscriptionDocuments(topic: Topic): Promise<SubscriptionDocument[]> {
    return this.queryTopic<SubscriptionDocument>(
      topic,
      "SELECT * FROM c",
      "AND c.kind = 'subscription' ORDER BY c.name",
      {},
    );
  }

  /** A point read in the topic's partition, of a document of the topic's tenant only. */
  private async readInTopic<T extends { tenantId: string }>(
    topic: Topic,
    id: string,
  ): Promise<T | undefined> {
    const { resource } = await retryThrottled(() => this.items.item(id, topic.id).read<T>());
    return resource?.tenantId === topic.tenantId ? resource : undefined;
  }

  private async readMessage(topic: Topic, id: string): Promise<TopicMessageDocument | undefined> {
    const resource = await this.readInTopic<TopicMessageDocument>(topic, id);
    return resource?.kind === "message" ? resource : undefined;
  }

  private async deleteIfMatch(topicId: string, id: string, etag: string | undefined): Promise<boolean> {
    try {
      await retryThrottled(() =>
        this.items.item(id, topicId).delete({ accessCondition: { type: "IfMatch", condition: etag ?? "" } }),
      );
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return false;
      if (status === 404) return true;
      throw error;
    }
  }

  /** False when it was already gone. */
  private async deleteQuietly(id: string, topicId: string): Promise<boolean> {
    try {
      await retryThrottled(() => this.items.item(id, topicId).delete());
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** Adds to the topic's totals with one atomic `incr` patch; recreates the totals a crash in `createTopic` left out. */
  private async addToTotals(
    topic: Topic,
    totals: Partial<Record<"publishedTotal" | "deliveredTotal" | "filteredTotal", number>>,
  ): Promise<void> {
    const operations: PatchOperation[] = Object.entries(totals)
      .filter(([, value]) => (value ?? 0) > 0)
      .map(([total, value]) => ({ op: "incr", path: `/${total}`, value: value as number }));
    if (operations.length === 0) return;
    try {
      await retryThrottled(() => this.items.item(META_ID, topic.id).patch(operations));
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      try {
        await retryThrottled(() => this.items.items.create<MetaDocument>({ ...emptyMeta(topic), ...totals }));
      } catch (conflict) {
        if (statusOf(conflict) !== 409) throw conflict;
        await retryThrottled(() => this.items.item(META_ID, topic.id).patch(operations));
      }
    }
  }
}

/**
 * What the SDK did for the topic store before the client's own 429 retries
 * were turned off (src/app.ts): retry a throttled request after its
 * `x-ms-retry-after-ms`, and one that applied nothing, never one of unknown
 * outcome; now within the store's budget, with jitter, and a StoreBusyError
 * (429 or 503 with Retry-After) when it runs out.
 */
const retryThrottled = <T>(op: () => Promise<T>): Promise<T> => withRetry(op, { idempotent: false });

function params(values: Record<string, unknown>): SqlParameter[] {
  return Object.entries(values).map(([name, value]) => ({ name: `@${name}`, value: value as never }));
}
