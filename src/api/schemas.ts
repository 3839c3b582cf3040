import { z } from "zod";
import { LIMITS } from "../domain/limits.js";
import { GRANTS } from "../domain/queue.js";

/**
 * One schema per request part: each validates input, types its handler and
 * is rendered into the OpenAPI document (`openapi.ts`). Objects are strict, so
 * a misspelt field is a 400 naming it rather than a silently ignored setting.
 */

const seconds = (range: { min: number; max: number }) => z.int().min(range.min).max(range.max);

export const queueName = z
  .string()
  .regex(LIMITS.queueName, "lowercase letters, digits, '-', '_' or '.', 1 to 63 long");

const grant = z.enum(GRANTS as ["send", "receive", "read", "manage"]);

const retryPolicy = z.strictObject({
  initialDelaySeconds: seconds(LIMITS.retry.initialDelaySeconds).optional(),
  maxDelaySeconds: seconds(LIMITS.retry.maxDelaySeconds).optional(),
  multiplier: z.number().min(LIMITS.retry.multiplier.min).max(LIMITS.retry.multiplier.max).optional(),
  jitter: z.boolean().optional(),
});

const accessEntry = z.strictObject({
  principal: z.string().min(1).max(256).meta({ description: "A subject id, an API key id or an app role" }),
  grants: z.array(grant).min(1),
});

const pushInput = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  timeoutSeconds: seconds(LIMITS.push.timeoutSeconds).optional(),
  maxConcurrency: z.int().min(LIMITS.push.maxConcurrency.min).max(LIMITS.push.maxConcurrency.max).optional(),
});

const settingsShape = {
  visibilityTimeoutSeconds: seconds(LIMITS.visibilityTimeoutSeconds).optional(),
  maxDeliveries: z.int().min(LIMITS.maxDeliveries.min).max(LIMITS.maxDeliveries.max).optional(),
  retry: retryPolicy.optional(),
  messageTtlSeconds: seconds(LIMITS.messageTtlSeconds).optional(),
  deduplicationWindowSeconds: seconds(LIMITS.deduplicationWindowSeconds).optional(),
  maxMessageBytes: z.int().min(LIMITS.maxMessageBytes.min).max(LIMITS.maxMessageBytes.max).optional(),
  partitions: z.int().min(LIMITS.partitions.min).max(LIMITS.partitions.max).optional().meta({
    description:
      "Shards the queue spreads over (default 1); a standard queue may grow it later, a fifo queue never",
  }),
  access: z.array(accessEntry).max(LIMITS.accessEntries).optional(),
};

export const createQueueBody = z
  .strictObject({
    name: queueName,
    ordering: z.enum(["standard", "fifo"]).optional(),
    ...settingsShape,
    push: pushInput
      .optional()
      .meta({ description: "Deliver messages to this webhook instead of waiting for receives" }),
  })
  .meta({ id: "CreateQueue" });

export const updateQueueBody = z
  .strictObject({
    ...settingsShape,
    push: pushInput.extend({ rotateSecret: z.boolean().optional() }).nullable().optional().meta({
      description: "New push settings; null turns push off; rotateSecret derives a new signing secret",
    }),
  })
  .meta({ id: "UpdateQueue" });

const attributes = z
  .record(z.string().regex(LIMITS.attributes.key), z.string().max(LIMITS.attributes.maxValueLength))
  .refine((value) => Object.keys(value).length <= LIMITS.attributes.maxCount, {
    message: `at most ${LIMITS.attributes.maxCount} attributes`,
  });

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

/** `POST .../messages` takes one message, or `{ "messages": [...] }` for a batch. */
export const enqueueBody = z.union([
  z
    .strictObject({ messages: z.array(z.unknown()).min(1).max(LIMITS.batchSize) })
    .meta({ id: "EnqueueBatch" }),
  messageInput,
]);

export const receiveQuery = z.strictObject({
  max: z.coerce
    .number()
    .int()
    .min(LIMITS.receiveMax.min)
    .max(LIMITS.receiveMax.max)
    .default(LIMITS.receiveMax.default),
  visibilityTimeout: z.coerce
    .number()
    .int()
    .min(LIMITS.visibilityTimeoutSeconds.min)
    .max(LIMITS.visibilityTimeoutSeconds.max)
    .optional()
    .meta({ description: "Seconds; the queue's visibilityTimeoutSeconds when absent" }),
  wait: z.coerce
    .number()
    .int()
    .min(LIMITS.waitSeconds.min)
    .max(LIMITS.waitSeconds.max)
    .default(LIMITS.waitSeconds.default)
    .meta({ description: "Seconds to wait for the first message (long polling)" }),
});

const leaseToken = z.string().min(1).max(256);
const messageId = z.string().min(1).max(128);
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

export const redriveBody = z
  .union([
    z.strictObject({ messageIds: z.array(messageId).min(1).max(LIMITS.redriveChunk) }),
    z.strictObject({ all: z.literal(true) }),
  ])
  .meta({ id: "Redrive" });

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize.max).default(LIMITS.pageSize.default),
  cursor: z.string().max(512).optional(),
});

