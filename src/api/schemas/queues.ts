import { z } from "zod";
import { LIMITS } from "../../domain/limits.js";
import { accessEntryOf, grant, listOf, queryInt, queueName, seconds, timestamp } from "./common.js";

const retryPolicy = z.strictObject({
  initialDelaySeconds: seconds(LIMITS.retry.initialDelaySeconds).optional(),
  maxDelaySeconds: seconds(LIMITS.retry.maxDelaySeconds).optional(),
  multiplier: z.number().min(LIMITS.retry.multiplier.min).max(LIMITS.retry.multiplier.max).optional(),
  jitter: z.boolean().optional(),
});

const accessEntry = accessEntryOf(grant);

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

export const queuePageResponse = listOf(queueResponse, "QueuePage");

/** `GET /v1/queues/{queue}`: the queue, its stats, and what the caller may do on it. */
export const queueDetailResponse = queueResponse
  .extend({
    stats: statsResponse,
    grants: z
      .array(grant)
      .meta({ description: "What the caller may do on this queue (all four for an admin)" }),
  })
  .meta({ id: "QueueDetail" });

export const metricsQuery = z.strictObject({
  minutes: queryInt().min(1).max(60).default(60).meta({ description: "How far back, up to an hour" }),
});

export const metricsResponse = z
  .object({
    sampleEverySeconds: z.int().meta({ description: "How often a queue that changes is sampled" }),
    points: z.array(statsResponse.extend({ at: timestamp })),
  })
  .meta({ id: "QueueMetrics" });

export const negotiateResponse = z
  .object({
    transport: z.enum(["sse", "webpubsub"]),
    url: z.string().meta({ description: "The SSE stream's path, or a Web PubSub client URL" }),
  })
  .meta({ id: "EventsNegotiation" });
