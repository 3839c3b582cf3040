import { runLocalHost, startOrExit } from "../../local/host.js";
import { compareAndSetConflicts } from "../../service/conflicts.js";

/**
 * The local host as `npm run bench -- --cosmos` runs it: `npm start`'s host,
 * plus one line on SIGUSR2 with this process's count of compare-and-set
 * writes lost (src/service/conflicts.ts), so the benchmark reads every
 * host's conflicts without an endpoint or a change to the host itself (src/tools/bench/cosmos.ts reads the line).
 */
process.on("SIGUSR2", () => {
  process.stdout.write(`compare-and-set conflicts ${compareAndSetConflicts()}\n`);
});
startOrExit(() => runLocalHost());