export const browseQuery = z.strictObject({
  view: z.enum(["available", "delayed", "inFlight"]).default("available"),
  attribute: z
    .string()
    .regex(LIMITS.attributes.key)
    .optional()
    .meta({ description: "Only messages carrying this attribute (with `value`, that value)" }),
  value: z.string().max(LIMITS.attributes.maxValueLength).optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.receiveMax.max).default(50),
  cursor: z.string().max(512).optional(),
});

export const createKeyBody = z
  .strictObject({
    name: z.string().min(1).max(128),
    roles: z.array(z.literal("admin")).max(1).optional(),
    grants: z
      .record(z.union([queueName, z.literal("*")]), z.array(grant).min(1))
      .optional()
      .meta({ description: 'Grants by queue name, or "*" for every queue' }),
  })
  .meta({ id: "CreateKey" });

export const queueParams = z.strictObject({ queue: z.string() });
export const messageParams = z.strictObject({ queue: z.string(), messageId: z.string() });
export const taskParams = z.strictObject({ queue: z.string(), taskId: z.string() });
export const keyParams = z.strictObject({ id: z.string() });
export const assetParams = z.strictObject({ asset: z.string().max(256).default("") });

// Response shapes: used only to document the API.

const timestamp = z.string().meta({ format: "date-time" });

export const queueResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    ordering: z.enum(["standard", "fifo"]),
    visibilityTimeoutSeconds: z.int(),
    maxDeliveries: z.int(),
    retry: z.object({
      initialDelaySeconds: z.number(),
      maxDelaySeconds: z.number(),
      multiplier: z.number(),
      jitter: z.boolean(),
    }),
    messageTtlSeconds: z.int(),
    deduplicationWindowSeconds: z.int(),
    maxMessageBytes: z.int(),
    partitions: z.int(),
    access: z.array(accessEntry),
    push: z
      .object({
        url: z.string(),
        timeoutSeconds: z.int(),
        maxConcurrency: z.int(),
        secretVersion: z.int(),
        signingSecret: z
          .string()
          .optional()
          .meta({ description: "whsec_…: shown once, at creation or after rotateSecret" }),
      })
      .optional(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: "Queue" });

export const statsResponse = z
  .object({
    available: z.int(),
    delayed: z.int(),
    inFlight: z.int(),
    deadLettered: z.int(),
    oldestAvailableAgeSeconds: z.int(),
    enqueuedTotal: z.int(),
    ackedTotal: z.int(),
    deadLetteredTotal: z.int(),
    redrivenTotal: z.int(),
  })
  .meta({ id: "QueueStats" });

export const metricsQuery = z.strictObject({
  minutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(60)
    .default(60)
    .meta({ description: "How far back, up to an hour" }),
});

export const metricsResponse = z
  .object({
    sampleEverySeconds: z.int().meta({ description: "How often a queue that changes is sampled" }),
    points: z.array(statsResponse.extend({ at: timestamp })),
  })
  .meta({ id: "QueueMetrics" });

export const queueDetailResponse = queueResponse
  .extend({
    stats: statsResponse,
    grants: z
      .array(grant)
      .meta({ description: "What the caller may do on this queue (all four for an admin)" }),
  })
  .meta({ id: "QueueDetail" });

export const enqueueResponse = z
  .object({
    messageId: z.string(),
    sequence: z.int(),
    enqueuedAt: timestamp,
    visibleAt: timestamp,
    duplicate: z.boolean(),
  })
  .meta({ id: "Enqueued" });

const problemShape = {
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
};

export const problemResponse = z.object(problemShape).meta({ id: "Problem" });

export const batchResponse = z
  .object({
    results: z.array(
      z.object({
        index: z.int(),
        status: z.int(),
        messageId: z.string().optional(),
        sequence: z.int().optional(),
        duplicate: z.boolean().optional(),
        error: problemResponse.optional(),
      }),
    ),
  })
  .meta({ id: "EnqueueBatchResult" });

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

export const deadLettersResponse = z
  .object({ messages: z.array(messageResponse), nextCursor: z.string().optional() })
  .meta({ id: "DeadLetters" });

export const settleResponse = z
  .object({
    results: z.array(z.object({ messageId: z.string(), status: z.int(), error: problemResponse.optional() })),
  })
  .meta({ id: "SettleResult" });

export const keyResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    grants: z.record(z.string(), z.array(grant)),
    createdAt: timestamp,
    key: z.string().optional().meta({ description: "The secret key; shown once, at creation" }),
  })
  .meta({ id: "ApiKey" });

export const redriveResponse = z
  .object({
    redriven: z.int(),
    remaining: z.int(),
    taskId: z.string().optional(),
    status: z.enum(["running", "done", "failed"]).optional(),
  })
  .meta({ id: "RedriveResult" });

export const healthResponse = z
  .object({ status: z.enum(["ok", "unavailable"]), store: z.enum(["sqlite", "cosmos"]), version: z.string() })
  .meta({ id: "Health" });

export const listOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() }).meta({ id });
