import { fail, ok, type Result } from "./errors.js";
import { LIMITS } from "./limits.js";
import type { Message } from "./message.js";
import type { Queue } from "./queue.js";
import { addSeconds } from "./time.js";

export interface MessageRequest {
  /** The body serialized as JSON: what is stored and what the size limit counts. */
  body: string;
  priority?: number;
  delaySeconds?: number;
  groupId?: string;
}

export interface Placement {
  priority: number;
  groupId: string | null;
  visibleAt: Date;
  expiresAt: Date;
}

/**
 * Where a new message goes, or why it cannot: its serialized body must fit
 * the queue's `maxMessageBytes`; priority orders standard queues only (fifo
 * queues deliver in sequence, so a priority there is an error, not ignored);
 * a fifo message without a group joins group `default`; it becomes visible
 * after its delay and expires `messageTtlSeconds` after it was enqueued.
 */
export function placeMessage(queue: Queue, request: MessageRequest, now: Date): Result<Placement> {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: only a body longer than a third of the limit can be over it.
  if (request.body.length * 3 > queue.maxMessageBytes) {
    const bytes = Buffer.byteLength(request.body);
    if (bytes > queue.maxMessageBytes) {
      return fail(
        "payload_too_large",
        `the body is ${bytes} bytes; this queue takes at most ${queue.maxMessageBytes}`,
      );
    }
  }
  const fifo = queue.ordering === "fifo";
  if (fifo && request.priority !== undefined && request.priority !== LIMITS.priority.default) {
    return fail(
      "validation_failed",
      "priority applies to standard queues only; fifo queues deliver in sequence",
      {
        errors: [{ path: "priority", message: "not allowed on a fifo queue" }],
      },
    );
  }
  return ok({
    priority: fifo ? LIMITS.priority.default : (request.priority ?? LIMITS.priority.default),
    groupId: fifo ? (request.groupId ?? LIMITS.groupId.default) : null,
    visibleAt: addSeconds(now, request.delaySeconds ?? 0),
    expiresAt: addSeconds(now, queue.messageTtlSeconds),
  });
}

/** What an enqueue decides about a message before the store gives it a sequence. */
export type DraftMessage = Pick<
  Message,
  | "id"
  | "body"
  | "attributes"
  | "priority"
  | "groupId"
  | "dedupKey"
  | "enqueuedAt"
  | "visibleAt"
  | "expiresAt"
>;

/** A newly enqueued message: ready, never delivered, with the sequence its store assigned. */
export function enqueuedMessage(queue: Queue, draft: DraftMessage, sequence: number): Message {
  // Field by field rather than a spread: the draft may carry more than a
  // DraftMessage, and this runs once a message.
  return {
    id: draft.id,
    body: draft.body,
    attributes: draft.attributes,
    priority: draft.priority,
    groupId: draft.groupId,
    dedupKey: draft.dedupKey,
    enqueuedAt: draft.enqueuedAt,
    visibleAt: draft.visibleAt,
    expiresAt: draft.expiresAt,
    tenantId: queue.tenantId,
    queueId: queue.id,
    sequence,
    state: "ready",
    deliveryCount: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    lastError: null,
    reason: null,
    deadLetteredAt: null,
    ackedAt: null,
  };
}

/**
 * A redriven dead letter: back in the queue with `deliveryCount` 0, visible
 * now, with a fresh TTL (an expired message would otherwise die again at once)
 * and its id, body, attributes and priority kept. The store gives it a new
 * sequence, so it rejoins the back of its fifo group.
 */
export function redrivenMessage(message: Message, queue: Queue, now: Date): Message {
  return {
    ...message,
    state: "ready",
    visibleAt: now,
    expiresAt: addSeconds(now, queue.messageTtlSeconds),
    deliveryCount: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    reason: null,
    deadLetteredAt: null,
  };
}
