import type { Result } from "../domain/errors.js";
import type { PendingCopy, Subscription, Topic, TopicMessageContent } from "../domain/topic.js";
import type { Page, PageRequest } from "./ports.js";

/**
 * The durable home of topics, subscriptions and published topic messages
 * (src/adapters/sqlite/topics.ts, src/adapters/cosmos/topics.ts). Every call
 * is scoped by the topic's tenant. Each method is atomic on its own unless its
 * comment says otherwise; the counters below change only in the same atomic
 * write that records what they count, so a retried call never counts twice.
 */
export interface TopicStore {
  /** Fails with `conflict` when the tenant already has a topic of that name. */
  createTopic(topic: Topic): Promise<Result<Topic>>;
  getTopic(tenantId: string, name: string): Promise<Topic | undefined>;
  /** A topic by its id (a topic message, as the change feed carries it, names its topic by id). */
  getTopicById(tenantId: string, topicId: string): Promise<Topic | undefined>;
  /** Topics in name order; a malformed cursor fails with `validation_failed`. */
  listTopics(tenantId: string, page: PageRequest): Promise<Result<Page<Topic>>>;
  /**
   * Removes the topic with its subscriptions and topic messages; never a
   * subscribed queue or a copy already made. Not atomic on Cosmos DB (one
   * partition, but possibly more than one batch): a topic that cannot be got
   * any more is gone for every route.
   */
  deleteTopic(topic: Topic): Promise<void>;

  /**
   * Creates or replaces the subscription of that name (the replacement keeps
   * its counters). `created` says which; atomic.
   */
  putSubscription(
    topic: Topic,
    subscription: Subscription,
  ): Promise<{ subscription: Subscription; created: boolean }>;
  getSubscription(topic: Topic, name: string): Promise<Subscription | undefined>;
  /** Every subscription of the topic (at most TOPIC_LIMITS.subscriptions), in name order. */
  listSubscriptions(topic: Topic): Promise<Subscription[]>;
  /** False when there was none. Copies a publish already owes it are still made (the promise holds). */
  deleteSubscription(topic: Topic, name: string): Promise<boolean>;

  /** The topic's counters and those of each current subscription, by subscription id. */
  stats(topic: Topic): Promise<TopicCounters>;

  /**
   * Stores published messages, in order, each atomically with its
   * deduplication: when a message with the same `dedupKey` was published to
   * the topic less than `topic.deduplicationWindowSeconds` before its
   * `publishedAt` (an earlier item of the same call included), nothing is
   * written and that original comes back with `duplicate: true`. Otherwise the
   * message gets the topic's next `sequence` (so a call's items keep their
   * order), `publishedTotal` counts it and `filteredTotal` counts `filtered`,
   * in the same atomic write. One result per message, in order.
   *
   * A store may make the copies in that same transaction (SQLite does, with
   * `domain/topic.ts#copyDraft`, and answers with `pending` empty and the
   * outcomes in `made`); one that cannot (Cosmos DB) keeps them pending and
   * answers with `made` empty, and the service makes them with
   * `pendingMessages` and `recordCopies`. Either way the answer comes only
   * once the message is durable.
   */
  publish(topic: Topic, messages: NewTopicMessage[]): Promise<Published[]>;

  /**
   * Messages of the topic that still owe copies, lowest `sequence` first (the
   * order copies must be made in, so fifo subscription queues keep each
   * group's publish order).
   */
  pendingMessages(topic: Topic, limit: number): Promise<TopicMessage[]>;
  /**
   * Marks copies made (or refused) and counts them, atomically per message:
   * only outcomes for copies still pending change anything, so a fan-out
   * repeated by the change feed, the inline attempt and the safety net counts
   * each copy once. Counts `deliveredTotal` on the topic and, for a delivered
   * or refused copy, `deliveredTotal` or `undeliverableTotal` and `lastError`
   * on its subscription (when it still exists).
   */
  recordCopies(topic: Topic, messageId: string, outcomes: CopyOutcome[]): Promise<void>;
  /** Topics, across tenants, with messages still owing copies published before `before`: for the safety net only. */
  topicsWithPendingCopies(before: Date, limit: number): Promise<Topic[]>;
  /** Forgets topic messages that owe nothing and whose dedup window has passed; returns how many. */
  removeExpiredTopicMessages(now: Date): Promise<number>;
  /** Writes what the store holds in memory (totals not yet sent); called before the queue store closes. */
  close(): Promise<void>;
}

/** What the service decided for a publish; the store assigns `sequence`. */
export interface NewTopicMessage extends TopicMessageContent {
  id: string;
  /** From `deduplicationId` or the `Idempotency-Key` header; null does not deduplicate. */
  dedupKey: string | null;
  publishedAt: Date;
  /** The copies owed: one per subscription whose filter matched at publish time. */
  copies: PendingCopy[];
  /** How many subscriptions' filters did not match. */
  filtered: number;
}

export interface TopicMessage extends NewTopicMessage {
  tenantId: string;
  topicId: string;
  /** Increases with every message the topic takes, in the order they were published. */
  sequence: number;
  /** The copies not made yet; empty once every copy is made or refused. */
  pending: PendingCopy[];
}

export interface Published {
  message: TopicMessage;
  duplicate: boolean;
  /** The copies this publish made itself (a store that copies in the publish's transaction); empty otherwise. */
  made: CopyOutcome[];
}

export type CopyOutcome =
  | { subscriptionId: string; delivered: true }
  /** The queue refused the copy (deleted, too big, priority on fifo): `error` is the reason shown as `lastError`. */
  | { subscriptionId: string; delivered: false; error: string };

export interface TopicStats {
  publishedTotal: number;
  /** Copies made into subscription queues. */
  deliveredTotal: number;
  /** Copies a filter did not match. */
  filteredTotal: number;
}

export interface SubscriptionStats {
  deliveredTotal: number;
  undeliverableTotal: number;
  lastError: string | null;
}

export interface TopicCounters {
  topic: TopicStats;
  /** By subscription id; a subscription without copies yet has zeros. */
  subscriptions: ReadonlyMap<string, SubscriptionStats>;
}
