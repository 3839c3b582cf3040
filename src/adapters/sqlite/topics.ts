import type { Database } from "better-sqlite3";
import { fail, ok, type Result } from "../../domain/errors.js";
import { filterJson } from "../../domain/filter.js";
import type { Queue } from "../../domain/queue.js";
import { addSeconds } from "../../domain/time.js";
import { copyDraft, type PendingCopy, type Subscription, type Topic } from "../../domain/topic.js";
import type { Page, PageRequest } from "../../service/ports.js";
import type {
  CopyOutcome,
  NewTopicMessage,
  Published,
  TopicCounters,
  TopicMessage,
  TopicStats,
  TopicStore,
} from "../../service/topic-ports.js";
import { BY_NAME, readPage } from "../shared/pages.js";
import type { SqliteStore } from "./store.js";
import {
  type SubscriptionCountersRow,
  type SubscriptionRow,
  type TopicMessageRow,
  type TopicRow,
  type TopicSettings,
  toSubscription,
  toTopic,
  toTopicMessage,
} from "./topic-rows.js";

/**
 * Topics in the local host's SQLite file, written through the queue store's
 * group committer: a publish, its deduplication, its copies into the
 * subscription queues (`SqliteStore.enqueueWithin`) and every counter commit
 * in one transaction, so no copy is ever pending here and a crash loses
 * either the whole publish (never answered) or nothing.
 */
