import type { Conveyor } from "../app.js";
import type { Logger } from "../logger.js";
import type { SendWebhook } from "../service/ports.js";
import { deliverPush } from "../service/push.js";

/** A lease outlives the request's own timeout by this much, so a slow answer is not delivered twice. */
const LEASE_MARGIN_SECONDS = 5;

export interface PushRunner {
  /** Stops taking new deliveries and waits for those in flight. */
  stop(): Promise<void>;
}

/**
 * Push delivery on the local host. The store is the durable job list: a push
 * queue's due messages, in delivery order. The runner leases them like any
 * consumer (at most `maxConcurrency` per queue) and hands each to the same
 * `deliverPush` handler the Service Bus function runs. A crash mid-delivery
 * leaves a lease that expires, and the message is delivered again: nothing is
 * lost, and a restart resumes where the store stands.
 */
export function startPushRunner(
  conveyor: Conveyor,
  send: SendWebhook,
  logger: Logger,
  pollMs = 100,
): PushRunner {
  const { context } = conveyor;
  const inFlight = new Map<string, number>();
  const deliveries = new Set<Promise<void>>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  async function tick(): Promise<void> {
    const queues = await context.store.listPushQueues();
    for (const queue of queues) {
      const push = queue.push;
      if (!push || stopped) continue;
      const free = push.maxConcurrency - (inFlight.get(queue.id) ?? 0);
      if (free <= 0) continue;
      const { delivered } = await context.store.receive(queue, {
        now: context.clock.now(),
        max: free,
        visibilityTimeoutSeconds: push.timeoutSeconds + LEASE_MARGIN_SECONDS,
      });
      for (const message of delivered) {
        inFlight.set(queue.id, (inFlight.get(queue.id) ?? 0) + 1);
        const delivery = deliverPush(context, send, queue, message)
          .then((outcome) => {
            if (outcome.kind === "acked") return;
            const level = outcome.kind === "deadLettered" ? "warn" : "info";
            logger[level]("push delivery failed", {
              queue: queue.name,
              messageId: message.id,
              attempt: message.deliveryCount,
              outcome: outcome.kind,
              ...("error" in outcome ? { error: outcome.error } : {}),
            });
          })
          .catch((error: unknown) =>
            logger.error("push delivery crashed", { queue: queue.name, error: String(error) }),
          )
          .finally(() => {
            inFlight.set(queue.id, (inFlight.get(queue.id) ?? 1) - 1);
            deliveries.delete(delivery);
          });
        deliveries.add(delivery);
      }
    }
  }

  function loop(): void {
    if (stopped) return;
    tick()
      .catch((error: unknown) =>
        logger.warn("push runner could not poll the store", { error: String(error) }),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      });
  }
  loop();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.allSettled([...deliveries]);
    },
  };
}
