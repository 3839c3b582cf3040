import { z } from "zod";
import { LIMITS } from "../../domain/limits.js";
import { batchResultOf, problemResponse, queryInt, seconds, timestamp } from "./common.js";

const attributes = z
  .record(z.string().regex(LIMITS.attributes.key), z.string().max(LIMITS.attributes.maxValueLength))
  .refine((value) => Object.keys(value).length <= LIMITS.attributes.maxCount, {
    message: `at most ${LIMITS.attributes.maxCount} attributes`,
  });

/** One message to enqueue: the single form's body, and each item of a batch. */
export const messageInput = z
  .strictObject({
    body: z
      .unknown()
      .refine((value) => value !== undefined, { message: "a body is required" })
      .meta({ description: "Any JSON value or a string" }),
    attributes: attributes.optional(),
    priority: z.int().min(LIMITS.priority.min).max(LIMITS.priority.max).optional(),
    delaySeconds: seconds(LIMITS.delaySeconds).optional(),
    groupId: z.string().min(1).max(LIMITS.groupId.maxLength).optional(),
    deduplicationId: z.string().min(1).max(LIMITS.deduplicationId.maxLength).optional(),
  })
  .meta({ id: "MessageInput" });

export type MessageInput = z.output<typeof messageInput>;

/** A batch item checked against `messageInput` on its own: `ok`, or the issues that make it invalid. */
export type BatchItem = { ok: true; value: MessageInput } | { ok: false; issues: z.core.$ZodIssue[] };

/**
 * A batch item never fails the batch: a bad one becomes a 400 in its own
 * result, so it is parsed into a `BatchItem` (documented, and typed for
 * clients, as `messageInput`) rather than refused.
 */
const batchItem = messageInput
  .transform((value): BatchItem => ({ ok: true, value }))
  .catch(({ error }) => ({ ok: false, issues: error.issues }));

/** `POST .../messages` takes one message, or `{ "messages": [...] }` for a batch. */
export const enqueueBody = z.union([
  z.strictObject({ messages: z.array(batchItem).min(1).max(LIMITS.batchSize) }).meta({ id: "EnqueueBatch" }),
  messageInput,
]);

/** Honoured by enqueue's single form: a key the queue's deduplication window remembers. */
export const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1, "1 to 128 characters")
    .max(128, "1 to 128 characters")
    .optional()
    .meta({ description: "Idempotency-Key: a retried send with the same key is a 200 duplicate" }),
});

export const enqueueResponse = z
  .object({
    messageId: z.string(),
    sequence: z.int(),
    enqueuedAt: timestamp,
    visibleAt: timestamp,
    duplicate: z.boolean(),
  })
  .meta({ id: "Enqueued" });

export const batchResponse = batchResultOf(enqueueResponse, "EnqueueBatchResult");

/** Enqueue's 200: the original message of a duplicate (single form), or a batch's per-item results. */
export const enqueueOkResponse = z.union([enqueueResponse, batchResponse]);

export const receiveQuery = z.strictObject({
  max: queryInt().min(LIMITS.receiveMax.min).max(LIMITS.receiveMax.max).default(LIMITS.receiveMax.default),
  visibilityTimeout: queryInt()
    .min(LIMITS.visibilityTimeoutSeconds.min)
    .max(LIMITS.visibilityTimeoutSeconds.max)
    .optional()
    .meta({ description: "Seconds; the queue's visibilityTimeoutSeconds when absent" }),
  wait: queryInt()
    .min(LIMITS.waitSeconds.min)
    .max(LIMITS.waitSeconds.max)
    .default(LIMITS.waitSeconds.default)
    .meta({ description: "Seconds to wait for the first message (long polling)" }),
});

const leaseToken = z.string().min(1).max(256);
export const messageId = z.string().min(1).max(128);
const reason = z.enum(["max_deliveries", "expired", "rejected"]);

export const ackBody = z.strictObject({ leaseToken }).meta({ id: "Ack" });

const nackFields = {
  delaySeconds: seconds(LIMITS.delaySeconds).optional(),
  deadLetter: z.boolean().optional(),
  reason: reason
    .optional()
    .meta({ description: "Dead-letter reason when deadLetter is true (default rejected)" }),
  error: z.string().max(4096).optional().meta({ description: "Recorded as the message's lastError" }),
};

export const nackBody = z.strictObject({ leaseToken, ...nackFields }).meta({ id: "Nack" });

export const leaseBody = z
  .strictObject({ leaseToken, visibilityTimeoutSeconds: seconds(LIMITS.leaseExtensionSeconds) })
  .meta({ id: "ExtendLease" });

export const leaseResponse = z
  .object({ leaseExpiresAt: timestamp.meta({ description: "Now, when the lease was released" }) })
  .meta({ id: "Lease" });

export const settleBody = z
  .strictObject({
    acks: z.array(z.strictObject({ messageId, leaseToken })).max(LIMITS.settleItems).default([]),
    nacks: z
      .array(z.strictObject({ messageId, leaseToken, ...nackFields }))
      .max(LIMITS.settleItems)
      .default([]),
  })
  .refine((value) => value.acks.length + value.nacks.length <= LIMITS.settleItems, {
    message: `at most ${LIMITS.settleItems} items in all`,
  })
  .meta({ id: "Settle" });

export const settleResponse = z
  .object({
    results: z.array(z.object({ messageId: z.string(), status: z.int(), error: problemResponse.optional() })),
  })
  .meta({ id: "SettleResult" });

export const browseQuery = z.strictObject({
  view: z.enum(["available", "delayed", "inFlight"]).default("available"),
  attribute: z
    .string()
    .regex(LIMITS.attributes.key)
    .optional()
    .meta({ description: "Only messages carrying this attribute (with `value`, that value)" }),
  value: z.string().max(LIMITS.attributes.maxValueLength).optional(),
  limit: queryInt().min(1).max(LIMITS.receiveMax.max).default(50),
  cursor: z.string().max(512).optional(),
});

const messageCore = {
  messageId: z.string(),
  body: z.unknown(),
  attributes: z.record(z.string(), z.string()),
  priority: z.int(),
  groupId: z.string().nullable(),
  sequence: z.int(),
  deliveryCount: z.int(),
  enqueuedAt: timestamp,
};

export const receivedResponse = z
  .object({
    messages: z.array(z.object({ ...messageCore, leaseToken: z.string(), leaseExpiresAt: timestamp })),
  })
  .meta({ id: "Received" });

export const messageResponse = z
  .object({
    ...messageCore,
    state: z.enum(["available", "delayed", "inFlight", "dead", "acked"]),
    visibleAt: timestamp,
    expiresAt: timestamp,
    leaseExpiresAt: timestamp.nullable(),
    lastError: z.string().nullable(),
    reason: z.string().nullable(),
    deadLetteredAt: timestamp.nullable(),
  })
  .meta({ id: "Message" });

export const browseResponse = z
  .object({ messages: z.array(messageResponse), nextCursor: z.string().optional() })
  .meta({ id: "MessagePage" });
