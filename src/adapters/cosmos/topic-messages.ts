import {
  BulkOperationType,
  type Container,
  type JSONObject,
  type OperationInput,
  type PatchOperation,
} from "@azure/cosmos";
import type { Topic } from "../../domain/topic.js";
import type { CopyOutcome, NewTopicMessage, Published, TopicMessage } from "../../service/topic-ports.js";
import { params, statusOf } from "./queries.js";
import { HybridLogicalClock } from "./sequence.js";
import {
  countsDocumentId,
  type DedupDocument,
  dedupDocumentId,
  type TopicMessageDocument,
  toTopicMessage,
  ttlUntil,
} from "./topic-documents.js";
import { MAX_CAS_RETRIES, type TopicPartitions } from "./topic-partition.js";

/**
 * The messages half of the Cosmos DB topic store: a publish writes each
 * message with its pending copies (and its dedup claim) first; the copies
 * are made after, inline, by the change feed and by the safety net, and
 * `recordCopies` takes each off `pending` with a compare-and-set on the
 * message's `_etag`, so a copy is counted once however often the fan-out runs.
 */
export class CosmosTopicMessages {
  private readonly items: Container;
  private readonly sequences = new HybridLogicalClock();

  constructor(
    private readonly partitions: TopicPartitions,
    /** Finds a topic by its id, for the timer's cross-partition look. */
    private readonly topicById: (tenantId: string, topicId: string) => Promise<Topic | undefined>,
  ) {
    this.items = partitions.items;
  }

  /**
   * Each message is durable (with its dedup claim, in one transactional
   * batch) before the next is written. The totals follow in one `incr` patch
   * per call: a crash between the two leaves them short, never over.
   */
  async publish(topic: Topic, messages: NewTopicMessage[]): Promise<Published[]> {
    const results: Published[] = [];
    for (const message of messages) results.push(await this.publishOne(topic, message));
    const stored = results.filter((result) => !result.duplicate);
    await this.partitions.addToTotals(topic, {
      publishedTotal: stored.length,
      filteredTotal: stored.reduce((sum, result) => sum + result.message.filtered, 0),
    });
    return results;
  }

  private async publishOne(topic: Topic, message: NewTopicMessage): Promise<Published> {
    const document = this.toDocument(topic, message);
    if (message.dedupKey === null) {
      await this.items.items.create(document);
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
      const existing = await this.partitions.readInTopic<DedupDocument>(topic, claim.id);
      if (existing) {
        const original = await this.partitions.readMessage(topic, existing.messageId);
        if (original && existing.windowEndsAt > message.publishedAt.getTime()) {
          return { message: toTopicMessage(original), duplicate: true, made: [] };
        }
        // The window has passed (or the original is gone): release the stale claim, compare-and-set.
        if (!(await this.partitions.deleteIfMatch(topic.id, existing.id, existing._etag))) continue;
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
    const response = await this.items.items.batch(operations, topicId);
    if (response.result?.[0]?.statusCode === 409) return false;
    if (!response.result?.every((item) => item.statusCode >= 200 && item.statusCode < 300)) {
      throw Object.assign(new Error(`the publish batch failed with ${response.code}`), {
        code: response.code,
      });
    }
    return true;
  }

  async pendingMessages(topic: Topic, limit: number): Promise<TopicMessage[]> {
    const documents = await this.partitions.queryTopic<TopicMessageDocument>(
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
      const document = await this.partitions.readMessage(topic, messageId);
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
        await this.items
          .item(messageId, topic.id)
          .replace(next, { accessCondition: { type: "IfMatch", condition: document._etag ?? "" } });
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
    await this.partitions.addToTotals(topic, {
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
        await this.items.item(countsDocumentId(outcome.subscriptionId), topic.id).patch(operations);
      } catch (error) {
        // The subscription was deleted after the publish: its copy is still made, and counted nowhere.
        if (statusOf(error) !== 404) throw error;
      }
    }
  }

  /** Crosses partitions (a timer's look for what the change feed missed), like the redrive timer's query. */
  async topicsWithPendingCopies(before: Date, limit: number): Promise<Topic[]> {
    const { resources } = await this.items.items
      .query<{ tenantId: string; topicId: string }>({
        query:
          "SELECT TOP @n c.tenantId, c.topicId FROM c WHERE c.kind = 'message' AND c.owing = true AND c.publishedAt < @before",
        parameters: params({ n: limit * 10, before: before.getTime() }),
      })
      .fetchAll();
    const topics = new Map<string, Topic>();
    for (const owner of resources) {
      if (topics.size >= limit || topics.has(owner.topicId)) continue;
      const topic = await this.topicById(owner.tenantId, owner.topicId);
      if (topic) topics.set(topic.id, topic);
    }
    return [...topics.values()];
  }

  /** Crosses partitions: the housekeeping sweep for where item TTL is not enforced (TTL removes them on Azure). */
  async removeExpiredTopicMessages(now: Date): Promise<number> {
    const { resources } = await this.items.items
      .query<{ id: string; topicId: string }>({
        query:
          "SELECT c.id, c.topicId FROM c WHERE c.kind = 'message' AND c.owing = false AND c.removeAt <= @now",
        parameters: params({ now: now.getTime() }),
      })
      .fetchAll();
    let removed = 0;
    for (const { id, topicId } of resources) if (await this.partitions.deleteQuietly(id, topicId)) removed++;
    return removed;
  }
}
