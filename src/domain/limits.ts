/** The numeric limits of API v1, in one place so schemas, store and docs agree. */
export const LIMITS = {
  queueName: /^[a-z0-9][a-z0-9\-_.]{0,62}$/,
  visibilityTimeoutSeconds: { min: 1, max: 43_200, default: 30 },
  maxDeliveries: { min: 1, max: 1000, default: 5 },
  messageTtlSeconds: { min: 60, max: 1_209_600, default: 604_800 },
  deduplicationWindowSeconds: { min: 0, max: 86_400, default: 300 },
  maxMessageBytes: { min: 1, max: 1_048_576, default: 262_144 },
  /** Shards of one queue (see partition.ts); 64 covers the target load with room (docs/scale.md). */
  partitions: { min: 1, max: 64, default: 1 },
  retry: {
    initialDelaySeconds: { min: 0, max: 43_200, default: 1 },
    maxDelaySeconds: { min: 0, max: 43_200, default: 600 },
    multiplier: { min: 1, max: 10, default: 2 },
  },
  priority: { min: 0, max: 9, default: 0 },
  delaySeconds: { min: 0, max: 86_400 },
  attributes: { maxCount: 32, key: /^[A-Za-z0-9_.-]{1,128}$/, maxValueLength: 1024 },
  groupId: { maxLength: 128, default: "default" },
  deduplicationId: { maxLength: 128 },
  batchSize: 100,
  receiveMax: { min: 1, max: 100, default: 1 },
  waitSeconds: { min: 0, max: 20, default: 0 },
  leaseExtensionSeconds: { min: 0, max: 43_200 },
  requestBodyBytes: 4 * 1024 * 1024,
  /** Arrays and objects inside one another in a request body, counting the outermost. */
  jsonDepth: 100,
  pageSize: { default: 100, max: 1000 },
  redriveChunk: 1000,
  settleItems: 100,
  accessEntries: 100,
  push: {
    timeoutSeconds: { min: 1, max: 120, default: 30 },
    maxConcurrency: { min: 1, max: 100, default: 10 },
  },
} as const;
