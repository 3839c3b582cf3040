import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cosmosMain, gridList } from "./bench/cosmos.js";
import { ROOT } from "./bench/processes.js";
import { describe, ratios, table } from "./bench/report.js";
import { type BenchReport, PARTS, type Part, PLANS, runBench } from "./bench/scenarios.js";
import { PEER_PLANS, type PeerPlan, peerSummary, runPeers } from "./peers/run.js";

/**
 * `npm run bench`: Conveyor's local host against two references on
 * loopback, each its own process, driven by wrk (a multi-threaded C load
 * generator, so the generator is not the bottleneck; its own CPU is printed
 * beside each result):
 *  - the floor: a bare node:http server answering 201 (what one Node process does at all);
 *  - a peer: Azurite's queue service with its on-disk persistence.
 * 1 KiB messages. Results print as a Markdown table with the ratios and go
 * to bench/results/. `--quick` shortens every run for CI's smoke run.
 * The brokers a team would pick instead (RabbitMQ, BullMQ, pg-boss) run in
 * full runs and with `--peers`; see ./peers/run.ts.
 *
 * The parts: ./bench/targets.ts starts the servers, ./bench/scenarios.ts
 * runs the scenarios (./bench/topics.ts those of topics' fan-out, against
 * Conveyor's own enqueue), ./bench/loaders.ts drives wrk, ./bench/report.ts
 * prints the rows.
 *
 * `--cosmos` (with `--quick` or not) runs only the Cosmos DB scale
 * benchmark instead: one queue against partitions and hosts on the Cosmos
 * DB model; see ./bench/cosmos.ts. `--partitions 1,4` and `--instances 4`
 * (comma-separated counts) narrow its grid, for a shorter run of the rows a
 * change is about; `--seconds` sets its phases' length.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true },
      peers: { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      backlog: { type: "string" },
      cosmos: { type: "boolean", default: false },
      partitions: { type: "string" },
      instances: { type: "string" },
    },
  });
  if (values.cosmos) {
    return cosmosMain(values.quick, {
      partitions: gridList(values.partitions, "partitions", 64),
      instances: gridList(values.instances, "instances", 8),
      seconds: positive(values.seconds, "seconds"),
    });
  }
  const peerPlan = peerPlanOf(values);
  // "peers" is a part of its own: `--only peers` runs nothing but them.
  const only = values.only?.filter((part) => part !== "peers");
  const peers = values.peers || (values.only ? values.only.includes("peers") : !values.quick);
  const unknown = (only ?? []).filter((part) => !PARTS.includes(part as Part));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown part ${unknown.join(", ")}; the parts are ${PARTS.join(", ")}, peers\n`,
    );
    process.exitCode = 2;
    return;
  }
  // The peers' loader is this process: only the other parts need wrk.
  if (only?.length !== 0 && spawnSync("wrk", ["--version"]).error) {
    process.stderr.write("bench: wrk is not installed (npm run setup:bench installs it)\n");
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const report: BenchReport =
    only?.length === 0
      ? { quick: values.quick, plan: PLANS[values.quick ? "quick" : "full"], rows: [] }
      : await runBench({ quick: values.quick, ...(only ? { only: only as Part[] } : {}), log });
  if (report.rows.length > 0)
    process.stdout.write(`\n${table(report.rows)}\n\n${ratios(report.rows).join("\n")}\n`);
  const peerReport = peers ? await runPeers({ plan: peerPlan, root: ROOT, log }) : undefined;
  process.stdout.write(
    peerReport
      ? `\n${peerSummary(peerReport)}\n`
      : "\npeers (RabbitMQ, BullMQ/Redis, pg-boss): skipped; --peers runs them\n",
  );
  const results = join(ROOT, "bench", "results");
  mkdirSync(results, { recursive: true });
  const file = join(results, `${new Date().toISOString().replaceAll(":", "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ ...report, ratios: ratios(report.rows), ...(peerReport ? { peers: peerReport } : {}) }, null, 2)}\n`,
  );
  process.stdout.write(`results: ${file} (${Math.round((Date.now() - started) / 1000)} s)\n`);
  const failed = report.rows.filter((row) => row.messagesPerSecond === 0 || row.errors > 0);
  if (failed.length > 0) {
    for (const row of failed)
      process.stderr.write(`bench: failed or answered errors: ${describe(row)} errors ${row.errors}\n`);
    process.exitCode = 1;
  }
  for (const failure of peerReport?.failures ?? []) {
    process.stderr.write(`bench: ${failure.system} failed in round ${failure.round}: ${failure.message}\n`);
    process.exitCode = 1;
  }
}

function positive(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, not ${text}`);
  return value;
}

/** --rounds, --seconds (each timed send run) and --backlog override the peers' quick or full plan. */
function peerPlanOf(values: {
  quick: boolean;
  rounds?: string;
  seconds?: string;
  backlog?: string;
}): PeerPlan {
  const plan = { ...PEER_PLANS[values.quick ? "quick" : "full"] };
  plan.rounds = Math.round(positive(values.rounds, "rounds") ?? plan.rounds);
  plan.seconds = positive(values.seconds, "seconds") ?? plan.seconds;
  plan.flowSeconds = Math.max(plan.flowSeconds, plan.seconds);
  plan.backlog = Math.round(positive(values.backlog, "backlog") ?? plan.backlog);
  return plan;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    process.stderr.write(
      `bench: ${error instanceof Error ? error.message : String(error)}${cause ? ` (${cause.code ?? cause.message})` : ""}\n`,
    );
    process.exitCode = 2;
  });
}
