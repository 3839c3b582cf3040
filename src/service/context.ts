import { holdsGrant } from "../domain/access.js";
import type { Grant, Queue } from "../domain/queue.js";
import type { Clock, KeyStore, QueueSignals, QueueStore, ResolveHost } from "./ports.js";
import { type Opener, opener, useCaseOn } from "./resources.js";

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

/** Opens a queue of the caller's tenant with a grant (see `Opener`: another tenant's is not found). */
export const openQueue: Opener<ServiceContext, Queue, Grant> = opener(
  "queue",
  (context: ServiceContext, tenantId, name) => context.store.getQueue(tenantId, name),
  holdsGrant,
);

/** Makes a use case on one named queue of the caller's tenant (see `useCaseOn`). */
export const queueUseCase = useCaseOn(openQueue);
