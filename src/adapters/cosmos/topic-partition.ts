import type { Container, PatchOperation } from "@azure/cosmos";
import type { Topic } from "../../domain/topic.js";
import { deleteIfMatch, queryPartition, statusOf } from "./queries.js";
import {
  emptyMeta,
  META_ID,
  type MetaDocument,
  type SubscriptionDocument,
  type TopicMessageDocument,
} from "./topic-documents.js";

/** How often a compare-and-set on a topic's documents is tried before the caller is told to retry (503). */
export const MAX_CAS_RETRIES = 5;

/**
 * The reads and writes both halves of the topic store make in a topic's
 * partition of `topicMessages`: each names the topic's tenant, so tenant
 * isolation never rests on topic ids being unguessable.
 */
export class TopicPartitions {
  constructor(readonly items: Container) {}
  /**
   * A query in the topic's partition that also names the topic's tenant:
   * topic ids are never guessable, but tenant isolation does not rest on that.
   * `where` continues the filter (`AND ...`, then any ORDER BY).
   */
  queryTopic<T>(topic: Topic, select: string, where: string, values: Record<string, unknown>): Promise<T[]> {
    return queryPartition<T>(
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
    const { resource } = await this.items.item(id, topic.id).read<T>();
    return resource?.tenantId === topic.tenantId ? resource : undefined;
  }

  async readMessage(topic: Topic, id: string): Promise<TopicMessageDocument | undefined> {
    const resource = await this.readInTopic<TopicMessageDocument>(topic, id);
    return resource?.kind === "message" ? resource : undefined;
  }

  /** Sent once, as every request of the topic store. */
  deleteIfMatch(topicId: string, id: string, etag: string | undefined): Promise<boolean> {
    return deleteIfMatch(this.items, topicId, id, etag, (request) => request());
  }

  /** False when it was already gone. */
  async deleteQuietly(id: string, topicId: string): Promise<boolean> {
    try {
      await this.items.item(id, topicId).delete();
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** Adds to the topic's totals with one atomic `incr` patch; recreates the totals a crash in `createTopic` left out. */
  async addToTotals(
    topic: Topic,
    totals: Partial<Record<"publishedTotal" | "deliveredTotal" | "filteredTotal", number>>,
  ): Promise<void> {
    const operations: PatchOperation[] = Object.entries(totals)
      .filter(([, value]) => (value ?? 0) > 0)
      .map(([total, value]) => ({ op: "incr", path: `/${total}`, value: value as number }));
    if (operations.length === 0) return;
    try {
      await this.items.item(META_ID, topic.id).patch(operations);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      try {
        await this.items.items.create<MetaDocument>({ ...emptyMeta(topic), ...totals });
      } catch (conflict) {
        if (statusOf(conflict) !== 409) throw conflict;
        await this.items.item(META_ID, topic.id).patch(operations);
      }
    }
  }
}
