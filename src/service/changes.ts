import type { Message } from "../domain/message.js";
import type { ServiceContext } from "./context.js";
import type { Dispatcher, EventSink, MetricsSink, PushJob } from "./ports.js";

export const METRICS = {
  enqueued: "conveyor.enqueued",
  acked: "conveyor.acked",
  deadLettered: "conveyor.dead_lettered",
  backlog: "conveyor.backlog",
  oldestAgeSeconds: "conveyor.oldest_age_seconds",
  deliveryLatencyMs: "conveyor.delivery_latency_ms",
} as const;

const STATS_EVERY_MS = 1000;
/** How often a busy queue's stats are kept for its history (`GET .../metrics`); an idle queue's do not change. */
export const SAMPLE_EVERY_MS = 10_000;

export interface ChangeHandlerDeps {
  dispatcher: Dispatcher;
  metrics: MetricsSink;
  events: EventSink;
  /** A queue whose oldest available message is older than this raises `queue.backlog` (and again when it recovers). */
  backlogAlertSeconds: number;
}

/**
 * Handles committed changes to messages: the Cosmos DB change feed on Azure,
 * the SQLite store's committed-change stream locally. For each change it
 *  - schedules a push job when a push queue's message became ready to
 *    deliver (new, nacked with a backoff, redriven): this drives retries;
 *  - publishes `message.dead_lettered` events and counts metrics;
 *  - publishes `queue.stats` and the backlog metrics, at most once a second
 *    a queue, and `queue.backlog` when the oldest message's age crosses the
 *    threshold either way;
 *  - keeps the queue's stats in the store every `SAMPLE_EVERY_MS` while it
 *    changes, the history behind `GET .../metrics` and the console's charts.
 * Change feeds deliver at least once, so everything here is idempotent
 * (jobs have per-attempt ids) or harmless when repeated (events, metrics).
 */
export class ChangeHandler {
  private readonly statsPublishedAt = new Map<string, number>();
  private readonly sampledAt = new Map<string, number>();
  private readonly backlogged = new Set<string>();

  constructor(
    private readonly context: ServiceContext,
    private readonly deps: ChangeHandlerDeps,
  ) {}

  async handle(changes: Message[]): Promise<void> {
    const byQueue = new Map<string, Message[]>();
    for (const message of changes) {
      const key = `${message.tenantId}\u0000${message.queueId}`;
      const ofQueue = byQueue.get(key);
      if (ofQueue) ofQueue.push(message);
      else byQueue.set(key, [message]);
    }
    for (const messages of byQueue.values()) await this.handleQueue(messages);
  }

  private async handleQueue(messages: Message[]): Promise<void> {
    const [first] = messages;
    if (!first) return;
    const queue = await this.context.store.getQueueById(first.tenantId, first.queueId);
    if (!queue) return;
    const dimensions = { tenant: queue.tenantId, queue: queue.name };
    const jobs: PushJob[] = [];
    let enqueued = 0;
    let acked = 0;
    let deadLettered = 0;
    for (const message of messages) {
      if (message.state === "acked") {
        acked++;
        if (message.ackedAt) {
          const latency = message.ackedAt.getTime() - message.enqueuedAt.getTime();
          this.deps.metrics.track(METRICS.deliveryLatencyMs, latency, dimensions);
        }
      } else if (message.state === "dead") {
        deadLettered++;
        this.deps.events.publish({
          type: "message.dead_lettered",
          tenantId: queue.tenantId,
          queueId: queue.id,
          data: {
            queue: queue.name,
            messageId: message.id,
            reason: message.reason,
            lastError: message.lastError,
            deliveryCount: message.deliveryCount,
          },
        });
      } else if (message.leaseToken === null) {
        if (message.deliveryCount === 0) enqueued++;
        if (queue.push) {
          jobs.push({
            tenantId: queue.tenantId,
            queueId: queue.id,
            messageId: message.id,
            deliveryCount: message.deliveryCount,
            dueAt: message.visibleAt,
          });
        }
      }
    }
    if (jobs.length > 0) await this.deps.dispatcher.schedule(jobs);
    if (enqueued > 0) this.deps.metrics.track(METRICS.enqueued, enqueued, dimensions);
    if (acked > 0) this.deps.metrics.track(METRICS.acked, acked, dimensions);
    if (deadLettered > 0) this.deps.metrics.track(METRICS.deadLettered, deadLettered, dimensions);
    await this.publishStats(queue.id, queue.tenantId, queue.name, dimensions);
  }

