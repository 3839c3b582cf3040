import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { openQueue, type ServiceContext } from "./context.js";
import type { LiveEvents, QueueEvent } from "./ports.js";

/** A stream repeats the queue's stats this often even when nothing changes (also a keep-alive). */
const STATS_EVERY_MS = 5000;

export type EventStream = (write: (chunk: string) => void, closed: AbortSignal) => Promise<void>;

const frame = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * A queue's live events as Server-Sent Events: its stats at once and every
 * few seconds, then every event the change handler publishes for it, until
 * the client leaves. Hosts that carry events elsewhere (Web PubSub) answer
 * 501 and point at the negotiate route.
 */
export async function streamQueueEvents(
  context: ServiceContext,
  events: LiveEvents,
  principal: Principal,
  queueName: string,
): Promise<Result<EventStream>> {
  const opened = await openQueue(context, principal, queueName, "read");
  if (!opened.ok) return opened;
  const subscribe = events.subscribe;
  if (!subscribe) {
    return fail(
      "not_implemented",
      `this host carries live events through Web PubSub: GET ${queueName}/events/negotiate`,
    );
  }
  const queue = opened.value;
  return ok(async (write, closed) => {
    const send = (event: Pick<QueueEvent, "type" | "data">) => write(frame(event.type, event.data));
    const sendStats = async () => {
      const stats = await context.store.stats(queue, context.clock.now());
      send({ type: "queue.stats", data: { queue: queue.name, ...stats } });
    };
    write("retry: 3000\n\n");
    await sendStats();
    const unsubscribe = subscribe(queue.tenantId, queue.id, send);
    const timer = setInterval(() => void sendStats().catch(() => undefined), STATS_EVERY_MS);
    await new Promise<void>((resolve) => {
      if (closed.aborted) resolve();
      closed.addEventListener("abort", () => resolve(), { once: true });
    });
    clearInterval(timer);
    unsubscribe();
  });
}
