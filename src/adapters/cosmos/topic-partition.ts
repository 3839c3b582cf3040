import type { Container, PatchOperation } from "@azure/cosmos";
import type { Topic } from "../../domain/topic.js";
import { deleteIfMatch, once, query, readItem, retried, statusOf } from "./queries.js";
import {
  emptyMeta,
  META_ID,
  type MetaDocument,
  type SubscriptionDocument,
  type TopicMessageDocument,
} from "./topic-documents.js";
import { PendingTotals } from "./totals.js";

export type TopicTotal = "publishedTotal" | "deliveredTotal" | "filteredTotal";

const totalsKey = (topic: Topic) => JSON.stringify([topic.tenantId, topic.id]);

/** How often a compare-and-set on a topic's documents is tried before the caller is told to retry (503). */
export const MAX_CAS_RETRIES = 5;

/**
 * The reads and writes both halves of the topic store make in a topic's
 * partition of `topicMessages`: each names the topic's tenant, so tenant
 * isolation never rests on topic ids being unguessable. Each request is
 * retried within the store's budget as the queue store's are
 * (resilience.ts): reads, queries and deletes as they are, an `incr` only
 * when nothing was applied.
 */
export class TopicPartitions {
  /** The topics' totals, sent a second at a time as the queues' are (totals.ts); keyed by [tenant, topic id]. */
  private readonly totals = new PendingTotals<TopicTotal>((key, delta) => {
    const [tenantId, id] = JSON.parse(key) as [string, string];
    return this.addToTotals({ id, tenantId }, delta);
  });

  constructor(readonly items: Container) {}

  /** Counts what a committed write added to the topic's totals; sent with the next flush. */
  count(topic: Topic, delta: Partial<Record<TopicTotal, number>>): void {
    this.totals.add(totalsKey(topic), delta);
  }

  /** Sends the topic's pending totals and waits: a stats read here then counts every write this process answered. */
  flushTotals(topic: Topic): Promise<void> {
    return this.totals.flush([totalsKey(topic)]);
  }

  forgetTotals(topic: Topic): void {
    this.totals.forget([totalsKey(topic)]);
  }

  closeTotals(): Promise<void> {
    return this.totals.close();
  }

  /**
   * A query in the topic's partition that also names the topic's tenant:
   * topic ids are never guessable, but tenant isolation does not rest on that.
   * `where` continues the filter (`AND ...`, then any ORDER BY).
   */
  queryTopic<T>(topic: Topic, select: string, where: string, values: Record<string, unknown>): Promise<T[]> {
    return query<T>(
      this.items,
      topic.id,
      `${select} WHERE c.topicId = @pk AND c.tenantId = @tenant ${where}`,
      {
        ...values,
        tenant: topic.tenantId,
      },
    );
  }

  subscriptionDocuments(topic: Topic): Promise<SubscriptionDocument[]> {
    return this.queryTopic<SubscriptionDocument>(
      topic,
      "SELECT * FROM c",
      "AND c.kind = 'subscription' ORDER BY c.name",
      {},
    );
  }

  /** A point read in the topic's partition, of a document of the topic's tenant only. */
  async readInTopic<T extends { tenantId: string }>(topic: Topic, id: string): Promise<T | undefined> {
    const resource = await readItem<T & { id: string }>(this.items, id, topic.id);
    return resource?.tenantId === topic.tenantId ? resource : undefined;
  }

  async readMessage(topic: Topic, id: string): Promise<TopicMessageDocument | undefined> {
    const resource = await this.readInTopic<TopicMessageDocument>(topic, id);
    return resource?.kind === "message" ? resource : undefined;
  }

  deleteIfMatch(topicId: string, id: string, etag: string | undefined): Promise<boolean> {
    return deleteIfMatch(this.items, topicId, id, etag);
  }

  /** False when it was already gone (or a retry after a lost answer found it gone). */
  async deleteQuietly(id: string, topicId: string): Promise<boolean> {
    try {
      await retried(() => this.items.item(id, topicId).delete());
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /**
   * Adds to the topic's totals with one atomic `incr` patch; recreates the
   * totals a crash in `createTopic` left out. An increment is not
   * idempotent: one of unknown outcome throws StoreBusyError rather than
   * risk counting twice (docs/reliability.md, "Totals").
   */
  private async addToTotals(
    topic: Pick<Topic, "id" | "tenantId">,
    totals: Partial<Record<TopicTotal, number>>,
  ): Promise<void> {
    const operations: PatchOperation[] = Object.entries(totals)
      .filter(([, value]) => (value ?? 0) > 0)
      .map(([total, value]) => ({ op: "incr", path: `/${total}`, value: value as number }));
    if (operations.length === 0) return;
    const patch = () => once(() => this.items.item(META_ID, topic.id).patch(operations));
    try {
      await patch();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      try {
        await once(() => this.items.items.create<MetaDocument>({ ...emptyMeta(topic), ...totals }));
      } catch (conflict) {
        if (statusOf(conflict) !== 409) throw conflict;
        await patch();
      }
    }
  }

  /** One `incr` patch of a subscription's counters; false when the subscription is gone. */
  async patchCounts(topic: Topic, id: string, operations: PatchOperation[]): Promise<boolean> {
    try {
      await once(() => this.items.item(id, topic.id).patch(operations));
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }
}
