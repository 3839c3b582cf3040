import { randomBytes } from "node:crypto";
import { backoffSeconds } from "./backoff.js";
import { afterBrokerGaveUp, afterNack, atReceive, type NackRequest } from "./dead-letter.js";
import { type Failure, fail, ok, type Result } from "./errors.js";
import type { DeadLetterReason, Message } from "./message.js";
import type { Queue } from "./queue.js";
import { addSeconds } from "./time.js";

/**
 * Leases fence: each receive issues a new random token, and only the latest
 * token of a message can settle it. A lease that expires needs no sweeper:
 * the message is simply visible again (`visibleAt == leaseExpiresAt`), and the
 * token stays the latest one until someone receives the message again, so a
 * slow consumer whose message nobody else took can still ack it (as SQS does).
 */
export function newLeaseToken(): string {
  return randomBytes(18).toString("base64url");
}

/** The changes to a message that a store writes, compare-and-set on the message's previous version. */
export type Transition =
  | { kind: "lease"; leaseToken: string; visibleAt: Date; leaseExpiresAt: Date; deliveryCount: number }
  | { kind: "deadLetter"; reason: DeadLetterReason; lastError: string | null; at: Date }
  | { kind: "ack"; at: Date }
  | { kind: "release"; visibleAt: Date; lastError: string | null }
  | { kind: "extend"; visibleAt: Date; leaseExpiresAt: Date };

/** Receive: deliver the message under a new lease, or dead-letter it instead. */
export function onReceive(
  message: Message,
  queue: Queue,
  now: Date,
  visibilityTimeoutSeconds: number,
  leaseToken: string,
): Transition {
  const reason = atReceive(message, queue, now);
  if (reason) {
    const lastError = reason === "expired" ? "message TTL elapsed before delivery" : message.lastError;
    return { kind: "deadLetter", reason, lastError, at: now };
  }
  const leaseExpiresAt = addSeconds(now, visibilityTimeoutSeconds);
  return {
    kind: "lease",
    leaseToken,
    visibleAt: leaseExpiresAt,
    leaseExpiresAt,
    deliveryCount: message.deliveryCount + 1,
  };
}

/** Ack: idempotent for the token that acked; any other token has lost the lease. */
export function onAck(message: Message, leaseToken: string, now: Date): Result<Transition | null> {
  if (message.leaseToken !== leaseToken) return leaseLost(message);
  if (message.state === "acked") return ok(null);
  if (message.state !== "ready") return leaseLost(message);
  return ok({ kind: "ack", at: now });
}

export interface NackOptions extends NackRequest {
  delaySeconds?: number;
  error?: string;
}

/** Nack: back off (or wait the given delay), or dead-letter. The token is spent either way. */
export function onNack(
  message: Message,
  queue: Queue,
  leaseToken: string,
  now: Date,
  options: NackOptions,
  random: () => number,
): Result<Transition> {
  if (message.state !== "ready" || message.leaseToken !== leaseToken) return leaseLost(message);
  const lastError = options.error ?? message.lastError;
  const reason = afterNack(message, queue, options);
  if (reason) return ok({ kind: "deadLetter", reason, lastError, at: now });
  const delay = options.delaySeconds ?? backoffSeconds(queue.retry, message.deliveryCount, random);
  return ok({ kind: "release", visibleAt: addSeconds(now, delay), lastError });
}

/** Extend or shorten a lease; 0 seconds makes the message visible at once (the token stays the latest). */
export function onExtend(
  message: Message,
  leaseToken: string,
  now: Date,
  visibilityTimeoutSeconds: number,
): Result<Transition> {
  if (message.state !== "ready" || message.leaseToken !== leaseToken) return leaseLost(message);
  const until = addSeconds(now, visibilityTimeoutSeconds);
  return ok({ kind: "extend", visibleAt: until, leaseExpiresAt: until });
}

function leaseLost(message: Message): { ok: false; error: Failure } {
  return fail("lease_lost", whyLeaseLost(message));
}

function whyLeaseLost(message: Message): string {
  if (message.state === "dead") return "the message is dead-lettered and this token cannot settle it";
  if (message.state !== "ready") return "the message is already settled and this token cannot settle it";
  // A release (nack) clears the token; a message never received has none either, but no deliveries.
  if (message.leaseToken === null && message.deliveryCount > 0) {
    return "the lease was spent by a nack that released the message for retry; receive it again for a new lease";
  }
  return "the lease token is not this message's latest lease; it was received again or the token was never issued";
}

/** The broker dead-lettered this message's push job; `null` when the message no longer needs it. */
export function onPushAbandoned(message: Message, now: Date, error: string): Transition | null {
  const reason = afterBrokerGaveUp(message);
  return reason ? { kind: "deadLetter", reason, lastError: error, at: now } : null;
}