export class SqliteTopicStore implements TopicStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly store: SqliteStore) {
    this.sql = prepare(store.database);
  }

  createTopic(topic: Topic): Promise<Result<Topic>> {
    return this.store.inTransaction(() => {
      if (this.sql.topicByName.get(topic.tenantId, topic.name)) {
        return fail("conflict", `a topic named "${topic.name}" already exists`);
      }
      const settings: TopicSettings = {
        access: topic.access,
        deduplicationWindowSeconds: topic.deduplicationWindowSeconds,
      };
      this.sql.insertTopic.run(
        topic.id,
        topic.tenantId,
        topic.name,
        JSON.stringify(settings),
        topic.createdAt.getTime(),
        topic.updatedAt.getTime(),
      );
      return ok(topic);
    });
  }

  async getTopic(tenantId: string, name: string): Promise<Topic | undefined> {
    const row = this.sql.topicByName.get(tenantId, name) as TopicRow | undefined;
    return row && toTopic(row);
  }

  async getTopicById(tenantId: string, topicId: string): Promise<Topic | undefined> {
    const row = this.sql.topicById.get(topicId, tenantId) as TopicRow | undefined;
    return row && toTopic(row);
  }

  listTopics(tenantId: string, page: PageRequest): Promise<Result<Page<Topic>>> {
    return readPage(page, BY_NAME, ([after], count) =>
      (this.sql.listTopics.all(tenantId, after, count) as TopicRow[]).map(toTopic),
    );
  }

  async deleteTopic(topic: Topic): Promise<void> {
    await this.store.inTransaction(() => {
      this.sql.deleteTopicMessages.run(topic.id, topic.tenantId);
      this.sql.deleteSubscriptions.run(topic.id, topic.tenantId);
      this.sql.deleteTopic.run(topic.id, topic.tenantId);
    });
  }

  putSubscription(
    topic: Topic,
    subscription: Subscription,
  ): Promise<{ subscription: Subscription; created: boolean }> {
    return this.store.inTransaction(() => {
      const existing = this.sql.subscription.get(topic.id, subscription.name, topic.tenantId) as
        | SubscriptionRow
        | undefined;
      const filter = subscription.filter === null ? null : JSON.stringify(filterJson(subscription.filter));
      if (existing) {
        this.sql.replaceSubscription.run(
          subscription.queueId,
          subscription.queueName,
          filter,
          subscription.updatedAt.getTime(),
          topic.id,
          subscription.name,
        );
        const kept = { ...subscription, id: existing.id, createdAt: new Date(existing.created_at) };
        return { subscription: kept, created: false };
      }
      this.sql.insertSubscription.run(
        topic.id,
        subscription.name,
        subscription.id,
        topic.tenantId,
        subscription.queueId,
        subscription.queueName,
        filter,
        subscription.createdAt.getTime(),
        subscription.updatedAt.getTime(),
      );
      return { subscription, created: true };
    });
  }

  async getSubscription(topic: Topic, name: string): Promise<Subscription | undefined> {
    const row = this.sql.subscription.get(topic.id, name, topic.tenantId) as SubscriptionRow | undefined;
    return row && toSubscription(row);
  }

  async listSubscriptions(topic: Topic): Promise<Subscription[]> {
    return (this.sql.subscriptions.all(topic.id, topic.tenantId) as SubscriptionRow[]).map(toSubscription);
  }

  deleteSubscription(topic: Topic, name: string): Promise<boolean> {
    return this.store.inTransaction(
      () => this.sql.deleteSubscription.run(topic.id, name, topic.tenantId).changes > 0,
    );
  }

  /** The statements name the counters as the port does; a topic deleted meanwhile counts zeros. */
  async stats(topic: Topic): Promise<TopicCounters> {
    const totals = this.sql.topicTotals.get(topic.id, topic.tenantId) as TopicStats | undefined;
    const counters = this.sql.subscriptionCounters.all(topic.id, topic.tenantId) as SubscriptionCountersRow[];
    return {
      topic: totals ?? { publishedTotal: 0, deliveredTotal: 0, filteredTotal: 0 },
      subscriptions: new Map(counters.map(({ id, ...counts }) => [id, counts])),
    };
  }

  async publish(topic: Topic, messages: NewTopicMessage[]): Promise<Published[]> {
    // Queues are read before the transaction (the store's cache makes it cheap) and checked again inside it.
    const queues = new Map<string, Queue>();
    for (const queueId of new Set(
      messages.flatMap((message) => message.copies.map((copy) => copy.queueId)),
    )) {
      const queue = await this.store.getQueueById(topic.tenantId, queueId);
      if (queue) queues.set(queueId, queue);
    }
    return this.store.inTransaction(() => messages.map((message) => this.publishOne(topic, message, queues)));
  }

  /** Runs inside the write transaction. */
  private publishOne(topic: Topic, message: NewTopicMessage, queues: Map<string, Queue>): Published {
    if (message.dedupKey !== null) {
      const since = message.publishedAt.getTime() - topic.deduplicationWindowSeconds * 1000;
      const original = this.sql.latestByDedupKey.get(topic.id, topic.tenantId, message.dedupKey, since) as
        | TopicMessageRow
        | undefined;
      if (original) return { message: toTopicMessage(original), duplicate: true, made: [] };
    }
    const { next_sequence: next } = this.sql.takeTopicSequence.get(message.filtered, topic.id) as {
      next_sequence: number;
    };
    const made = message.copies.map((copy) => this.makeCopy(topic, message, copy, queues.get(copy.queueId)));
    const { copies: _copies, filtered: _filtered, id, dedupKey, publishedAt, ...content } = message;
    this.sql.insertTopicMessage.run(
      topic.id,
      next - 1,
      id,
      topic.tenantId,
      dedupKey,
      publishedAt.getTime(),
      JSON.stringify(content),
      JSON.stringify(message.copies),
      message.filtered,
      addSeconds(publishedAt, topic.deduplicationWindowSeconds).getTime(),
    );
    this.count(topic, message.copies, made);
    const stored: TopicMessage = {
      ...message,
      tenantId: topic.tenantId,
      topicId: topic.id,
      sequence: next - 1,
      pending: [],
    };
    return { message: stored, duplicate: false, made };
  }

  private makeCopy(
    topic: Topic,
    message: NewTopicMessage,
    copy: PendingCopy,
    queue: Queue | undefined,
  ): CopyOutcome {
    if (!queue || !this.sql.queueExists.get(queue.id, topic.tenantId)) {
      return {
        subscriptionId: copy.subscriptionId,
        delivered: false,
        error: "queue_not_found: the queue is gone",
      };
    }
    const draft = copyDraft(topic, message, copy, queue, message.publishedAt);
    if (!draft.ok) {
      return {
        subscriptionId: copy.subscriptionId,
        delivered: false,
        error: `${draft.error.code}: ${draft.error.detail}`,
      };
    }
    this.store.enqueueWithin(queue, [draft.value]);
    return { subscriptionId: copy.subscriptionId, delivered: true };
  }

  private count(topic: Topic, copies: PendingCopy[], outcomes: CopyOutcome[]): void {
    const delivered = outcomes.filter((outcome) => outcome.delivered).length;
    if (delivered > 0) this.sql.countTopicDelivered.run(delivered, topic.id);
    for (const outcome of outcomes) {
      const copy = copies.find((candidate) => candidate.subscriptionId === outcome.subscriptionId);
      if (!copy) continue;
      if (outcome.delivered)
        this.sql.countSubscriptionDelivered.run(topic.id, copy.subscriptionName, copy.subscriptionId);
      else
        this.sql.countUndeliverable.run(outcome.error, topic.id, copy.subscriptionName, copy.subscriptionId);
    }
  }

  async pendingMessages(topic: Topic, limit: number): Promise<TopicMessage[]> {
    return (this.sql.pendingOfTopic.all(topic.id, topic.tenantId, limit) as TopicMessageRow[]).map(
      toTopicMessage,
    );
  }

  recordCopies(topic: Topic, messageId: string, outcomes: CopyOutcome[]): Promise<void> {
    return this.store.inTransaction(() => {
      const row = this.sql.topicMessageById.get(topic.id, messageId, topic.tenantId) as
        | TopicMessageRow
        | undefined;
      if (!row) return;
      const message = toTopicMessage(row);
      const fresh = outcomes.filter((outcome) =>
        message.pending.some((copy) => copy.subscriptionId === outcome.subscriptionId),
      );
      if (fresh.length === 0) return;
      const pending = message.pending.filter(
        (copy) => !fresh.some((outcome) => outcome.subscriptionId === copy.subscriptionId),
      );
      this.sql.setPending.run(JSON.stringify(pending), pending.length, topic.id, row.sequence);
      this.count(topic, message.pending, fresh);
    });
  }

  async topicsWithPendingCopies(before: Date, limit: number): Promise<Topic[]> {
    return (this.sql.topicsWithPending.all(before.getTime(), limit) as TopicRow[]).map(toTopic);
  }

  removeExpiredTopicMessages(now: Date): Promise<number> {
    return this.store.inTransaction(() => this.sql.removeExpired.run(now.getTime()).changes);
  }

  /** Nothing is held in memory: every write commits in the file, which the queue store closes. */
  async close(): Promise<void> {}
}

