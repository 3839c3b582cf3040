import { createHash } from "node:crypto";
import type { Message } from "./message.js";
import type { Ordering, Queue } from "./queue.js";
import { addSeconds } from "./time.js";

/**
 * The key that makes a second enqueue a duplicate: the message's
 * `deduplicationId`, else the `Idempotency-Key` header, else, on fifo queues
 * only, the SHA-256 of the body (as SQS's content-based deduplication). A
 * standard queue without an id does not deduplicate.
 */
export function dedupKey(
  ordering: Ordering,
  body: string,
  deduplicationId: string | undefined,
  idempotencyKey: string | undefined,
): string | null {
  if (deduplicationId !== undefined) return `id:${deduplicationId}`;
  if (idempotencyKey !== undefined) return `id:${idempotencyKey}`;
  if (ordering === "fifo") return `sha256:${createHash("sha256").update(body).digest("hex")}`;
  return null;
}

/** A message with the same key enqueued inside the window is the original the duplicate returns. */
export function isDuplicateOf(existing: Pick<Message, "enqueuedAt">, queue: Queue, now: Date): boolean {
  return addSeconds(existing.enqueuedAt, queue.deduplicationWindowSeconds) > now;
}

/**
 * An acked message stays as a tombstone while it can still deduplicate, and
 * at least a few minutes so that a repeated ack with its token still answers
 * 204; then the store's clean-up removes it.
 */
export const MIN_TOMBSTONE_SECONDS = 300;

export function tombstoneExpiresAt(message: Pick<Message, "enqueuedAt">, queue: Queue, ackedAt: Date): Date {
  const windowEnd = addSeconds(message.enqueuedAt, queue.deduplicationWindowSeconds);
  const minimum = addSeconds(ackedAt, MIN_TOMBSTONE_SECONDS);
  return new Date(Math.max(windowEnd.getTime(), minimum.getTime()));
}
