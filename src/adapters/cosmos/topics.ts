import type { Container, CosmosClient } from "@azure/cosmos";
import { fail, ok, type Result } from "../../domain/errors.js";
import type { Subscription, Topic } from "../../domain/topic.js";
import type { Page, PageRequest } from "../../service/ports.js";
import type { SubscriptionStats, TopicCounters, TopicStore } from "../../service/topic-ports.js";
import { BY_NAME, readPage } from "../shared/pages.js";
import { deleteAll, query, readItem, retried, statusOf } from "./queries.js";
import { createOnce, replaceOnce, StoreBusyError } from "./resilience.js";
import {
  type CountsDocument,
  countsDocumentId,
  emptyMeta,
  type MetaDocument,
  type SubscriptionDocument,
  subscriptionDocumentId,
  type TopicDocument,
  toSubscription,
  toSubscriptionDocument,
  toTopic,
  toTopicDocument,
} from "./topic-documents.js";
import { CosmosTopicMessages } from "./topic-messages.js";
import { MAX_CAS_RETRIES, TopicPartitions } from "./topic-partition.js";

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
 * counted once however often the fan-out runs. Every request is retried
 * within the store's budget, and every create or replace with a
 * precondition is applied once across a lost answer, as in the queue store
 * (resilience.ts). See docs/cosmos.md.
 */
export class CosmosTopicStore implements TopicStore {
  private readonly topics: Container;
  private readonly items: Container;
  private readonly partitions: TopicPartitions;
  private readonly messages: CosmosTopicMessages;

  constructor(options: CosmosTopicStoreOptions) {
    const database = options.client.database(options.databaseId);
    this.topics = database.container("topics");
    this.items = database.container("topicMessages");
    this.partitions = new TopicPartitions(this.items);
    this.messages = new CosmosTopicMessages(this.partitions, (tenantId, topicId) =>
      this.getTopicById(tenantId, topicId),
    );
  }

  // Topics

  async createTopic(topic: Topic): Promise<Result<Topic>> {
    const created = await createOnce(this.topics, toTopicDocument(topic), topic.tenantId);
    if (!created.ok) return fail("conflict", `a topic named "${topic.name}" already exists`);
    // Created if absent, not upserted: a repeated upsert would zero totals another instance has added to.
    try {
      await retried(() => this.items.items.create<MetaDocument>(emptyMeta(topic)));
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    return ok(topic);
  }

  async getTopic(tenantId: string, name: string): Promise<Topic | undefined> {
    const resource = await readItem<TopicDocument>(this.topics, name, tenantId);
    return resource?.kind === "topic" ? toTopic(resource) : undefined;
  }

  async getTopicById(tenantId: string, topicId: string): Promise<Topic | undefined> {
    const [document] = await query<TopicDocument>(
      this.topics,
      tenantId,
      "SELECT * FROM c WHERE c.tenantId = @pk AND c.kind = 'topic' AND c.topicId = @topicId",
      { topicId },
    );
    return document && toTopic(document);
  }

  listTopics(tenantId: string, page: PageRequest): Promise<Result<Page<Topic>>> {
    return readPage(page, BY_NAME, async ([after], count) => {
      const documents = await query<TopicDocument>(
        this.topics,
        tenantId,
        "SELECT TOP @n * FROM c WHERE c.tenantId = @pk AND c.kind = 'topic' AND c.id > @after ORDER BY c.id",
        { n: count, after },
      );
      return documents.map(toTopic);
    });
  }

  /** The topic document first: once it is gone no route finds the topic, so a crash midway leaves nothing reachable. */
  async deleteTopic(topic: Topic): Promise<void> {
    this.partitions.forgetTotals(topic);
    try {
      await retried(() => this.topics.item(topic.name, topic.tenantId).delete());
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    const ids = await this.partitions.queryTopic<string>(topic, "SELECT VALUE c.id FROM c", "", {});
    await deleteAll(this.items, topic.id, ids);
  }

  // Subscriptions

  async putSubscription(
    topic: Topic,
    subscription: Subscription,
  ): Promise<{ subscription: Subscription; created: boolean }> {
    const id = subscriptionDocumentId(subscription.name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const existing = await this.partitions.readInTopic<SubscriptionDocument>(topic, id);
      if (existing) {
        // A replacement is the same subscription: it keeps its id (and so its counters and owed copies).
        const kept: Subscription = {
          ...subscription,
          id: existing.subscriptionId,
          createdAt: new Date(existing.createdAt),
        };
        const replaced = await replaceOnce(
          this.items,
          toSubscriptionDocument(kept),
          existing._etag ?? "",
          topic.id,
        );
        if (replaced.ok) return { subscription: kept, created: false };
        continue;
      }
      // Counters first: a crash before the subscription exists leaves an unused counter, never an uncounted subscription.
      await retried(() =>
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
      const created = await createOnce(this.items, toSubscriptionDocument(subscription), topic.id);
      if (created.ok) return { subscription, created: true };
      await this.partitions.deleteQuietly(countsDocumentId(subscription.id), topic.id);
    }
    throw new StoreBusyError("unavailable", 100, { cause: new Error("the subscription kept changing") });
  }

  async getSubscription(topic: Topic, name: string): Promise<Subscription | undefined> {
    const resource = await this.partitions.readInTopic<SubscriptionDocument>(
      topic,
      subscriptionDocumentId(name),
    );
    return resource?.kind === "subscription" ? toSubscription(resource) : undefined;
  }

  async listSubscriptions(topic: Topic): Promise<Subscription[]> {
    return (await this.partitions.subscriptionDocuments(topic)).map(toSubscription);
  }

  async deleteSubscription(topic: Topic, name: string): Promise<boolean> {
    const resource = await this.partitions.readInTopic<SubscriptionDocument>(
      topic,
      subscriptionDocumentId(name),
    );
    if (resource?.kind !== "subscription") return false;
    // Found, so it is deleted: by this call, by its retry after a lost answer, or by a concurrent delete.
    await this.partitions.deleteQuietly(resource.id, topic.id);
    await this.partitions.deleteQuietly(countsDocumentId(resource.subscriptionId), topic.id);
    return true;
  }

  async stats(topic: Topic): Promise<TopicCounters> {
    await this.partitions.flushTotals(topic);
    const documents = await this.partitions.queryTopic<MetaDocument | CountsDocument | SubscriptionDocument>(
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

  /** Sends the totals counted here: a process that stops cleanly leaves none uncounted. */
  close(): Promise<void> {
    return this.partitions.closeTotals();
  }

  // Messages, delegated to their module (topic-messages.ts).
  readonly publish: TopicStore["publish"] = (topic, messages) => this.messages.publish(topic, messages);
  readonly pendingMessages: TopicStore["pendingMessages"] = (topic, limit) =>
    this.messages.pendingMessages(topic, limit);
  readonly recordCopies: TopicStore["recordCopies"] = (topic, messageId, outcomes) =>
    this.messages.recordCopies(topic, messageId, outcomes);
  readonly topicsWithPendingCopies: TopicStore["topicsWithPendingCopies"] = (before, limit) =>
    this.messages.topicsWithPendingCopies(before, limit);
  readonly removeExpiredTopicMessages: TopicStore["removeExpiredTopicMessages"] = (now) =>
    this.messages.removeExpiredTopicMessages(now);
}
