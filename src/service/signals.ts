import type { QueueSignals } from "./ports.js";

/** In-process wake-ups for long polls: a notify resolves every waiter of that queue at once. */
export class InProcessSignals implements QueueSignals {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(queueId: string): void {
    const waiting = this.waiters.get(queueId);
    if (!waiting) return;
    this.waiters.delete(queueId);
    for (const wake of waiting) wake();
  }

  wait(queueId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      let waiting = this.waiters.get(queueId);
      if (!waiting) {
        waiting = new Set();
        this.waiters.set(queueId, waiting);
      }
      const wake = () => {
        signal.removeEventListener("abort", wake);
        this.waiters.get(queueId)?.delete(wake);
        resolve();
      };
      waiting.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }
}
