import type { Database } from "better-sqlite3";

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** How the SQLite store runs its writes: `GroupCommitter` in the product. */
export interface Committer<Change> {
  /** Runs `work` in a transaction; resolves once its effect is durable. */
  run<T>(work: () => T): Promise<T>;
  /** Called by a write while it runs: what it changed, for `onCommitted`. */
  record(change: Change): void;
  /** Runs whatever is queued now; the store's `close()` calls it so nothing queued is dropped. */
  flush(): void;
}

/** Makes the store's committer, given its database and where committed changes go. */
export type OpenCommitter<Change> = (
  db: Database,
  onCommitted: (changes: Change[]) => void,
) => Committer<Change>;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

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
export class GroupCommitter<Change> implements Committer<Change> {
  private pending: Pending[] = [];
  private scheduled = false;
  private changes: Change[] = [];

  constructor(
    private readonly db: Database,
    private readonly onCommitted: (changes: Change[]) => void = () => undefined,
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

  record(change: Change): void {
    this.changes.push(change);
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
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
}
