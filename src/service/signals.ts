import type { QueueSignals } from "./ports.js";

/**
 * In-process wake-ups for long polls, oldest waiter first. A notify wakes at
 * most one waiter per message that became available: waking every parked
 * consumer for one message only sends all but one back to sleep, after a
 * receive each that costs a write transaction.
 */
export class InProcessSignals implements QueueSignals {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(queueId: string, available = Number.POSITIVE_INFINITY): void {
    const waiting = this.waiters.get(queueId);
    if (!waiting) return;
    let woken = 0;
    for (const wake of waiting) {
      if (woken++ >= available) break;
      wake();
    }
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
        const queueWaiters = this.waiters.get(queueId);
        queueWaiters?.delete(wake);
        if (queueWaiters?.size === 0) this.waiters.delete(queueId);
        resolve();
      };
      waiting.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }
}
