import { isIP } from "node:net";
import { fail, ok, type Result } from "../domain/errors.js";
import { newLeaseToken, onAck, onNack, onPushAbandoned, onReceive } from "../domain/lease.js";
import type { Message } from "../domain/message.js";
import { deriveSigningSecret, pushAddressVerdict, pushUrlVerdict, signWebhook } from "../domain/push.js";
import type { Queue } from "../domain/queue.js";
import type { ServiceContext } from "./context.js";
import type { PushJob, SendWebhook, WebhookOutcome } from "./ports.js";
import { settleMessages } from "./settle.js";

/**
 * Refuses a push URL whose form or any resolved address the SSRF rule
 * refuses. Checked when a queue is created or changed, and again, by the
 * webhook sender, on every connection (the name may resolve differently).
 */
export async function checkPushUrl(context: ServiceContext, url: string): Promise<Result<void>> {
  const refuse = (reason: string) =>
    fail("validation_failed", `push.url is refused: ${reason}`, {
      errors: [{ path: "push.url", message: reason }],
    });
  const parsed = new URL(url);
  const form = pushUrlVerdict(parsed, context.push.allowPrivate);
  if (!form.allowed) return refuse(form.reason);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await context.push.resolveHost(host);
  } catch {
    return refuse(`the host "${host}" does not resolve`);
  }
  if (addresses.length === 0) return refuse(`the host "${host}" does not resolve`);
  for (const address of addresses) {
    const verdict = pushAddressVerdict(address, context.push.allowPrivate);
    if (!verdict.allowed) return refuse(verdict.reason);
  }
  return ok(undefined);
}

/** The queue's current signing secret; shown to its creator once, never stored. */
export const signingSecretOf = (context: ServiceContext, queue: Queue): string | undefined =>
  queue.push && deriveSigningSecret(context.push.signingMaster, queue.id, queue.push.secretVersion);

export type PushOutcome =
  | { kind: "acked" }
  | { kind: "retry"; at: Date; error: string }
  | { kind: "deadLettered"; error: string }
  | { kind: "leaseLost" };

/**
 * The push delivery handler, the same on every host: POSTs one leased
 * message to its queue's URL, signed per Standard Webhooks, then acks it (any
 * 2xx) or nacks it with the queue's backoff (anything else: a status, a
 * timeout, a refused connection). The nack of the last allowed attempt
 * dead-letters the message with reason `push_failed` and the error.
 */
export async function deliverPush(
  context: ServiceContext,
  send: SendWebhook,
  queue: Queue,
  message: Message,
): Promise<PushOutcome> {
  const push = queue.push;
  const secret = signingSecretOf(context, queue);
  if (!push || !secret || message.leaseToken === null) return { kind: "leaseLost" };
  const timestamp = Math.floor(context.clock.now().getTime() / 1000);
  const outcome = await send({
    url: push.url,
    body: message.body,
    timeoutMs: push.timeoutSeconds * 1000,
    allowPrivate: context.push.allowPrivate,
    headers: {
      "content-type": "application/json",
      "webhook-id": message.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signWebhook(secret, message.id, timestamp, message.body),
      "conveyor-delivery-count": String(message.deliveryCount),
      "conveyor-queue": queue.name,
    },
  });
  const token = message.leaseToken;
  const now = context.clock.now();
  if (outcome.kind === "response" && outcome.status >= 200 && outcome.status < 300) {
    const [acked] = await settleMessages(context.store, queue, [
      { messageId: message.id, decide: (m) => onAck(m, token, now) },
    ]);
    return acked?.ok ? { kind: "acked" } : { kind: "leaseLost" };
  }
  const error = describeFailure(outcome);
  const [nacked] = await settleMessages(context.store, queue, [
    {
      messageId: message.id,
      decide: (m) => onNack(m, queue, token, now, { reason: "push_failed", error }, context.random),
    },
  ]);
  if (!nacked?.ok) return { kind: "leaseLost" };
  context.signals.notify(queue.id);
  return nacked.value.state === "dead"
    ? { kind: "deadLettered", error }
    : { kind: "retry", at: nacked.value.visibleAt, error };
}

const describeFailure = (outcome: WebhookOutcome): string =>
  outcome.kind === "response" ? `HTTP ${outcome.status}` : outcome.error;

/** A lease outlives the request's own timeout by this much, so a slow answer is not delivered twice. */
const LEASE_MARGIN_SECONDS = 5;
/** How long a job waits when its queue already has `maxConcurrency` deliveries in flight. */
const CONCURRENCY_RETRY_MS = 250;

/**
 * Runs one task at a time per key. Push jobs claim (count in-flight, then
 * lease) under it, so `maxConcurrency` holds within a process; across
 * instances on Azure it is checked the same way without a shared lock, so two
 * instances claiming for one queue at the same instant can exceed it briefly.
 */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

const claimLocks = new KeyedLock();

