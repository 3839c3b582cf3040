import type { LiveEvents, LiveEventsConnection, QueueEvent } from "../../service/ports.js";

export type EventListener = (event: QueueEvent) => void;

/** In-process fan-out of queue events to this host's Server-Sent Events streams. */
export class EventHub implements LiveEvents {
  private readonly listeners = new Map<string, Set<EventListener>>();

  publish(event: QueueEvent): void {
    for (const listener of this.listeners.get(keyOf(event.tenantId, event.queueId)) ?? []) listener(event);
  }

  subscribe = (tenantId: string, queueId: string, listener: EventListener): (() => void) => {
    const key = keyOf(tenantId, queueId);
    const set = this.listeners.get(key) ?? new Set();
    set.add(listener);
    this.listeners.set(key, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  };

  async negotiate(_tenantId: string, _queueId: string, streamPath: string): Promise<LiveEventsConnection> {
    return { transport: "sse", url: streamPath };
  }
}

const keyOf = (tenantId: string, queueId: string) => `${tenantId}\u0000${queueId}`;
