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

type Delta<Total extends string> = Partial<Record<Total, number>>;

/**
 * The lifetime totals this process has counted and not yet sent: a queue
 * partition's (enqueued, acked, dead-lettered, redriven) or a topic's
 * (published, delivered, filtered), added up per key in memory and sent by
 * `sendDelta` (one `incr` patch) per key a flush, after the writes they count
 * have committed (docs/reliability.md, "Totals"). A flush waits for the
 * patches of its keys under way, so a stats read here, which flushes first,
 * counts every write this process has answered. A patch refused for the
 * budget (429: nothing applied) is kept for the next flush; one of unknown
 * outcome is dropped rather than risk counting twice. The delta objects are
 * keyed only by the fixed total names; the keys (partition keys, topic ids)
 * live in a Map.
 */
export class PendingTotals<Total extends string> {
  private readonly pending = new Map<string, Delta<Total>>();
  private readonly sending = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sendDelta: (key: string, delta: Delta<Total>) => Promise<void>,
    private readonly flushMs = TOTALS_FLUSH_MS,
  ) {}

  add(key: string, delta: Delta<Total>): void {
    const sum: Delta<Total> = this.pending.get(key) ?? {};
    for (const [total, value] of Object.entries(delta) as [Total, number][])
      if (value !== 0) sum[total] = (sum[total] ?? 0) + value;
    if (Object.keys(sum).length === 0) return;
    this.pending.set(key, sum);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs).unref();
  }

  /** Sends what is pending for these keys (every key when omitted) and waits for it. */
  async flush(keys: readonly string[] = [...this.pending.keys()]): Promise<void> {
    await Promise.all(
      keys.map((key) => {
        const delta = this.pending.get(key);
        if (delta) {
          this.pending.delete(key);
          this.send(key, delta);
        }
        return this.sending.get(key);
      }),
    );
  }

  /** Drops what is pending for these keys: their queue or topic is gone, and a patch would leave a `meta` behind. */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.pending.delete(key);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** One patch at a time per key: a flush that finds one under way waits for it, so it sees its own counts. */
  private send(key: string, delta: Delta<Total>): void {
    const sent = (this.sending.get(key) ?? Promise.resolve())
      .then(() => this.sendDelta(key, delta))
      .catch((error: unknown) => {
        // No request waits on a flush to be told: only a refusal that applied nothing is tried again.
        if (error instanceof StoreBusyError && error.reason === "overloaded") this.add(key, delta);
      })
      .finally(() => {
        if (this.sending.get(key) === sent) this.sending.delete(key);
      });
    this.sending.set(key, sent);
  }
}
