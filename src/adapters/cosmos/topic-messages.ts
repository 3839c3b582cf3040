import type { Container, PatchOperation } from "@azure/cosmos";
import type { Topic } from "../../domain/topic.js";
import type { CopyOutcome, NewTopicMessage, Published, TopicMessage } from "../../service/topic-ports.js";
import { newWriteId } from "./documents.js";
import { params, retried } from "./queries.js";
import { createAllOnce, createOnce, replaceOnce, StoreBusyError } from "./resilience.js";
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
   * batch) before the next is written, and counted once it is: the totals
   * follow a second later (totals.ts), so a kill leaves them short, never
   * over, and a throttled totals patch never fails a publish that stored
   * its messages (its retry would publish them twice).
   */
  async publish(topic: Topic, messages: NewTopicMessage[]): Promise<Published[]> {
    const results: Published[] = [];
    try {
      for (const message of messages) results.push(await this.publishOne(topic, message));
    } finally {
      // The messages stored before a later one failed are stored: they count.
      const stored = results.filter((result) => !result.duplicate);
      this.partitions.count(topic, {
        publishedTotal: stored.length,
        filteredTotal: stored.reduce((sum, result) => sum + result.message.filtered, 0),
      });
    }
    return results;
  }

  private async publishOne(topic: Topic, message: NewTopicMessage): Promise<Published> {
    const document = this.toDocument(topic, message);
    if (message.dedupKey === null) {
      // The id is fresh, so a conflict can only be this call's own create whose answer was lost: createOnce resolves it.
      const created = await createOnce(this.items, document, topic.id);
      if (!created.ok) throw new Error(`topic message id ${document.id} is taken`);
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
      writeId: document.writeId,
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
      // The claim and the message in one transactional batch: both exist or neither; a lost answer is resolved by the claim's writeId.
      const claimed = await createAllOnce(this.items, [claim, document], topic.id);
      if (claimed.ok) return { message: toTopicMessage(document), duplicate: false, made: [] };
    }
    throw new StoreBusyError("unavailable", 100, { cause: new Error("the dedup claim kept changing") });
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
      writeId: newWriteId(),
    };
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
      const { _etag, ...body } = document;
      const next: TopicMessageDocument = {
        ...body,
        pending,
        owing,
        ...(owing ? {} : { ttl: ttlUntil(document.removeAt, Date.now()) }),
        writeId: newWriteId(),
      };
      const replaced = await replaceOnce(this.items, next, _etag ?? "", topic.id);
      if (!replaced.ok) {
        if (!replaced.current) return;
        continue;
      }
      await this.countCopies(topic, fresh);
      return;
    }
    throw new StoreBusyError("unavailable", 100, { cause: new Error("the topic message kept changing") });
  }

  private async countCopies(topic: Topic, outcomes: CopyOutcome[]): Promise<void> {
    this.partitions.count(topic, { deliveredTotal: outcomes.filter((outcome) => outcome.delivered).length });
    for (const outcome of outcomes) {
      const operations: PatchOperation[] = outcome.delivered
        ? [{ op: "incr", path: "/deliveredTotal", value: 1 }]
        : [
            { op: "incr", path: "/undeliverableTotal", value: 1 },
            { op: "set", path: "/lastError", value: outcome.error },
          ];
      // False when the subscription was deleted after the publish: its copy is still made, and counted nowhere.
      await this.partitions.patchCounts(topic, countsDocumentId(outcome.subscriptionId), operations);
    }
  }

  /** Crosses partitions (a timer's look for what the change feed missed), like the redrive timer's query. */
  async topicsWithPendingCopies(before: Date, limit: number): Promise<Topic[]> {
    const { resources } = await retried(() =>
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
      const topic = await this.topicById(owner.tenantId, owner.topicId);
      if (topic) topics.set(topic.id, topic);
    }
    return [...topics.values()];
  }

  /** Crosses partitions: the housekeeping sweep for where item TTL is not enforced (TTL removes them on Azure). */
  async removeExpiredTopicMessages(now: Date): Promise<number> {
    const { resources } = await retried(() =>
      this.items.items
        .query<{ id: string; topicId: string }>({
          query:
            "SELECT c.id, c.topicId FROM c WHERE c.kind = 'message' AND c.owing = false AND c.removeAt <= @now",
          parameters: params({ now: now.getTime() }),
        })
        .fetchAll(),
    );
    let removed = 0;
    for (const { id, topicId } of resources) if (await this.partitions.deleteQuietly(id, topicId)) removed++;
    return removed;
  }
}