function prepare(db: Database) {
  return {
    insertTopic: db.prepare(
      "INSERT INTO topics (id, tenant_id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    topicByName: db.prepare("SELECT * FROM topics WHERE tenant_id = ? AND name = ?"),
    topicById: db.prepare("SELECT * FROM topics WHERE id = ? AND tenant_id = ?"),
    listTopics: db.prepare("SELECT * FROM topics WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?"),
    deleteTopic: db.prepare("DELETE FROM topics WHERE id = ? AND tenant_id = ?"),
    deleteSubscriptions: db.prepare("DELETE FROM subscriptions WHERE topic_id = ? AND tenant_id = ?"),
    deleteTopicMessages: db.prepare("DELETE FROM topic_messages WHERE topic_id = ? AND tenant_id = ?"),
    subscription: db.prepare("SELECT * FROM subscriptions WHERE topic_id = ? AND name = ? AND tenant_id = ?"),
    subscriptions: db.prepare(
      "SELECT * FROM subscriptions WHERE topic_id = ? AND tenant_id = ? ORDER BY name",
    ),
    topicTotals: db.prepare(
      `SELECT published_total AS publishedTotal, delivered_total AS deliveredTotal, filtered_total AS filteredTotal
       FROM topics WHERE id = ? AND tenant_id = ?`,
    ),
    subscriptionCounters: db.prepare(
      `SELECT id, delivered_total AS deliveredTotal, undeliverable_total AS undeliverableTotal, last_error AS lastError
       FROM subscriptions WHERE topic_id = ? AND tenant_id = ? ORDER BY name`,
    ),
    insertSubscription: db.prepare(
      `INSERT INTO subscriptions (topic_id, name, id, tenant_id, queue_id, queue_name, filter, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    replaceSubscription: db.prepare(
      `UPDATE subscriptions SET queue_id = ?, queue_name = ?, filter = ?, updated_at = ?
       WHERE topic_id = ? AND name = ?`,
    ),
    deleteSubscription: db.prepare(
      "DELETE FROM subscriptions WHERE topic_id = ? AND name = ? AND tenant_id = ?",
    ),
    queueExists: db.prepare("SELECT 1 FROM queues WHERE id = ? AND tenant_id = ?"),
    latestByDedupKey: db.prepare(
      `SELECT * FROM topic_messages WHERE topic_id = ? AND tenant_id = ? AND dedup_key = ? AND published_at > ?
       ORDER BY published_at DESC LIMIT 1`,
    ),
    takeTopicSequence: db.prepare(
      `UPDATE topics SET next_sequence = next_sequence + 1, published_total = published_total + 1,
       filtered_total = filtered_total + ? WHERE id = ? RETURNING next_sequence`,
    ),
    insertTopicMessage: db.prepare(
      `INSERT INTO topic_messages (topic_id, sequence, id, tenant_id, dedup_key, published_at, content, copies,
       pending, pending_count, filtered, remove_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', 0, ?, ?)`,
    ),
    countTopicDelivered: db.prepare("UPDATE topics SET delivered_total = delivered_total + ? WHERE id = ?"),
    countSubscriptionDelivered: db.prepare(
      "UPDATE subscriptions SET delivered_total = delivered_total + 1 WHERE topic_id = ? AND name = ? AND id = ?",
    ),
    countUndeliverable: db.prepare(
      `UPDATE subscriptions SET undeliverable_total = undeliverable_total + 1, last_error = ?
       WHERE topic_id = ? AND name = ? AND id = ?`,
    ),
    pendingOfTopic: db.prepare(
      "SELECT * FROM topic_messages WHERE topic_id = ? AND tenant_id = ? AND pending_count > 0 ORDER BY sequence LIMIT ?",
    ),
    topicMessageById: db.prepare(
      "SELECT * FROM topic_messages WHERE topic_id = ? AND id = ? AND tenant_id = ?",
    ),
    setPending: db.prepare(
      "UPDATE topic_messages SET pending = ?, pending_count = ? WHERE topic_id = ? AND sequence = ?",
    ),
    topicsWithPending: db.prepare(
      `SELECT * FROM topics WHERE id IN
       (SELECT DISTINCT topic_id FROM topic_messages WHERE pending_count > 0 AND published_at < ?) LIMIT ?`,
    ),
    removeExpired: db.prepare("DELETE FROM topic_messages WHERE pending_count = 0 AND remove_at <= ?"),
  };
}
