import type { Database } from "better-sqlite3";
import type { Committer, OpenCommitter } from "../adapters/sqlite/group-commit.js";

/**
 * The bug the crash harness must catch, as a committer of its own (the
 * product's is `GroupCommitter`, which this leaves untouched): every write
 * runs at once in a transaction left open and is answered, and the
 * transaction is committed only `delayMs` later. A kill in between loses
 * writes that were acknowledged. It streams no changes (the harness pushes
 * nothing), and only src/tools/chaos-server.ts makes one.
 */
export function ackBeforeCommit<Change>(delayMs: number): OpenCommitter<Change> {
  return (db: Database): Committer<Change> => ({
    run<T>(work: () => T): Promise<T> {
      if (!db.inTransaction) {
        db.exec("BEGIN");
        setTimeout(() => {
          if (db.open && db.inTransaction) db.exec("COMMIT");
        }, delayMs);
      }
      try {
        return Promise.resolve(db.transaction(work)());
      } catch (error) {
        return Promise.reject(error);
      }
    },
    record: () => undefined,
    flush: () => undefined,
  });
}
