import { createHash } from "node:crypto";
import type { TopicAccessEntry } from "./access.js";
import { type DraftMessage, placeMessage } from "./enqueue.js";
import { ok, type Result } from "./errors.js";
import type { Filter } from "./filter.js";
import { LIMITS } from "./limits.js";
import { messageIdIn, partitionFor } from "./partition.js";
import type { Queue } from "./queue.js";

/** A topic fans each published message out to its subscriptions' queues. */
export interface Topic {
  id: string;
  tenantId: string;
  /** Follows the queue name rule; topics and queues have separate namespaces. */
  name: string;
  access: TopicAccessEntry[];
  /** A publish with a dedup key seen this recently is a duplicate. */
  deduplicationWindowSeconds: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Binds a topic to a queue of the same tenant, with an optional filter. */
export interface Subscription {
  /** New for every create (a re-created subscription of the same name is another one): copies are keyed by it. */
  id: string;
  tenantId: string;
  topicId: string;
  name: string;
  queueId: string;
  /** The queue's name when the subscription was written, for display; copies go by `queueId`. */
  queueName: string;
  filter: Filter | null;
  createdAt: Date;
  updatedAt: Date;
}

export const TOPIC_LIMITS = { subscriptions: 100 } as const;

/** The attributes every copy gains (they win over the publisher's own of the same name). */
export const COPY_ATTRIBUTES = {
  topic: "conveyor-topic",
  topicMessageId: "conveyor-topic-message-id",
} as const;

/** What a publish keeps of the message: the body and placement requests, applied per subscription queue. */
export interface TopicMessageContent {
  /** JSON text, as for an enqueue. */
  body: string;
  attributes: Record<string, string>;
  priority?: number;
  delaySeconds?: number;
  groupId?: string;
}

/** One copy a publish owes: decided when it was published, made once. */
export interface PendingCopy {
  subscriptionId: string;
  subscriptionName: string;
  queueId: string;
}

/**
 * A copy's message id: derived from the topic message and the subscription,
 * so making a copy again yields the same id (and the store's unique id per
 * queue refuses a second one). It keeps the topic message's UUIDv7 time
 * prefix, so copies still land at the end of a queue's id index.
 */
export function copyId(topicMessageId: string, subscriptionId: string): string {
  const hash = createHash("sha256").update(`${topicMessageId}\u0000${subscriptionId}`).digest("hex");
  const time = topicMessageId.replaceAll("-", "").slice(0, 12);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-8${hash.slice(0, 3)}-${hash.slice(3, 7)}-${hash.slice(7, 19)}`;
}

/** A copy's dedup key: an enqueue of the same copy inside the queue's window returns the original. */
export const copyDedupKey = (topicMessageId: string, subscriptionId: string): string =>
  `topic:${topicMessageId}:${subscriptionId}`;

/**
 * The message a subscription's queue gets, or why that queue refuses it (the
 * body is over its size limit, a priority on a fifo queue): the same rules as
 * an enqueue, with the topic's attributes added. `now` is when the copy is
 * made, so a delayed copy made late is not delayed twice as long.
 */
export function copyDraft(
  topic: Pick<Topic, "name">,
  message: { id: string; publishedAt: Date } & TopicMessageContent,
  copy: PendingCopy,
  queue: Queue,
  now: Date,
): Result<DraftMessage> {
  const delayLeft = Math.max(
    0,
    (message.delaySeconds ?? 0) - Math.floor((now.getTime() - message.publishedAt.getTime()) / 1000),
  );
  const placed = placeMessage(
    queue,
    { body: message.body, priority: message.priority, delaySeconds: delayLeft, groupId: message.groupId },
    now,
  );
  if (!placed.ok) return placed;
  const dedupKey = copyDedupKey(message.id, copy.subscriptionId);
  // A copy always has a dedup key, so its shard is a hash (never the random spread): made again, it lands where it was.
  const partition = partitionFor(queue, { groupId: placed.value.groupId, dedupKey }, () => 0);
  return ok({
    id: messageIdIn(copyId(message.id, copy.subscriptionId), partition),
    body: message.body,
    attributes: {
      ...message.attributes,
      [COPY_ATTRIBUTES.topic]: topic.name,
      [COPY_ATTRIBUTES.topicMessageId]: message.id,
    },
    ...placed.value,
    dedupKey,
    enqueuedAt: now,
  });
}

export const DEFAULT_TOPIC_DEDUP_WINDOW_SECONDS = LIMITS.deduplicationWindowSeconds.default;
