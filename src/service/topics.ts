import { randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import {
  holdsTopicGrant,
  isAdmin,
  type Principal,
  TOPIC_GRANTS,
  type TopicAccessEntry,
  type TopicGrant,
} from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { type Filter, matches, parseFilter } from "../domain/filter.js";
import { LIMITS } from "../domain/limits.js";
import {
  COPY_ATTRIBUTES,
  DEFAULT_TOPIC_DEDUP_WINDOW_SECONDS,
  type PendingCopy,
  type Subscription,
  TOPIC_LIMITS,
  type Topic,
} from "../domain/topic.js";
import { openQueue, type ServiceContext } from "./context.js";
import { announce, makeCopiesInline } from "./fan-out.js";
import type { EnqueueInput } from "./messages.js";
import type { EventSink } from "./ports.js";
import { listingOf, type Opener, opener, useCaseOn } from "./resources.js";
import type { NewTopicMessage, SubscriptionStats, TopicStats, TopicStore } from "./topic-ports.js";

export { makeOverdueCopies, makePendingCopies } from "./fan-out.js";

/** What the topic use cases need: the queue service's context, the topic store, and where live events go. */
export interface TopicContext {
  service: ServiceContext;
  topics: TopicStore;
  events: EventSink;
}

export interface CreateTopicInput {
  name: string;
  access?: TopicAccessEntry[];
  deduplicationWindowSeconds?: number;
}

/** Creating a topic needs the admin role: API keys' grants name queues, not topics. */
export async function createTopic(
  context: TopicContext,
  principal: Principal,
  input: CreateTopicInput,
): Promise<Result<Topic>> {
  if (!isAdmin(principal)) return fail("forbidden", "creating a topic needs the admin role");
  const now = context.service.clock.now();
  return context.topics.createTopic({
    id: `t_${randomUUID().replaceAll("-", "")}`,
    tenantId: principal.tenantId,
    name: input.name,
    access: input.access ?? [],
    deduplicationWindowSeconds: input.deduplicationWindowSeconds ?? DEFAULT_TOPIC_DEDUP_WINDOW_SECONDS,
    createdAt: now,
    updatedAt: now,
  });
}

/** Opens a topic of the caller's tenant with a grant (see `Opener`: another tenant's is not found, as for queues). */
export const openTopic: Opener<TopicContext, Topic, TopicGrant> = opener(
  "topic",
  (context: TopicContext, tenantId, name) => context.topics.getTopic(tenantId, name),
  holdsTopicGrant,
);

const topicUseCase = useCaseOn(openTopic);

/** The tenant's topics on which the caller holds any grant (all of them for an admin). */
export const listTopics = listingOf(
  (context: TopicContext, tenantId, page) => context.topics.listTopics(tenantId, page),
  (principal, topic: Topic) => TOPIC_GRANTS.some((grant) => holdsTopicGrant(principal, topic, grant)),
);

export interface SubscriptionView {
  subscription: Subscription;
  stats: SubscriptionStats;
}

export interface TopicView {
  topic: Topic;
  stats: TopicStats;
  subscriptions: SubscriptionView[];
  grants: TopicGrant[];
}

const subscriptionNotFound = (name: string) =>
  fail("subscription_not_found", `no subscription named "${name}" on this topic`);

const NO_STATS: SubscriptionStats = { deliveredTotal: 0, undeliverableTotal: 0, lastError: null };

export const getTopic = topicUseCase(
  "read",
  async (topic, { context, principal }): Promise<Result<TopicView>> => {
    const [subscriptions, counters] = await Promise.all([
      context.topics.listSubscriptions(topic),
      context.topics.stats(topic),
    ]);
    return ok({
      topic,
      stats: counters.topic,
      subscriptions: subscriptions.map((subscription) => ({
        subscription,
        stats: counters.subscriptions.get(subscription.id) ?? NO_STATS,
      })),
      grants: TOPIC_GRANTS.filter((grant) => holdsTopicGrant(principal, topic, grant)),
    });
  },
);

/** Removes the topic and its subscriptions; the subscribed queues keep what they hold. */
export const deleteTopic = topicUseCase("manage", async (topic, { context }): Promise<Result<void>> => {
  await context.topics.deleteTopic(topic);
  return ok(undefined);
});

export interface PutSubscriptionInput {
  queue: string;
  /** The filter's JSON form; checked here, with the path of any bad part. */
  filter?: unknown;
}

/** Creates or replaces a subscription: `manage` on the topic and on the target queue. */
export async function putSubscription(
  context: TopicContext,
  principal: Principal,
  topicName: string,
  name: string,
  input: PutSubscriptionInput,
): Promise<Result<{ view: SubscriptionView; created: boolean }>> {
  if (!LIMITS.queueName.test(name)) {
    return fail("validation_failed", "not a valid subscription name", {
      errors: [{ path: "name", message: "follows the queue name rule" }],
    });
  }
  const topic = await openTopic(context, principal, topicName, "manage");
  if (!topic.ok) return topic;
  const queue = await openQueue(context.service, principal, input.queue, "manage");
  if (!queue.ok) return queue;
  let filter: Filter | null = null;
  if (input.filter !== undefined && input.filter !== null) {
    const parsed = parseFilter(input.filter);
    if (!parsed.ok) return parsed;
    filter = parsed.value;
  }
  const existing = await context.topics.listSubscriptions(topic.value);
  if (existing.length >= TOPIC_LIMITS.subscriptions && !existing.some((sub) => sub.name === name)) {
    return fail("conflict", `a topic has at most ${TOPIC_LIMITS.subscriptions} subscriptions`);
  }
  const now = context.service.clock.now();
  const { subscription, created } = await context.topics.putSubscription(topic.value, {
    id: `s_${randomUUID().replaceAll("-", "")}`,
    tenantId: principal.tenantId,
    topicId: topic.value.id,
    name,
    queueId: queue.value.id,
    queueName: queue.value.name,
    filter,
    createdAt: now,
    updatedAt: now,
  });
  const counters = await context.topics.stats(topic.value);
  return ok({
    view: { subscription, stats: counters.subscriptions.get(subscription.id) ?? NO_STATS },
    created,
  });
}

export const getSubscription = topicUseCase(
  "read",
  async (topic, { context }, subscriptionName: string): Promise<Result<SubscriptionView>> => {
    const subscription = await context.topics.getSubscription(topic, subscriptionName);
    if (!subscription) return subscriptionNotFound(subscriptionName);
    const counters = await context.topics.stats(topic);
    return ok({ subscription, stats: counters.subscriptions.get(subscription.id) ?? NO_STATS });
  },
);

export async function listSubscriptions(
  context: TopicContext,
  principal: Principal,
  topicName: string,
): Promise<Result<SubscriptionView[]>> {
  const view = await getTopic(context, principal, topicName);
  return view.ok ? ok(view.value.subscriptions) : view;
}

/** Messages published afterwards no longer reach the queue; copies an earlier publish owes are still made. */
export const deleteSubscription = topicUseCase(
  "manage",
  async (topic, { context }, subscriptionName: string): Promise<Result<void>> =>
    (await context.topics.deleteSubscription(topic, subscriptionName))
      ? ok(undefined)
      : subscriptionNotFound(subscriptionName),
);

export interface PublishOutcome {
  messageId: string;
  /** How many subscriptions' filters matched (for a duplicate: when the original was published). */
  subscriptions: number;
  duplicate: boolean;
}

/**
 * Publishes each message on its own (one store call for all of them, in
 * order): the outer result fails only when the topic cannot be used; each
 * item is new, a duplicate inside the topic's window, or refused by itself.
 * Answered once the messages are durable; the copies are made in the same
 * transaction (SQLite) or right after, here (Cosmos DB, where the change feed
 * and the safety net make whatever this attempt could not).
 */
export const publish = topicUseCase(
  "publish",
  async (
    topic,
    { context },
    inputs: EnqueueInput[],
    idempotencyKey?: string,
  ): Promise<Result<Result<PublishOutcome>[]>> => {
    const subscriptions = await context.topics.listSubscriptions(topic);
    const now = context.service.clock.now();
    const drafts = inputs.map((input) =>
      draftTopicMessage(input, subscriptions, now, inputs.length === 1 ? idempotencyKey : undefined),
    );
    const valid = drafts.flatMap((draft) => (draft.ok ? [draft.value] : []));
    const stored = valid.length > 0 ? await context.topics.publish(topic, valid) : [];
    let pending = false;
    for (const { message, duplicate, made } of stored) {
      if (duplicate) continue;
      announce(context, topic, message, made);
      pending ||= message.pending.length > 0;
    }
    if (pending) await makeCopiesInline(context, topic);
    let next = 0;
    return ok(
      drafts.map((draft) => {
        if (!draft.ok) return draft;
        const { message, duplicate } = stored[next++] as (typeof stored)[number];
        return ok({ messageId: message.id, subscriptions: message.copies.length, duplicate });
      }),
    );
  },
);

function draftTopicMessage(
  input: EnqueueInput,
  subscriptions: Subscription[],
  now: Date,
  idempotencyKey: string | undefined,
): Result<NewTopicMessage> {
  const bytes = Buffer.byteLength(input.bodyJson);
  if (bytes > LIMITS.maxMessageBytes.max) {
    return fail(
      "payload_too_large",
      `the body is ${bytes} bytes; a topic takes at most ${LIMITS.maxMessageBytes.max}`,
    );
  }
  const attributes = input.attributes ?? {};
  const reserved = Object.values(COPY_ATTRIBUTES).find((name) => Object.hasOwn(attributes, name));
  if (reserved) {
    return fail("validation_failed", `the attribute "${reserved}" is set by the topic`, {
      errors: [{ path: `attributes.${reserved}`, message: "reserved" }],
    });
  }
  const matched = subscriptions.filter((subscription) => matches(subscription.filter, attributes));
  const dedup = input.deduplicationId ?? idempotencyKey;
  return ok({
    id: uuidv7(),
    body: input.bodyJson,
    attributes,
    ...(input.priority !== undefined ? { priority: input.priority } : {}),
    ...(input.delaySeconds !== undefined ? { delaySeconds: input.delaySeconds } : {}),
    ...(input.groupId !== undefined ? { groupId: input.groupId } : {}),
    dedupKey: dedup === undefined ? null : `id:${dedup}`,
    publishedAt: now,
    copies: matched.map(
      (subscription): PendingCopy => ({
        subscriptionId: subscription.id,
        subscriptionName: subscription.name,
        queueId: subscription.queueId,
      }),
    ),
    filtered: subscriptions.length - matched.length,
  });
}
