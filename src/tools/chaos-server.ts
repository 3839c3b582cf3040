import { SqliteStore } from "../adapters/sqlite/store.js";
import { type OpenedStore, sqliteStore } from "../app.js";
import type { Config } from "../config.js";
import { runLocalHost, startOrExit } from "../local/host.js";
import { ackBeforeCommit } from "./ack-before-commit.js";
import { FAULT_COMMIT_DELAY_MS } from "./chaos.js";

/**
 * The local host as the crash harness runs it. The one difference is
 * CONVEYOR_CHAOS_FAULT=ack-before-commit, which opens the store with a
 * committer that answers writes before committing them, so that a run can
 * prove the checker catches lost messages. Only this entry point reads it,
 * and the faulty committer lives beside it: `npm start` cannot be told to.
 */
const fault = process.env.CONVEYOR_CHAOS_FAULT;
if (fault && fault !== "ack-before-commit") {
  process.stderr.write(`chaos-server: unknown CONVEYOR_CHAOS_FAULT "${fault}"\n`);
  process.exit(2);
}
const faultyStore = (config: Config): OpenedStore =>
  sqliteStore(
    new SqliteStore({ dataDir: config.dataDir, committer: ackBeforeCommit(FAULT_COMMIT_DELAY_MS) }),
  );
startOrExit(() => runLocalHost(fault ? { openStore: faultyStore } : {}));
