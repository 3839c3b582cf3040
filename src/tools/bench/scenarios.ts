import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  azuriteDialect,
  constantPost,
  conveyorDialect,
  depthProbe,
  pacedProducer,
  type QueueDialect,
  receiveAndSettle,
} from "../bench-lua.js";
import { wrk } from "./loaders.js";
import { assertAlive, cpuSeconds, sleep, type Target } from "./processes.js";
import { type BenchRow, describe, producerConsumerRow, toRow } from "./report.js";
import { AZURITE_ACCOUNT, BODY, startTargets, type Targets } from "./targets.js";
import { topics } from "./topics.js";

/** How long each part runs, and how deep the backlogs are. */
export interface Plan {
  seconds: number;
  steadySeconds: number;
  receiveBacklog: number;
  azuriteBacklog: number;
  depths: number[];
  /**
   * The topics part: the connections it publishes single messages and
   * batches of 100 at, and how long each run is (a batch of 100 to 50
   * subscriptions is 5,000 copies: a quick run's 2 s may not finish one).
   */
  topics: { single: number[]; batch: number[]; seconds: number };
}

export const PLANS: Record<"quick" | "full", Plan> = {
  quick: {
    seconds: 2,
    steadySeconds: 5,
    receiveBacklog: 20_000,
    azuriteBacklog: 2_000,
    depths: [10, 10_000, 100_000],
    topics: { single: [16], batch: [1], seconds: 5 },
  },
  full: {
    seconds: 10,
    steadySeconds: 30,
    receiveBacklog: 100_000,
    azuriteBacklog: 5_000,
    depths: [10, 10_000, 100_000, 1_000_000],
    // A batch of 100 to 50 subscriptions is 5,000 copies: at 16 connections, 80,000 in flight outlast a 10 s run.
    topics: { single: [1, 16, 64], batch: [1, 4], seconds: 10 },
  },
};

export const PARTS = ["enqueue", "receive", "steady", "depth", "topics"] as const;
export type Part = (typeof PARTS)[number];

export interface BenchReport {
  quick: boolean;
  plan: Plan;
  rows: BenchRow[];
}

/** What every scenario runs with: the targets, the plan, and where its rows go. */
export interface Run extends Targets {
  plan: Plan;
  rows: BenchRow[];
  log: (line: string) => void;
  /** Writes a Lua script for wrk; returns its path. */
  script(text: string): string;
  /** One wrk run against `target`, recorded as a row. */
  measure(
    scenario: string,
    target: Target,
    scriptPath: string,
    connections: number,
    messagesPerRequest: number,
    backlog?: number,
    seconds?: number,
  ): Promise<BenchRow>;
}

const CONCURRENCIES = [1, 16, 64];

/** Runs the parts asked for (all by default) against the three targets, in this order. */
export async function runBench(options: {
  quick: boolean;
  /** The parts to run; all of them when absent. */
  only?: readonly Part[];
  log: (line: string) => void;
}): Promise<BenchReport> {
  const runs = (part: Part) => !options.only || options.only.includes(part);
  const plan = PLANS[options.quick ? "quick" : "full"];
  const scratch = mkdtempSync(join(tmpdir(), "conveyor-bench-"));
  const scripts = join(scratch, "scripts");
  mkdirSync(scripts);
  let scriptCount = 0;
  const started: Target[] = [];
  try {
    const targets = await startTargets(scratch, started, options.log);
    const rows: BenchRow[] = [];
    const run: Run = {
      ...targets,
      plan,
      rows,
      log: options.log,
      script(text) {
        const path = join(scripts, `${++scriptCount}.lua`);
        writeFileSync(path, text);
        return path;
      },
      async measure(
        scenario,
        target,
        scriptPath,
        connections,
        messagesPerRequest,
        backlog,
        seconds = plan.seconds,
      ) {
        const pid = target.child.pid as number;
        const cpuBefore = cpuSeconds(pid);
        const result = await wrk(target.url, scriptPath, connections, seconds);
        assertAlive(target);
        const row = toRow(
          scenario,
          target,
          connections,
          seconds,
          result,
          cpuSeconds(pid) - cpuBefore,
          messagesPerRequest,
        );
        if (backlog !== undefined) row.backlog = backlog;
        rows.push(row);
        options.log(describe(row));
        return row;
      },
    };
    if (runs("enqueue")) await enqueue(run);
    await receive(run, runs("receive"));
    await steady(run, runs("steady"));
    if (runs("depth")) await depth(run);
    if (runs("topics")) await topics(run);
    return { quick: options.quick, plan, rows };
  } finally {
    for (const target of started) target.child.kill("SIGTERM");
    await sleep(500);
    rmSync(scratch, { recursive: true, force: true });
  }
}

const jsonHeaders = (run: Run) => ({
  authorization: `Bearer ${run.token}`,
  "content-type": "application/json",
});

/** Single messages against the floor and Azurite, batches of 10 and 100 against the floor. */
async function enqueue(run: Run): Promise<void> {
  const json = jsonHeaders(run);
  const single = JSON.stringify({ body: BODY });
  const batch = (size: number) =>
    JSON.stringify({ messages: Array.from({ length: size }, () => ({ body: BODY })) });
  const azuriteSingle = run.script(
    constantPost(
      `/${AZURITE_ACCOUNT}/bench/messages?${run.sas}`,
      { "content-type": "application/xml" },
      `<QueueMessage><MessageText>${Buffer.from(BODY).toString("base64")}</MessageText></QueueMessage>`,
    ),
  );
  for (const c of CONCURRENCIES) {
    const conveyorSingle = run.script(constantPost("/v1/queues/bench/messages", json, single));
    await run.measure("enqueue 1", run.conveyor, conveyorSingle, c, 1);
    await run.measure("enqueue 1", run.floor, run.script(constantPost("/", json, single)), c, 1);
    await run.measure("enqueue 1", run.azurite, azuriteSingle, c, 1);
  }
  for (const size of [10, 100]) {
    for (const c of CONCURRENCIES) {
      await run.measure(
        `enqueue batch ${size}`,
        run.conveyor,
        run.script(constantPost("/v1/queues/bench/messages", json, batch(size))),
        c,
        size,
      );
      await run.measure(
        `enqueue batch ${size}`,
        run.floor,
        run.script(constantPost("/", json, batch(size))),
        c,
        size,
      );
    }
  }
}

