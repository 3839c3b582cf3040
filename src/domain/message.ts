/**
 * A message and the states it moves through:
 *
 *   ready --receive--> ready (leased: leaseToken set, visibleAt = leaseExpiresAt)
 *   ready --ack------> acked (a tombstone kept for the dedup window, then removed)
 *   ready --nack-----> ready (visibleAt from the backoff) | dead
 *   ready --receive--> dead  (when `dead-letter.ts` says so)
 *   dead  --redrive--> ready (deliveryCount 0)
 */
export type MessageState = "ready" | "dead" | "acked";

export type DeadLetterReason = "max_deliveries" | "expired" | "rejected" | "push_failed";

export interface Message {
  id: string;
  tenantId: string;
  queueId: string;
  /** The body exactly as the client sent it, serialized as JSON text. */
  body: string;
  attributes: Record<string, string>;
  priority: number;
  groupId: string | null;
  sequence: number;
  dedupKey: string | null;
  state: MessageState;
  visibleAt: Date;
  enqueuedAt: Date;
  expiresAt: Date;
  deliveryCount: number;
  leaseToken: string | null;
  leaseExpiresAt: Date | null;
  lastError: string | null;
  reason: DeadLetterReason | null;
  deadLetteredAt: Date | null;
  ackedAt: Date | null;
}

/** How a ready message counts in the queue's stats at a given instant. */
export type Availability = "available" | "delayed" | "inFlight";

export function availability(message: Message, now: Date): Availability {
  if (message.visibleAt <= now) return "available";
  return isLeased(message, now) ? "inFlight" : "delayed";
}

export function isLeased(message: Message, now: Date): boolean {
  return message.leaseToken !== null && message.leaseExpiresAt !== null && message.leaseExpiresAt > now;
}
