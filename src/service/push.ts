import { isIP } from "node:net";
import { fail, ok, type Result } from "../domain/errors.js";
import { onAck, onNack } from "../domain/lease.js";
import type { Message } from "../domain/message.js";
import { deriveSigningSecret, pushAddressVerdict, pushUrlVerdict, signWebhook } from "../domain/push.js";
import type { Queue } from "../domain/queue.js";
import type { ServiceContext } from "./context.js";
import type { SendWebhook, WebhookOutcome } from "./ports.js";

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
    const [acked] = await context.store.settle(queue, [
      { messageId: message.id, decide: (m) => onAck(m, token, now) },
    ]);
    return acked?.ok ? { kind: "acked" } : { kind: "leaseLost" };
  }
  const error = describeFailure(outcome);
  const [nacked] = await context.store.settle(queue, [
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