  private async publishStats(
    queueId: string,
    tenantId: string,
    name: string,
    dimensions: Record<string, string>,
  ) {
    const nowMs = this.context.clock.now().getTime();
    if (nowMs - (this.statsPublishedAt.get(queueId) ?? 0) < STATS_EVERY_MS) return;
    this.statsPublishedAt.set(queueId, nowMs);
    const queue = await this.context.store.getQueueById(tenantId, queueId);
    if (!queue) return;
    const stats = await this.context.store.stats(queue, new Date(nowMs));
    if (nowMs - (this.sampledAt.get(queueId) ?? 0) >= SAMPLE_EVERY_MS) {
      this.sampledAt.set(queueId, nowMs);
      await this.context.store.recordSample(queue, { at: new Date(nowMs), ...stats });
    }
    this.deps.metrics.track(METRICS.backlog, stats.available, dimensions);
    this.deps.metrics.track(METRICS.oldestAgeSeconds, stats.oldestAvailableAgeSeconds, dimensions);
    this.deps.events.publish({ type: "queue.stats", tenantId, queueId, data: { queue: name, ...stats } });
    const over = stats.oldestAvailableAgeSeconds > this.deps.backlogAlertSeconds;
    if (over !== this.backlogged.has(queueId)) {
      if (over) this.backlogged.add(queueId);
      else this.backlogged.delete(queueId);
      this.deps.events.publish({
        type: "queue.backlog",
        tenantId,
        queueId,
        data: {
          queue: name,
          state: over ? "over" : "under",
          oldestAvailableAgeSeconds: stats.oldestAvailableAgeSeconds,
          thresholdSeconds: this.deps.backlogAlertSeconds,
        },
      });
    }
  }
}

/** Safety-net jobs for one message within one period share an id; see `reschedulePushBacklog`. */
export const SAFETY_NET_PERIOD_MS = 5 * 60 * 1000;

/**
 * The push safety net: a change feed can skip a batch (its host died), so a
 * timer makes sure every due message of every push queue has a job. A job's
 * due time is the start of the current period rather than the message's
 * own: the change feed's job for the attempt carried that one, and Service
 * Bus would drop a job of the same id for an hour even when the first was
 * taken and lost. Within one period the runs repeat one id (the broker
 * drops the repeats, so a backlog does not pile up jobs); the next period's
 * differs, so a lost job is replaced within a period. Its due time being
 * past, the job runs at once; the handler reads the message, not the job.
 */
export async function reschedulePushBacklog(
  context: ServiceContext,
  dispatcher: Dispatcher,
  limit = 1000,
): Promise<number> {
  const now = context.clock.now();
  const period = new Date(now.getTime() - (now.getTime() % SAFETY_NET_PERIOD_MS));
  let scheduled = 0;
  for (const queue of await context.store.listPushQueues()) {
    const due = await context.store.dueMessages(queue, now, limit);
    const jobs = due.map((message) => ({
      tenantId: queue.tenantId,
      queueId: queue.id,
      messageId: message.id,
      deliveryCount: message.deliveryCount,
      // Never the change feed's id for the attempt, even when the message became due at the period's start.
      dueAt: message.visibleAt.getTime() === period.getTime() ? new Date(period.getTime() - 1) : period,
    }));
    if (jobs.length > 0) await dispatcher.schedule(jobs);
    scheduled += jobs.length;
  }
  return scheduled;
}