/**
 * Receive and settle from a topped-up backlog. Azurite's receive and delete
 * scan its whole backlog (docs/performance.md): it gets a fixed, shallow
 * one, stated in its rows. Its queue is emptied first even when the part is
 * skipped, as the steady state expects.
 */
async function receive(run: Run, runs: boolean): Promise<void> {
  await run.clearAzurite("bench");
  const loop = { wait: 0, endToEnd: false, idleDelayMs: 0 };
  const receiveBatch = run.script(receiveAndSettle(conveyorDialect("bench", run.token, "batch"), loop));
  const receiveEach = run.script(receiveAndSettle(conveyorDialect("bench", run.token, "each"), loop));
  const azuriteReceive = run.script(
    receiveAndSettle(azuriteDialect(AZURITE_ACCOUNT, "bench", run.sas), loop),
  );
  for (const c of runs ? CONCURRENCIES : []) {
    await run.fillConveyor("bench", run.plan.receiveBacklog);
    const batchBacklog = await run.conveyorBacklog("bench");
    await run.measure("receive 10 + settle", run.conveyor, receiveBatch, c, 0, batchBacklog);
    await run.fillConveyor("bench", run.plan.receiveBacklog);
    const eachBacklog = await run.conveyorBacklog("bench");
    await run.measure("receive 10 + ack each", run.conveyor, receiveEach, c, 0, eachBacklog);
    await run.fillAzurite("bench", run.plan.azuriteBacklog);
    const azuriteBacklog = await run.azuriteBacklog("bench");
    await run.measure("receive 10 + ack each", run.azurite, azuriteReceive, c, 0, azuriteBacklog);
  }
}

/**
 * Producers and consumers together, flat out and then at half of that. It
 * runs on an otherwise empty system: Azurite's receive and delete scan the
 * whole backlog, which would bury its result.
 */
async function steady(run: Run, runs: boolean): Promise<void> {
  await run.purgeConveyor("bench");
  await run.clearAzurite("bench");
  const systems = [
    {
      target: run.conveyor,
      dialect: conveyorDialect("steady", run.token, "batch"),
      purge: () => run.purgeConveyor("steady"),
      backlog: () => run.conveyorBacklog("steady"),
      consumer: { wait: 1, idleDelayMs: 0 },
    },
    {
      target: run.azurite,
      dialect: azuriteDialect(AZURITE_ACCOUNT, "steady", run.sas),
      purge: () => run.clearAzurite("steady"),
      backlog: () => run.azuriteBacklog("steady"),
      // Azure Storage queues do not long-poll: an empty receive waits 10 ms and asks again.
      consumer: { wait: 0, idleDelayMs: 10 },
    },
  ];
  for (const { target, dialect, purge, backlog, consumer } of runs ? systems : []) {
    // Flat out first: the most the mix delivers is what "half the maximum rate" halves.
    const flatOut = await steadyState(run, target, dialect, 1_000_000, consumer, backlog, run.plan.seconds);
    flatOut.scenario = "steady state, flat out";
    delete flatOut.offeredPerSecond;
    run.rows.push(flatOut);
    run.log(describe(flatOut));
    await purge();
    const half = await steadyState(
      run,
      target,
      dialect,
      Math.max(1, Math.floor(flatOut.messagesPerSecond / 2)),
      consumer,
      backlog,
      run.plan.steadySeconds,
    );
    half.scenario = "steady state at half of flat out";
    run.rows.push(half);
    run.log(describe(half));
  }
}

async function steadyState(
  run: Run,
  target: Target,
  dialect: QueueDialect,
  rate: number,
  consumer: { wait: number; idleDelayMs: number },
  backlog: () => Promise<number>,
  seconds: number,
): Promise<BenchRow> {
  const pid = target.child.pid as number;
  const before = await backlog();
  const cpuBefore = cpuSeconds(pid);
  const [produced, consumed] = await Promise.all([
    // Enough producer connections that a slow answer never costs the schedule a slot.
    wrk(target.url, run.script(pacedProducer(dialect, rate / 2)), 64, seconds),
    wrk(target.url, run.script(receiveAndSettle(dialect, { ...consumer, endToEnd: true })), 16, seconds),
  ]);
  assertAlive(target);
  const serverCpuSeconds = cpuSeconds(pid) - cpuBefore;
  const after = await backlog();
  return {
    ...producerConsumerRow("steady state", target, {
      connections: 80,
      seconds,
      produced,
      consumed,
      delivered: consumed.settled ?? 0,
      serverCpuSeconds,
      offeredPerSecond: rate,
    }),
    backlog: after,
    backlogBefore: before,
  };
}

/** Receive latency on one connection at each of the plan's constant depths. */
async function depth(run: Run): Promise<void> {
  for (const level of run.plan.depths) {
    await run.fillConveyor("depth", level);
    const row = await run.measure(
      `receive at depth ${level.toLocaleString("en")}`,
      run.conveyor,
      run.script(depthProbe(conveyorDialect("depth", run.token, "batch"))),
      1,
      0,
      await run.conveyorBacklog("depth"),
    );
    row.scenario = "receive latency at depth";
  }
}
