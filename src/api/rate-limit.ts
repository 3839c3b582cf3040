export interface RateLimitSettings {
  /** Sustained requests per second per bucket. */
  ratePerSecond: number;
  /** How many requests a full bucket allows at once. */
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until one request is allowed. */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Token buckets by key (a tenant, or a tenant and queue). Kept in process:
 * on Azure each instance enforces its own share, which is the usual trade-off
 * for a limit meant to stop runaway clients rather than to bill them.
 * (Hand-written: the npm limiters are fixed or sliding windows, not buckets
 * with a separate burst, and this is twenty lines.)
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly nowMs: () => number = Date.now,
  ) {}

  take(key: string): RateDecision {
    const now = this.nowMs();
    const { ratePerSecond, burst } = this.settings;
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedMs: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * ratePerSecond);
    bucket.updatedMs = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) this.forgetFullBuckets(now);
    return {
      allowed,
      limit: burst,
      remaining: Math.floor(bucket.tokens),
      resetSeconds: Math.ceil((burst - bucket.tokens) / ratePerSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)),
    };
  }

  /** A bucket that would be full by now holds nothing worth remembering. */
  private forgetFullBuckets(now: number): void {
    const { ratePerSecond, burst } = this.settings;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedMs) / 1000) * ratePerSecond >= burst)
        this.buckets.delete(key);
    }
  }
}
