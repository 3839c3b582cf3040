import type { Database } from "better-sqlite3";

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Group commit. With `synchronous=FULL` every COMMIT waits for an fsync, so a
 * transaction per request would cap writes at the disk's fsync rate. Instead,
 * writes that arrive while the event loop is busy are queued and run together
 * at the next turn in ONE transaction, each inside its own savepoint (so one
 * failing write rolls back alone), and all of them are answered only after
 * that single COMMIT has reached the disk. Nothing is acknowledged before it
 * is durable.
 */
export class GroupCommitter {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly db: Database) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs whatever is queued now; `close()` calls it so nothing queued is dropped. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(item.work)() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
  }
}
