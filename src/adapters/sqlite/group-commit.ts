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
 * at the next turn in ONE transaction, and all of them are answered only
 * after that single COMMIT has reached the disk. Nothing is acknowledged
 * before it is durable. When a write throws, the group runs again with each
 * write in its own savepoint, so one failing write rolls back alone.
 *
 * Writes may `record` what they changed; the records of a write that rolled
 * back are dropped, and the rest go to `onCommitted` after the COMMIT: the
 * local equivalent of a change feed, which never shows an uncommitted change.
 */
/**
 * Faults for the crash harness only (src/tools/chaos-server.ts): nothing in
 * the product's configuration can set them.
 */
export interface CommitFaults {
  /** Answer every write at once and commit it this much later: the bug the crash harness must catch. */
  acknowledgeBeforeCommitMs?: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class GroupCommitter<Change> {
  private pending: Pending[] = [];
  private scheduled = false;
  private changes: Change[] = [];

  constructor(
    private readonly db: Database,
    private readonly onCommitted: (changes: Change[]) => void = () => undefined,
    private readonly faults: CommitFaults = {},
  ) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Called by a write while it runs. */
  record(change: Change): void {
    this.changes.push(change);
  }

  /** Runs whatever is queued now; `close()` calls it so nothing queued is dropped. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.faults.acknowledgeBeforeCommitMs !== undefined) {
      this.flushWithoutWaitingForCommit(batch);
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = this.runTogether(batch);
    } catch {
      // A write threw, and the whole group rolled back. Run the group again,
      // each write in its own savepoint, so only the failing one is undone
      // (a savepoint a write costs too much to pay when nothing fails).
      this.changes = [];
      try {
        outcomes = this.runIsolated(batch);
      } catch (error) {
        this.changes = [];
        for (const item of batch) item.reject(error);
        return;
      }
    }
    const committed = this.changes;
    this.changes = [];
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
    if (committed.length > 0) this.onCommitted(committed);
  }

  private runTogether(batch: Pending[]): Outcome[] {
    return this.db.transaction(() => batch.map((item): Outcome => ({ ok: true, value: item.work() })))();
  }

  private runIsolated(batch: Pending[]): Outcome[] {
    return this.db.transaction(() =>
      batch.map((item): Outcome => {
        const mark = this.changes.length;
        try {
          return { ok: true, value: this.db.transaction(item.work)() };
        } catch (error) {
          this.changes.length = mark;
          return { ok: false, error };
        }
      }),
    )();
  }

  /** The injected bug: writes run in a transaction left open, are answered, and are committed only later. */
  private flushWithoutWaitingForCommit(batch: Pending[]): void {
    if (!this.db.inTransaction) {
      this.db.exec("BEGIN");
      setTimeout(() => {
        if (this.db.open && this.db.inTransaction) this.db.exec("COMMIT");
      }, this.faults.acknowledgeBeforeCommitMs);
    }
    for (const item of batch) {
      try {
        item.resolve(this.db.transaction(item.work)());
      } catch (error) {
        item.reject(error);
      }
    }
    this.changes = [];
  }
}
