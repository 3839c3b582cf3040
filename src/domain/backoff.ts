import type { RetryPolicy } from "./queue.js";

/**
 * The redelivery delay after a nack without an explicit delay:
 * `min(maxDelay, initialDelay * multiplier^(deliveryCount-1))`, and with
 * `jitter` a uniformly random value in [0, that] ("full jitter"), which
 * spreads retries of a failed batch instead of replaying them in lockstep.
 *
 * `random` returns a number in [0, 1); it is injected so tests are exact.
 */
export function backoffSeconds(policy: RetryPolicy, deliveryCount: number, random: () => number): number {
  const attempt = Math.max(1, deliveryCount);
  const exponential = policy.initialDelaySeconds * policy.multiplier ** (attempt - 1);
  const capped = Math.min(policy.maxDelaySeconds, exponential);
  return policy.jitter ? random() * capped : capped;
}
