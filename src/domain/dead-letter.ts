import type { DeadLetterReason, Message } from "./message.js";
import type { Queue } from "./queue.js";

/**
 * When is a message dead-lettered? Every rule is here.
 *
 * 1. `expired`: at receive time, when it is older than the queue's
 *    `messageTtlSeconds` (its `expiresAt` has passed). It is never delivered.
 * 2. `max_deliveries`: it was received `maxDeliveries` times and
 *    - then nacked (see `afterNack`), or
 *    - its last lease expired, so it would be delivered once more
 *      (see `atReceive`).
 * 3. `rejected`: a consumer nacks it with `deadLetter: true`.
 * 4. `push_failed`: a push delivery failed on its last allowed attempt
 *    (the push dispatcher nacks with this reason), or the broker gave up on
 *    its delivery job because the delivery handler kept crashing
 *    (`afterBrokerGaveUp`).
 *
 * A dead-lettered message keeps its body, attributes and delivery count; a
 * redrive returns it to the queue with `deliveryCount` 0.
 */
export function atReceive(message: Message, queue: Queue, now: Date): DeadLetterReason | null {
  if (message.expiresAt <= now) return "expired";
  if (message.deliveryCount >= queue.maxDeliveries) return "max_deliveries";
  return null;
}

export interface NackRequest {
  deadLetter?: boolean;
  /** The reason a consumer may name for an explicit dead-letter; `push_failed` is reserved for push delivery. */
  reason?: DeadLetterReason;
}

export function afterNack(message: Message, queue: Queue, request: NackRequest): DeadLetterReason | null {
  if (request.deadLetter) return request.reason ?? "rejected";
  if (message.deliveryCount >= queue.maxDeliveries) {
    return request.reason === "push_failed" ? "push_failed" : "max_deliveries";
  }
  return null;
}

/** A push job the broker dead-lettered: the message is dead-lettered too, unless it was settled meanwhile. */
export function afterBrokerGaveUp(message: Message): DeadLetterReason | null {
  return message.state === "ready" ? "push_failed" : null;
}