/**
 * The job that runs `job` again for the message's attempt `deliveryCount` at
 * `dueAt`. For the same attempt its due time is at least a millisecond past
 * the job's own, so it never carries the id of the job being run, nor of any
 * earlier job of the chain: a job that arrives early (this host's clock
 * behind the broker's) is deferred to the message's due time, which is its
 * own due time, and Service Bus would drop the deferral as a duplicate of the
 * job it came from (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection:
 * a repeated MessageId is "reported as accepted" and "instantly ignored and
 * dropped").
 */
const deferral = (job: PushJob, deliveryCount: number, dueAt: Date): PushJob => ({
  ...job,
  deliveryCount,
  dueAt:
    deliveryCount === job.deliveryCount && dueAt.getTime() <= job.dueAt.getTime()
      ? new Date(job.dueAt.getTime() + 1)
      : dueAt,
});

const STORE_RETRY_FIRST_MS = 1000;
const STORE_RETRY_MAX_MS = 60_000;

/**
 * The job again, after the store failed it as unavailable (a 429 or 503
 * burst, an outage) `failures` times in a row: a wait doubling from 1 s to
 * 1 min, drawn from its upper half so a burst of jobs does not come back at
 * once. Throwing instead would make Service Bus redeliver at once and spend
 * the job's 10 deliveries in seconds; rescheduled, a job outlives an outage
 * of any length, at one broker message a minute.
 */
export function storeRetry(job: PushJob, now: Date, failures: number, random: () => number): PushJob {
  const ceiling = Math.min(STORE_RETRY_MAX_MS, STORE_RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 16));
  const waitMs = ceiling / 2 + (random() * ceiling) / 2;
  return deferral(job, job.deliveryCount, new Date(now.getTime() + waitMs));
}

export type PushJobOutcome =
  | { kind: "delivered"; outcome: PushOutcome }
  | { kind: "deferred"; job: PushJob; why: string }
  | { kind: "dropped"; why: string };

/**
 * The push job handler, the same on every host (the Service Bus function and
 * the local dispatcher): leases the job's message compare-and-set and
 * delivers it. A job for a message that is not due yet, or whose queue
 * already has `maxConcurrency` deliveries in flight, is deferred; a job for a
 * message that is gone, settled or no longer pushed is dropped. Because any
 * due job leases whatever attempt the message is at, a delivery cut short by
 * a crash is picked up by the next job once its lease expires.
 */
export async function runPushJob(
  context: ServiceContext,
  send: SendWebhook,
  job: PushJob,
): Promise<PushJobOutcome> {
  const queue = await context.store.getQueueById(job.tenantId, job.queueId);
  if (!queue?.push) return { kind: "dropped", why: "the queue is gone or no longer pushes" };
  const now = context.clock.now();
  const message = await context.store.getMessage(queue, job.messageId);
  if (message?.state !== "ready") return { kind: "dropped", why: "the message is gone or settled" };
  if (message.visibleAt > now) {
    const later = deferral(job, message.deliveryCount, message.visibleAt);
    return {
      kind: "deferred",
      job: later,
      why: "the message is leased, backing off or not due by this clock",
    };
  }
  const push = queue.push;
  // Count and lease under one lock per queue, so that parallel jobs in this process cannot all see room.
  const claimed = await claimLocks.withLock(queue.id, async (): Promise<PushJobOutcome | Message> => {
    if ((await context.store.countInFlight(queue, now)) >= push.maxConcurrency) {
      const later = deferral(job, job.deliveryCount, new Date(now.getTime() + CONCURRENCY_RETRY_MS));
      return { kind: "deferred", job: later, why: "the queue has maxConcurrency deliveries in flight" };
    }
    const visibilityTimeoutSeconds = push.timeoutSeconds + LEASE_MARGIN_SECONDS;
    const [leased] = await settleMessages(context.store, queue, [
      {
        messageId: message.id,
        decide: (current) =>
          ok(
            current.state === "ready" && current.visibleAt <= now
              ? onReceive(current, queue, now, visibilityTimeoutSeconds, newLeaseToken())
              : null,
          ),
      },
    ]);
    if (!leased?.ok || leased.value.state !== "ready" || leased.value.leaseToken === message.leaseToken) {
      return { kind: "dropped", why: "another delivery took the message, or it was dead-lettered" };
    }
    return leased.value;
  });
  if ("kind" in claimed) return claimed;
  return { kind: "delivered", outcome: await deliverPush(context, send, queue, claimed) };
}

/** The broker dead-lettered a job (its handler kept crashing): dead-letter the message with the broker's reason. */
export async function abandonPushJob(
  context: ServiceContext,
  job: PushJob,
  brokerReason: string,
): Promise<boolean> {
  const queue = await context.store.getQueueById(job.tenantId, job.queueId);
  if (!queue) return false;
  const now = context.clock.now();
  const error = `the push job was dead-lettered by the broker: ${brokerReason}`;
  const [result] = await settleMessages(context.store, queue, [
    { messageId: job.messageId, decide: (message) => ok(onPushAbandoned(message, now, error)) },
  ]);
  return result?.ok === true && result.value.state === "dead";
}
