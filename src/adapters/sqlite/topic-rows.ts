import type { TopicAccessEntry } from "../../domain/access.js";
import type { PendingCopy, Subscription, Topic } from "../../domain/topic.js";
import type { SubscriptionStats, TopicMessage } from "../../service/topic-ports.js";
import { storedFilter } from "../shared/subscriptions.js";

/** The rows of the topic tables as SQLite returns them, and the domain values they map to. */

export interface TopicRow {
  id: string;
  tenant_id: string;
  name: string;
  settings: string;
  created_at: number;
  updated_at: number;
  published_total: number;
  delivered_total: number;
  filtered_total: number;
}

export interface SubscriptionRow {
  topic_id: string;
  name: string;
  id: string;
  tenant_id: string;
  queue_id: string;
  queue_name: string;
  filter: string | null;
  created_at: number;
  updated_at: number;
  delivered_total: number;
  undeliverable_total: number;
  last_error: string | null;
}

/** A subscription's counters, selected under the port's names. */
export interface SubscriptionCountersRow extends SubscriptionStats {
  id: string;
}

export interface TopicMessageRow {
  topic_id: string;
  sequence: number;
  id: string;
  tenant_id: string;
  dedup_key: string | null;
  published_at: number;
  content: string;
  copies: string;
  pending: string;
  filtered: number;
}

export interface TopicSettings {
  access: TopicAccessEntry[];
  deduplicationWindowSeconds: number;
}

export const toTopic = (row: TopicRow): Topic => {
  const settings = JSON.parse(row.settings) as TopicSettings;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    access: settings.access,
    deduplicationWindowSeconds: settings.deduplicationWindowSeconds,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
};

export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    topicId: row.topic_id,
    name: row.name,
    queueId: row.queue_id,
    queueName: row.queue_name,
    filter: storedFilter(row.filter === null ? null : JSON.parse(row.filter), row.id),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function toTopicMessage(row: TopicMessageRow): TopicMessage {
  return {
    ...(JSON.parse(row.content) as Pick<
      TopicMessage,
      "body" | "attributes" | "priority" | "delaySeconds" | "groupId"
    >),
    id: row.id,
    tenantId: row.tenant_id,
    topicId: row.topic_id,
    sequence: row.sequence,
    dedupKey: row.dedup_key,
    publishedAt: new Date(row.published_at),
    copies: JSON.parse(row.copies) as PendingCopy[],
    pending: JSON.parse(row.pending) as PendingCopy[],
    filtered: row.filtered,
  };
}
