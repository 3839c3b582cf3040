import { LIMITS } from "./limits.js";

export type Ordering = "standard" | "fifo";

export type Grant = "send" | "receive" | "read" | "manage";
export const GRANTS: readonly Grant[] = ["send", "receive", "read", "manage"];

export interface RetryPolicy {
  initialDelaySeconds: number;
  maxDelaySeconds: number;
  multiplier: number;
  jitter: boolean;
}

export interface PushSettings {
  url: string;
  timeoutSeconds: number;
  /** At most this many deliveries of the queue are in flight at once. */
  maxConcurrency: number;
  /** Which derivation of the signing secret is current (see `push.ts`); bumped to rotate it. */
  secretVersion: number;
}

export interface AccessEntry {
  /** A subject id, an API key id or an app role. */
  principal: string;
  grants: Grant[];
}

/** What a client may set on a queue; everything but `name` and `ordering` can change later (`partitions` only grows). */
export interface QueueSettings {
  visibilityTimeoutSeconds: number;
  maxDeliveries: number;
  retry: RetryPolicy;
  messageTtlSeconds: number;
  deduplicationWindowSeconds: number;
  maxMessageBytes: number;
  /** How many shards the queue's messages spread over (`partition.ts`); fixed for fifo queues, grow-only otherwise. */
  partitions: number;
  push?: PushSettings;
  access: AccessEntry[];
}

export interface Queue extends QueueSettings {
  id: string;
  tenantId: string;
  name: string;
  ordering: Ordering;
  createdAt: Date;
  updatedAt: Date;
}

export const DEFAULT_SETTINGS: QueueSettings = {
  visibilityTimeoutSeconds: LIMITS.visibilityTimeoutSeconds.default,
  maxDeliveries: LIMITS.maxDeliveries.default,
  retry: {
    initialDelaySeconds: LIMITS.retry.initialDelaySeconds.default,
    maxDelaySeconds: LIMITS.retry.maxDelaySeconds.default,
    multiplier: LIMITS.retry.multiplier.default,
    jitter: true,
  },
  messageTtlSeconds: LIMITS.messageTtlSeconds.default,
  deduplicationWindowSeconds: LIMITS.deduplicationWindowSeconds.default,
  maxMessageBytes: LIMITS.maxMessageBytes.default,
  partitions: LIMITS.partitions.default,
  access: [],
};
