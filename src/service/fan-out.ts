import { copyDraft, copyId, type PendingCopy, type Topic } from "../domain/topic.js";
import type { CopyOutcome, SubscriptionStats, TopicMessage, TopicStore } from "./topic-ports.js";
import type { TopicContext } from "./topics.js";

/**
 * Fan-out: making the copies a topic message owes. On SQLite the store makes
 * them in the publish's transaction; on Cosmos DB they are made here, by the
 * inline attempt after a publish, the change feed and the safety net.
 */

/**
 * Makes the copies the topic's messages still owe, oldest message first and
 * one message at a time, so a fifo subscription queue gets each group in
 * publish order; safe to run again and from several places at once (each
 * copy has a derived id and dedup key, and only pending copies are counted).
 * Returns how many messages it settled.
 */
export async function makePendingCopies(context: TopicContext, topic: Topic, limit = 100): Promise<number> {
  const messages = await context.topics.pendingMessages(topic, limit);
  for (const message of messages) {
    const outcomes: CopyOutcome[] = [];
    for (const copy of message.pending) outcomes.push(await makeCopy(context, topic, message, copy));
    await context.topics.recordCopies(topic, message.id, outcomes);
    announce(context, topic, message, outcomes);
  }
  return messages.length;
}

async function makeCopy(
  context: TopicContext,
  topic: Topic,
  message: TopicMessage,
  copy: PendingCopy,
): Promise<CopyOutcome> {
  const { store, clock } = context.service;
  const queue = await store.getQueueById(topic.tenantId, copy.queueId);
  if (!queue)
    return {
      subscriptionId: copy.subscriptionId,
      delivered: false,
      error: "queue_not_found: the queue is gone",
    };
  const draft = copyDraft(topic, message, copy, queue, clock.now());
  if (!draft.ok) {
    return {
      subscriptionId: copy.subscriptionId,
      delivered: false,
      error: `${draft.error.code}: ${draft.error.detail}`,
    };
  }
  // A copy made before (by another attempt) is there under its derived id, whatever the queue's dedup window.
  if (!(await store.getMessage(queue, draft.value.id))) await store.enqueue(queue, [draft.value]);
  return { subscriptionId: copy.subscriptionId, delivered: true };
}

interface InlineRuns {
  /** The latest run of the topic's fan-out in this process. */
  last: Promise<void>;
  /** A run not started yet: a publish committed now is one it will see, so it joins that run. */
  waiting?: Promise<void>;
}

const inlineRuns = new WeakMap<TopicStore, Map<string, InlineRuns>>();

/**
 * The inline attempt after a publish that left copies pending (Cosmos DB).
 * Concurrent publishes to one topic share runs: each waits for a run that
 * starts after its own commit, and all that arrive while one runs share the
 * next, so a burst of publishes makes the topic's copies a few times, not
 * once per publish. The publish is durable and answered either way: a
 * failure here leaves the copies to the change feed and the safety net.
 */
export function makeCopiesInline(context: TopicContext, topic: Topic): Promise<void> {
  const byTopic = inlineRuns.get(context.topics) ?? new Map<string, InlineRuns>();
  inlineRuns.set(context.topics, byTopic);
  const runs = byTopic.get(topic.id) ?? { last: Promise.resolve() };
  byTopic.set(topic.id, runs);
  if (runs.waiting) return runs.waiting;
  const run: Promise<void> = runs.last
    .then(async () => {
      runs.waiting = undefined;
      await makePendingCopies(context, topic);
    })
    .catch(() => undefined)
    .finally(() => {
      if (runs.last === run) byTopic.delete(topic.id);
    });
  runs.waiting = run;
  runs.last = run;
  return run;
}

/** The safety net: makes what topics published before `before` still owe. Returns how many messages it settled. */
export async function makeOverdueCopies(
  context: TopicContext,
  before: Date,
  topicLimit = 100,
): Promise<number> {
  let settled = 0;
  for (const topic of await context.topics.topicsWithPendingCopies(before, topicLimit)) {
    settled += await makePendingCopies(context, topic);
  }
  return settled;
}

/** Live counters go out at most this often per topic (as `queue.stats` per queue): a burst of publishes reads them once. */
const TOPIC_STATS_EVERY_MS = 1000;
/** Topic id → when this process last sent its counters; forgotten wholesale past a bound, which only sends some sooner. */
const topicStatsSentAt = new Map<string, number>();
const TOPIC_STATS_REMEMBERED = 10_000;
const NO_COPIES: SubscriptionStats = { deliveredTotal: 0, undeliverableTotal: 0, lastError: null };

/**
 * `topic.stats` to each subscription queue's live stream: the topic's
 * counters and that subscription's. Best effort, like every live event: a
 * failed read sends nothing, and the next publish tries again.
 */
async function announceCounters(context: TopicContext, topic: Topic, message: TopicMessage): Promise<void> {
  const now = context.service.clock.now().getTime();
  if (now - (topicStatsSentAt.get(topic.id) ?? 0) < TOPIC_STATS_EVERY_MS) return;
  if (topicStatsSentAt.size >= TOPIC_STATS_REMEMBERED) topicStatsSentAt.clear();
  topicStatsSentAt.set(topic.id, now);
  const counters = await context.topics.stats(topic);
  for (const copy of message.copies) {
    context.events.publish({
      type: "topic.stats",
      tenantId: topic.tenantId,
      queueId: copy.queueId,
      data: {
        topic: topic.name,
        subscription: copy.subscriptionName,
        ...counters.topic,
        subscriptionStats: counters.subscriptions.get(copy.subscriptionId) ?? NO_COPIES,
      },
    });
  }
}

/** Wakes the subscription queues' long polls and tells their live streams what arrived. */
export function announce(
  context: TopicContext,
  topic: Topic,
  message: TopicMessage,
  outcomes: CopyOutcome[],
): void {
  for (const outcome of outcomes) {
    const copy = message.copies.find((candidate) => candidate.subscriptionId === outcome.subscriptionId);
    if (!copy) continue;
    if (outcome.delivered) context.service.signals.notify(copy.queueId, 1);
    context.events.publish({
      type: "topic.published",
      tenantId: topic.tenantId,
      queueId: copy.queueId,
      data: {
        topic: topic.name,
        subscription: copy.subscriptionName,
        topicMessageId: message.id,
        ...(outcome.delivered
          ? { messageId: copyId(message.id, copy.subscriptionId), delivered: true }
          : { delivered: false, error: outcome.error }),
      },
    });
  }
  // Only once copies were made or refused: a publish that made none yet (Cosmos DB) is counted when they are.
  if (outcomes.length > 0) announceCounters(context, topic, message).catch(() => undefined);
}
