import { createHash } from "node:crypto";
import { filterJson } from "../../domain/filter.js";
import type { PendingCopy, Subscription, Topic, TopicMessageContent } from "../../domain/topic.js";
import type { TopicMessage } from "../../service/topic-ports.js";
import { storedFilter } from "../shared/subscriptions.js";
import { newWriteId } from "./documents.js";

/**
 * The documents of the Cosmos DB topic store (src/adapters/cosmos/topics.ts)
 * and their mapping to the domain: `topics` holds TopicDocument (partition
 * /tenantId); `topicMessages` holds the rest, in the topic's partition
 * (/topicId). Those written with a precondition (create, replace on the
 * etag) carry `writeId`, fresh for each write, so a write whose answer was
 * lost is recognised as this call's own (documents.ts, resilience.ts).
 */
export interface TopicDocument {
  id: string;
  kind: "topic";
  tenantId: string;
  topicId: string;
  createdAt: number;
  updatedAt: number;
  writeId: string;
  [setting: string]: unknown;
}

/** The topic's totals, in its own partition of `topicMessages`; changed only by `incr` patches. */
export interface MetaDocument {
  id: typeof META_ID;
  kind: "meta";
  topicId: string;
  tenantId: string;
  publishedTotal: number;
  deliveredTotal: number;
  filteredTotal: number;
}

/** A subscription, by name in its topic's partition: publishing reads them all with one in-partition query. */
export interface SubscriptionDocument {
  id: string;
  kind: "subscription";
  topicId: string;
  tenantId: string;
  subscriptionId: string;
  name: string;
  queueId: string;
  queueName: string;
  filter: { attributes: Record<string, unknown> } | null;
  createdAt: number;
  updatedAt: number;
  writeId: string;
  _etag?: string;
}

/**
 * A subscription's counters, by subscription id: a subscription re-created
 * under the same name is another one and starts from zero, and the copies a
 * deleted one is still owed count nowhere (the patch finds no document).
 */
export interface CountsDocument {
  id: string;
  kind: "counts";
  topicId: string;
  tenantId: string;
  deliveredTotal: number;
  undeliverableTotal: number;
  lastError: string | null;
}

/** Claims a dedup key for a window: its id derives from the key, so a second claim's create conflicts. */
export interface DedupDocument {
  id: string;
  kind: "dedup";
  topicId: string;
  tenantId: string;
  messageId: string;
  windowEndsAt: number;
  ttl: number;
  writeId: string;
  _etag?: string;
}

/**
 * A published message with the copies it owes (`pending`). `owing` is the
 * indexed flag the fan-out and the safety net query; once it is false the
 * item's TTL removes it when its dedup window has passed (housekeeping
 * removes it by `removeAt` where TTL is not enforced).
 */
export interface TopicMessageDocument extends TopicMessageContent {
  id: string;
  kind: "message";
  topicId: string;
  tenantId: string;
  dedupKey: string | null;
  publishedAt: number;
  sequence: number;
  copies: PendingCopy[];
  pending: PendingCopy[];
  owing: boolean;
  filtered: number;
  /** When its dedup window ends: the earliest it may be removed, once it owes nothing. */
  removeAt: number;
  ttl?: number;
  writeId: string;
  _etag?: string;
}

export const META_ID = "meta";
export const subscriptionDocumentId = (name: string) => `subscription:${name}`;
export const countsDocumentId = (subscriptionId: string) => `counts:${subscriptionId}`;
export const dedupDocumentId = (dedupKey: string) =>
  `dedup-${createHash("sha256").update(dedupKey).digest("base64url")}`;

export function toTopic(document: TopicDocument): Topic {
  const {
    id,
    kind,
    tenantId,
    topicId,
    createdAt,
    updatedAt,
    writeId,
    _rid,
    _self,
    _etag,
    _attachments,
    _ts,
    ...settings
  } = document;
  return {
    ...(settings as Pick<Topic, "access" | "deduplicationWindowSeconds">),
    id: topicId,
    tenantId,
    name: id,
    createdAt: new Date(createdAt),
    updatedAt: new Date(updatedAt),
  };
}

export function toTopicDocument(topic: Topic): TopicDocument {
  const { id, tenantId, name, createdAt, updatedAt, ...settings } = topic;
  return {
    ...settings,
    id: name,
    kind: "topic",
    tenantId,
    topicId: id,
    createdAt: createdAt.getTime(),
    updatedAt: updatedAt.getTime(),
    writeId: newWriteId(),
  };
}

export function toSubscription(document: SubscriptionDocument): Subscription {
  const { subscriptionId, tenantId, topicId, name, queueId, queueName, filter, createdAt, updatedAt } =
    document;
  return {
    id: subscriptionId,
    tenantId,
    topicId,
    name,
    queueId,
    queueName,
    filter: storedFilter(filter, subscriptionId),
    createdAt: new Date(createdAt),
    updatedAt: new Date(updatedAt),
  };
}

export function toSubscriptionDocument(subscription: Subscription): SubscriptionDocument {
  return {
    id: subscriptionDocumentId(subscription.name),
    kind: "subscription",
    topicId: subscription.topicId,
    tenantId: subscription.tenantId,
    subscriptionId: subscription.id,
    name: subscription.name,
    queueId: subscription.queueId,
    queueName: subscription.queueName,
    filter: subscription.filter === null ? null : filterJson(subscription.filter),
    createdAt: subscription.createdAt.getTime(),
    updatedAt: subscription.updatedAt.getTime(),
    writeId: newWriteId(),
  };
}

export function toTopicMessage(document: TopicMessageDocument): TopicMessage {
  return {
    id: document.id,
    tenantId: document.tenantId,
    topicId: document.topicId,
    body: document.body,
    attributes: document.attributes,
    ...(document.priority === undefined ? {} : { priority: document.priority }),
    ...(document.delaySeconds === undefined ? {} : { delaySeconds: document.delaySeconds }),
    ...(document.groupId === undefined ? {} : { groupId: document.groupId }),
    dedupKey: document.dedupKey,
    publishedAt: new Date(document.publishedAt),
    sequence: document.sequence,
    copies: document.copies,
    pending: document.pending,
    filtered: document.filtered,
  };
}

/** A change-feed document of `topicMessages` as a message that still owes copies; other documents are not. */
export function owingMessageFromDocument(document: unknown): TopicMessage | undefined {
  const candidate = document as Partial<TopicMessageDocument> | null;
  return candidate?.kind === "message" && candidate.owing === true
    ? toTopicMessage(candidate as TopicMessageDocument)
    : undefined;
}

/** Seconds of item TTL that remove a message that owes nothing once its dedup window has passed (at least 1). */
export const ttlUntil = (removeAt: number, now: number) => Math.max(1, Math.ceil((removeAt - now) / 1000));

export const emptyMeta = ({ id, tenantId }: Pick<Topic, "id" | "tenantId">): MetaDocument => ({
  id: META_ID,
  kind: "meta",
  topicId: id,
  tenantId,
  publishedTotal: 0,
  deliveredTotal: 0,
  filteredTotal: 0,
});
