import type { CommitFaults } from "../adapters/sqlite/group-commit.js";
import { SqliteStore } from "../adapters/sqlite/store.js";
import { sqliteStore } from "../app.js";
import { runLocalHost, startOrExit } from "../local/host.js";
import { FAULT_COMMIT_DELAY_MS } from "./chaos.js";

/**
 * The local host as the crash harness runs it. The one difference is
 * CONVEYOR_CHAOS_FAULT=ack-before-commit, which makes the store answer writes
 * before committing them, so that a run can prove the checker catches lost
 * messages. Only this entry point reads it; `npm start` cannot be told to.
 */
const fault = process.env.CONVEYOR_CHAOS_FAULT;
const storeFaults: CommitFaults | undefined =
  fault === "ack-before-commit" ? { acknowledgeBeforeCommitMs: FAULT_COMMIT_DELAY_MS } : undefined;
if (fault && !storeFaults) {
  process.stderr.write(`chaos-server: unknown CONVEYOR_CHAOS_FAULT "${fault}"\n`);
  process.exit(2);
}
startOrExit(() =>
  runLocalHost(
    storeFaults
      ? {
          openStore: (config) =>
            sqliteStore(new SqliteStore({ dataDir: config.dataDir, faults: storeFaults })),
        }
      : {},
  ),
);
