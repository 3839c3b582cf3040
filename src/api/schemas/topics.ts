import { z } from "zod";
import { TOPIC_GRANTS } from "../../domain/access.js";
import { LIMITS } from "../../domain/limits.js";
import { accessEntryOf, batchResultOf, queueName, seconds, timestamp } from "./common.js";

/** The topic routes' request and response shapes (see `./common.ts` for the conventions). */

const grant = z.enum(TOPIC_GRANTS as ["publish", "read", "manage"]);
const accessEntry = accessEntryOf(grant);

export const createTopicBody = z
  .strictObject({
    name: queueName,
    access: z.array(accessEntry).max(LIMITS.accessEntries).optional(),
    deduplicationWindowSeconds: seconds(LIMITS.deduplicationWindowSeconds).optional(),
  })
  .meta({ id: "CreateTopic" });

const filter = z.unknown().meta({
  description:
    '{ "attributes": { key: ["any", "of"] | { "prefix": s } | { "exists": b } | { "anythingBut": [...] } } }; all keys must match',
});

export const putSubscriptionBody = z
  .strictObject({ queue: queueName, filter: filter.optional() })
  .meta({ id: "PutSubscription" });

export const topicResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    access: z.array(accessEntry),
    deduplicationWindowSeconds: z.int(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: "Topic" });

export const subscriptionResponse = z
  .object({
    name: z.string(),
    queue: z.string(),
    filter: z.unknown().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    stats: z.object({
      deliveredTotal: z.int(),
      undeliverableTotal: z.int(),
      lastError: z.string().nullable(),
    }),
  })
  .meta({ id: "Subscription" });

export const topicDetailResponse = topicResponse
  .extend({
    subscriptions: z.array(subscriptionResponse),
    stats: z.object({ publishedTotal: z.int(), deliveredTotal: z.int(), filteredTotal: z.int() }),
    grants: z.array(grant).meta({ description: "What the caller may do on this topic" }),
  })
  .meta({ id: "TopicDetail" });

export const subscriptionListResponse = z
  .object({ items: z.array(subscriptionResponse) })
  .meta({ id: "SubscriptionList" });

export const publishResponse = z
  .object({ messageId: z.string(), subscriptions: z.int(), duplicate: z.boolean() })
  .meta({ id: "Published" });

export const publishBatchResponse = batchResultOf(publishResponse, "PublishBatchResult");

/** A publish's 200: a duplicate inside the window (single form), or a batch's per-item results. */
export const publishOkResponse = z.union([publishResponse, publishBatchResponse]);
