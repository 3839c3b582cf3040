import type { Container } from "@azure/cosmos";
import type { Total } from "./documents.js";
import { addToTotals } from "./queries.js";
import { StoreBusyError } from "./resilience.js";

/**
 * How long this process adds up a partition's totals before it sends them.
 * A totals patch costs two writes of the `meta` document (≈ 10 RU) whatever
 * it adds, as much as the message's own insert and more than its delete, so
 * one patch a call doubled the cost of an enqueue or an ack
 * (docs/performance.md, "Totals a second"). A second keeps the lag of other
 * instances' stats short and what a killed process can leave uncounted small.
 */
export const TOTALS_FLUSH_MS = 1_000;

type Delta = Partial<Record<Total, number>>;

/**
 * The lifetime totals (enqueued, acked, dead-lettered, redriven) this process
 * has counted and not yet sent: added up per partition key in memory and
 * sent as one `incr` patch per partition a flush, after the writes they count
 * have committed (docs/reliability.md, "Totals"). A flush waits for the
 * patches of its partitions under way, so a stats read here, which flushes
 * first, counts every write this process has answered. A patch refused for
 * the budget (429: nothing applied) is kept for the next flush; one of
 * unknown outcome is dropped rather than risk counting twice.
 */
export class PendingTotals {
  private readonly pending = new Map<string, Delta>();
  private readonly sending = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly container: Container,
    private readonly flushMs = TOTALS_FLUSH_MS,
  ) {}

  add(partitionKey: string, delta: Delta): void {
    const sum = this.pending.get(partitionKey) ?? {};
    for (const [total, value] of Object.entries(delta) as [Total, number][])
      if (value !== 0) sum[total] = (sum[total] ?? 0) + value;
    if (Object.keys(sum).length === 0) return;
    this.pending.set(partitionKey, sum);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs).unref();
  }

  /** Sends what is pending for these partitions (every partition when omitted) and waits for it. */
  async flush(partitionKeys: readonly string[] = [...this.pending.keys()]): Promise<void> {
    await Promise.all(
      partitionKeys.map((partitionKey) => {
        const delta = this.pending.get(partitionKey);
        if (delta) {
          this.pending.delete(partitionKey);
          this.send(partitionKey, delta);
        }
        return this.sending.get(partitionKey);
      }),
    );
  }

  /** Drops what is pending for a queue's partitions: the queue is gone, and a patch would leave a `meta` behind. */
  forget(partitionKeys: readonly string[]): void {
    for (const partitionKey of partitionKeys) this.pending.delete(partitionKey);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** One patch at a time per partition: a flush that finds one under way waits for it, so it sees its own counts. */
  private send(partitionKey: string, delta: Delta): void {
    const sent = (this.sending.get(partitionKey) ?? Promise.resolve())
      .then(() => addToTotals(this.container, partitionKey, delta))
      .catch((error: unknown) => {
        // No request waits on a flush to be told: only a refusal that applied nothing is tried again.
        if (error instanceof StoreBusyError && error.reason === "overloaded") this.add(partitionKey, delta);
      })
      .finally(() => {
        if (this.sending.get(partitionKey) === sent) this.sending.delete(partitionKey);
      });
    this.sending.set(partitionKey, sent);
  }
}
