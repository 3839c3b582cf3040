import { holdsGrant, type Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Grant, Queue } from "../domain/queue.js";
import type { Clock, KeyStore, QueueSignals, QueueStore, ResolveHost } from "./ports.js";

/** What every use case needs; built once per host in `src/app.ts`. */
export interface ServiceContext {
  store: QueueStore;
  keys: KeyStore;
  clock: Clock;
  signals: QueueSignals;
  /** Uniform in [0, 1): backoff jitter. */
  random: () => number;
  /** HMAC of an API key's secret with the pepper; the only form in which a secret is stored. */
  hashKeySecret: (secret: string) => string;
  /**
   * How often a long poll looks at the store again even without a signal: signals
   * reach only this process, so a host with several instances needs a fallback.
   */
  longPollFallbackMs: number;
  push: {
    /** CONVEYOR_ALLOW_PRIVATE_PUSH: private and loopback targets allowed (a local host only). */
    allowPrivate: boolean;
    resolveHost: ResolveHost;
    signingMaster: Buffer;
  };
}

/**
 * Loads a queue of the caller's tenant and checks the grant. Another tenant's
 * queue is simply not found (404, never 403), so names cannot be probed
 * across tenants.
 */
export async function openQueue(
  context: ServiceContext,
  principal: Principal,
  name: string,
  grant: Grant,
): Promise<Result<Queue>> {
  const queue = await context.store.getQueue(principal.tenantId, name);
  if (!queue) return fail("queue_not_found", `no queue named "${name}"`);
  if (!holdsGrant(principal, queue, grant)) {
    return fail("forbidden", `this credential lacks the "${grant}" grant on queue "${name}"`);
  }
  return ok(queue);
}
