import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  QueueServiceClient,
  StorageSharedKeyCredential,
} from "@azure/storage-queue";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { ConveyorClient } from "../client/index.js";
import {
  azuriteDialect,
  constantPost,
  conveyorDialect,
  depthProbe,
  pacedProducer,
  type QueueDialect,
  receiveAndSettle,
} from "./bench-lua.js";
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
 */

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BODY = "x".repeat(1024);
// Azurite's well-known development account; it exists only inside Azurite.
const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

interface Target {
  name: string;
  url: string;
  child: ChildProcess;
}

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrkCpuSeconds: number;
  /** Set by the scripts that count: messages settled (or enqueued, for a producer). */
  settled?: number;
  /** Set by the scripts that time what wrk cannot: end-to-end or receive-only latency. */
  measured?: { count: number; p50Ms: number; p99Ms: number };
}

export interface BenchRow {
  scenario: string;
  target: string;
  connections: number;
  requestsPerSecond: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrkCpuSeconds: number;
  serverCpuSecondsPer1000: number;
  serverRssMb: number;
  /** Messages available in the queue (after the run, for the steady state). */
  backlog?: number;
  backlogBefore?: number;
  /** The steady state's producer rate: half the lower of the best enqueue and receive rates. */
  offeredPerSecond?: number;
  producedPerSecond?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function startProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<Target> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)|successfully listens on (http:\/\/\S+)/i.exec(output);
      if (match) resolve({ name, url: (match[1] ?? match[2]) as string, child });
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
    child.once("exit", (code) =>
      reject(new Error(`${name} exited (${code}) before it listened:\n${output}`)),
    );
  });
}

/** CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function parseDuration(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/**
 * What a wrk run printed: its report on stdout (with the lines the Lua
 * scripts add), and `/usr/bin/time`'s CPU line on stderr.
 */
export function parseWrkOutput(out: string, err: string): WrkResult {
  const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(err);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const settled = /^settled (\d+)$/m.exec(out);
  const measured = /^measured (\d+) p50 ([\d.]+) p99 ([\d.]+)$/m.exec(out);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    // Anchored: the thread-stats lines above end in percentages too ("86.50%"),
    // and wrk pads a value in seconds with a space ("1.24s ").
    p50Ms: parseDuration(/^\s+50%\s+(\S+)\s*$/m.exec(out)?.[1] ?? ""),
    p99Ms: parseDuration(/^\s+99%\s+(\S+)\s*$/m.exec(out)?.[1] ?? ""),
    errors:
      Number(errors?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
    wrkCpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN,
    ...(settled ? { settled: Number(settled[1]) } : {}),
    ...(measured
      ? { measured: { count: Number(measured[1]), p50Ms: Number(measured[2]), p99Ms: Number(measured[3]) } }
      : {}),
  };
}

/** Runs wrk under /usr/bin/time, so the generator's own CPU is known. */
function wrk(url: string, script: string, connections: number, seconds: number): Promise<WrkResult> {
  const threads = Math.min(2, connections);
  const child = spawn(
    "/usr/bin/time",
    [
      "-f",
      "cpu %U %S",
      "wrk",
      "--latency",
      // wrk's default (2 s) would count a slow peer's answers as socket errors (Azurite's
      // receive-and-delete p99 reached 8 s at 64 connections in a full run).
      "--timeout",
      "30s",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "-s",
      script,
      url,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`wrk failed (${code}): ${err || out}`));
      resolve(parseWrkOutput(out, err));
    });
  });
}

const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/** How long each part runs, and how deep the backlogs are. */
interface Plan {
  seconds: number;
  steadySeconds: number;
  receiveBacklog: number;
  azuriteBacklog: number;
  depths: number[];
}

const PLANS: Record<"quick" | "full", Plan> = {
  quick: {
    seconds: 2,
    steadySeconds: 5,
    receiveBacklog: 20_000,
    azuriteBacklog: 2_000,
    depths: [10, 10_000, 100_000],
  },
  full: {
    seconds: 10,
    steadySeconds: 30,
    receiveBacklog: 100_000,
    azuriteBacklog: 5_000,
    depths: [10, 10_000, 100_000, 1_000_000],
  },
};

/** Runs `work` over `total` items, `concurrency` at a time, `chunk` items a call. */
async function inChunks(
  total: number,
  chunk: number,
  concurrency: number,
  work: (size: number) => Promise<unknown>,
  progress?: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  let reported = 0;
  const worker = async () => {
    while (next < total) {
      const size = Math.min(chunk, total - next);
      next += size;
      await work(size);
      done += size;
      if (progress && done - reported >= 100_000) {
        reported = done;
        progress(done);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export const PARTS = ["enqueue", "receive", "steady", "depth"] as const;
export type Part = (typeof PARTS)[number];

export async function runBench(options: {
  quick: boolean;
  /** The parts to run; all of them when absent. */
  only?: readonly Part[];
  log: (line: string) => void;
}): Promise<BenchReport> {
  const { log } = options;
  const runs = (part: Part) => !options.only || options.only.includes(part);
  const plan = PLANS[options.quick ? "quick" : "full"];
  const scratch = mkdtempSync(join(tmpdir(), "conveyor-bench-"));
  const scripts = join(scratch, "scripts");
  mkdirSync(scripts);
  let scriptCount = 0;
  const script = (text: string) => {
    const path = join(scripts, `${++scriptCount}.lua`);
    writeFileSync(path, text);
    return path;
  };

  const dataDir = join(scratch, "conveyor");
  const azuritePort = await freePort();
  const targets: Target[] = [];
  const conveyor = await startProcess("Conveyor", process.execPath, [join(ROOT, "dist/src/local/main.js")], {
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_RATE_LIMIT: "off",
    CONVEYOR_LOG_LEVEL: "error",
  });
  targets.push(conveyor);
  try {
    const floor = await startProcess(
      "floor",
      process.execPath,
      [join(ROOT, "dist/src/tools/floor-server.js")],
      {},
    );
    targets.push(floor);
    const azurite = await startProcess(
      "Azurite",
      join(ROOT, "node_modules/.bin/azurite-queue"),
      [
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        String(azuritePort),
        "--location",
        join(scratch, "azurite"),
        "--silent",
        // Loopback only: Azurite would otherwise send its own telemetry out.
        "--disableTelemetry",
      ],
      {},
    );
    targets.push(azurite);

    const key = await loadOrCreateSigningKey(dataDir);
    const token = await signDevToken(key, {
      tenant: "bench",
      subject: "bench",
      roles: ["admin"],
      ttlSeconds: 3600,
      issuer: "conveyor-local",
      audience: "conveyor",
    });
    const client = new ConveyorClient({ baseUrl: conveyor.url, token });
    for (const name of ["bench", "steady", "depth"]) {
      await client.createQueue({ name, visibilityTimeoutSeconds: 300, deduplicationWindowSeconds: 0 });
    }
    const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
    const azuriteService = new QueueServiceClient(`${azurite.url}/${AZURITE_ACCOUNT}`, credential);
    for (const name of ["bench", "steady"]) await azuriteService.createQueue(name);
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse("rwdlacup"),
        resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
        services: AccountSASServices.parse("q").toString(),
      },
      credential,
    ).toString();

    const conveyorBacklog = async (queue: string) =>
      // The client's keep-alive socket may have sat idle through a load run; a stale one is retried once.
      (await client.stats(queue).catch(() => client.stats(queue))).available;
    const azuriteBacklog = async (queue: string) =>
      (await azuriteService.getQueueClient(queue).getProperties()).approximateMessagesCount ?? 0;
    const fillConveyor = async (queue: string, depth: number) => {
      const missing = depth - (await conveyorBacklog(queue));
      if (missing <= 0) return;
      if (missing >= 100_000) log(`filling "${queue}" with ${missing.toLocaleString("en")} messages`);
      await inChunks(
        missing,
        100,
        4,
        (size) =>
          client.sendBatch(
            queue,
            Array.from({ length: size }, () => ({ body: BODY })),
          ),
        (done) => log(`  ${done.toLocaleString("en")} / ${missing.toLocaleString("en")}`),
      );
    };
    const fillAzurite = async (queue: string, depth: number) => {
      const missing = depth - (await azuriteBacklog(queue));
      const queueClient = azuriteService.getQueueClient(queue);
      if (missing > 0) await inChunks(missing, 1, 32, () => queueClient.sendMessage(BODY));
    };

    const rows: BenchRow[] = [];
    const measure = async (
      scenario: string,
      target: Target,
      scriptPath: string,
      c: number,
      messagesPerRequest: number,
      backlog?: number,
    ) => {
      const pid = target.child.pid as number;
      const cpuBefore = cpuSeconds(pid);
      const result = await wrk(target.url, scriptPath, c, plan.seconds);
      assertAlive(target);
      const row = toRow(
        scenario,
        target,
        c,
        plan.seconds,
        result,
        cpuSeconds(pid) - cpuBefore,
        messagesPerRequest,
      );
      if (backlog !== undefined) row.backlog = backlog;
      rows.push(row);
      log(describe(row));
      return row;
    };

    const json = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const single = JSON.stringify({ body: BODY });
    const batch = (size: number) =>
      JSON.stringify({ messages: Array.from({ length: size }, () => ({ body: BODY })) });
    const azuriteSingle = script(
      constantPost(
        `/${AZURITE_ACCOUNT}/bench/messages?${sas}`,
        { "content-type": "application/xml" },
        `<QueueMessage><MessageText>${Buffer.from(BODY).toString("base64")}</MessageText></QueueMessage>`,
      ),
    );
    const concurrencies = [1, 16, 64];

    for (const c of runs("enqueue") ? concurrencies : []) {
      await measure(
        "enqueue 1",
        conveyor,
        script(constantPost("/v1/queues/bench/messages", json, single)),
        c,
        1,
      );
      await measure("enqueue 1", floor, script(constantPost("/", json, single)), c, 1);
      await measure("enqueue 1", azurite, azuriteSingle, c, 1);
    }
    for (const size of runs("enqueue") ? [10, 100] : []) {
      for (const c of concurrencies) {
        await measure(
          `enqueue batch ${size}`,
          conveyor,
          script(constantPost("/v1/queues/bench/messages", json, batch(size))),
          c,
          size,
        );
        await measure(`enqueue batch ${size}`, floor, script(constantPost("/", json, batch(size))), c, size);
      }
    }

    // Azurite's receive and delete scan its whole backlog (6 ms a receive at 100
    // messages, 28 ms at 5,000): it gets a fixed, shallow one, stated in its rows.
    await azuriteService.getQueueClient("bench").clearMessages();
    const receiveBatch = script(
      receiveAndSettle(conveyorDialect("bench", token, "batch"), {
        wait: 0,
        endToEnd: false,
        idleDelayMs: 0,
      }),
    );
    const receiveEach = script(
      receiveAndSettle(conveyorDialect("bench", token, "each"), { wait: 0, endToEnd: false, idleDelayMs: 0 }),
    );
    const azuriteReceive = script(
      receiveAndSettle(azuriteDialect(AZURITE_ACCOUNT, "bench", sas), {
        wait: 0,
        endToEnd: false,
        idleDelayMs: 0,
      }),
    );
    for (const c of runs("receive") ? concurrencies : []) {
      await fillConveyor("bench", plan.receiveBacklog);
      await measure("receive 10 + settle", conveyor, receiveBatch, c, 0, await conveyorBacklog("bench"));
      await fillConveyor("bench", plan.receiveBacklog);
      await measure("receive 10 + ack each", conveyor, receiveEach, c, 0, await conveyorBacklog("bench"));
      await fillAzurite("bench", plan.azuriteBacklog);
      await measure("receive 10 + ack each", azurite, azuriteReceive, c, 0, await azuriteBacklog("bench"));
    }

    // The steady state runs on an otherwise empty system: Azurite's receive
    // and delete scan the whole backlog, which would bury its result.
    await client.purge("bench");
    await azuriteService.getQueueClient("bench").clearMessages();
    for (const { target, dialect, purge, backlog, consumer } of runs("steady")
      ? [
          {
            target: conveyor,
            dialect: conveyorDialect("steady", token, "batch"),
            purge: () => client.purge("steady"),
            backlog: () => conveyorBacklog("steady"),
            consumer: { wait: 1, idleDelayMs: 0 },
          },
          {
            target: azurite,
            dialect: azuriteDialect(AZURITE_ACCOUNT, "steady", sas),
            purge: () => azuriteService.getQueueClient("steady").clearMessages(),
            backlog: () => azuriteBacklog("steady"),
            // Azure Storage queues do not long-poll: an empty receive waits 10 ms and asks again.
            consumer: { wait: 0, idleDelayMs: 10 },
          },
        ]
      : []) {
      // Flat out first: the most the mix delivers is what "half the maximum rate" halves.
      const flatOut = await steadyState(target, dialect, 1_000_000, consumer, backlog, plan.seconds);
      flatOut.scenario = "steady state, flat out";
      delete flatOut.offeredPerSecond;
      rows.push(flatOut);
      log(describe(flatOut));
      await purge();
      const half = await steadyState(
        target,
        dialect,
        Math.max(1, Math.floor(flatOut.messagesPerSecond / 2)),
        consumer,
        backlog,
        plan.steadySeconds,
      );
      half.scenario = "steady state at half of flat out";
      rows.push(half);
      log(describe(half));
    }

    for (const depth of runs("depth") ? plan.depths : []) {
      await fillConveyor("depth", depth);
      const row = await measure(
        `receive at depth ${depth.toLocaleString("en")}`,
        conveyor,
        script(depthProbe(conveyorDialect("depth", token, "batch"))),
        1,
        0,
        await conveyorBacklog("depth"),
      );
      row.scenario = "receive latency at depth";
    }
    return { quick: options.quick, plan, rows };

    async function steadyState(
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
        wrk(target.url, script(pacedProducer(dialect, rate / 2)), 64, seconds),
        wrk(target.url, script(receiveAndSettle(dialect, { ...consumer, endToEnd: true })), 16, seconds),
      ]);
      assertAlive(target);
      const cpu = cpuSeconds(pid) - cpuBefore;
      const after = await backlog();
      const delivered = consumed.settled ?? 0;
      return {
        scenario: "steady state",
        target: target.name,
        connections: 80,
        requestsPerSecond: round(produced.requestsPerSecond + consumed.requestsPerSecond),
        messagesPerSecond: round(delivered / seconds),
        p50Ms: consumed.measured?.p50Ms ?? Number.NaN,
        p99Ms: consumed.measured?.p99Ms ?? Number.NaN,
        errors: produced.errors + consumed.errors,
        wrkCpuSeconds: round(produced.wrkCpuSeconds + consumed.wrkCpuSeconds, 2),
        serverCpuSecondsPer1000: delivered > 0 ? round((cpu / delivered) * 1000, 3) : Number.NaN,
        serverRssMb: round(rssMb(pid)),
        offeredPerSecond: rate,
        producedPerSecond: round((produced.settled ?? 0) / seconds),
        backlog: after,
        backlogBefore: before,
      };
    }
  } finally {
    for (const target of targets) target.child.kill("SIGTERM");
    await sleep(500);
    rmSync(scratch, { recursive: true, force: true });
  }
}

function assertAlive(target: Target): void {
  if (target.child.exitCode !== null || target.child.signalCode !== null) {
    throw new Error(
      `${target.name} exited (${target.child.exitCode ?? target.child.signalCode}) during the run`,
    );
  }
}

function toRow(
  scenario: string,
  target: Target,
  connections: number,
  seconds: number,
  result: WrkResult,
  cpu: number,
  messagesPerRequest: number,
): BenchRow {
  const messages = result.settled ?? result.requestsPerSecond * seconds * messagesPerRequest;
  const measured = result.measured;
  return {
    scenario,
    target: target.name,
    connections,
    requestsPerSecond: round(result.requestsPerSecond),
    messagesPerSecond: round(messages / seconds),
    p50Ms: measured?.p50Ms ?? result.p50Ms,
    p99Ms: measured?.p99Ms ?? result.p99Ms,
    errors: result.errors,
    wrkCpuSeconds: round(result.wrkCpuSeconds, 2),
    serverCpuSecondsPer1000: messages > 0 ? round((cpu / messages) * 1000, 3) : Number.NaN,
    serverRssMb: round(rssMb(target.child.pid as number)),
  };
}

/** "offered 2,000/s, sent 1,998/s": what a steady-state producer was asked for and managed. */
function production(row: BenchRow): string {
  return [
    row.offeredPerSecond !== undefined ? `offered ${number(row.offeredPerSecond)}/s` : "",
    row.producedPerSecond !== undefined ? `sent ${number(row.producedPerSecond)}/s` : "",
  ]
    .filter(Boolean)
    .join(", ");
}

function backlogOf(row: BenchRow): string {
  return row.backlogBefore !== undefined
    ? `${number(row.backlogBefore)} → ${number(row.backlog)}`
    : number(row.backlog);
}

function describe(row: BenchRow): string {
  const extra = [production(row), row.backlog !== undefined ? `backlog ${backlogOf(row)}` : ""]
    .filter(Boolean)
    .join(" ");
  return `${row.scenario.padEnd(32)} ${row.target.padEnd(8)} c=${String(row.connections).padEnd(3)} ${String(row.requestsPerSecond).padStart(6)} req/s ${String(row.messagesPerSecond).padStart(7)} msg/s p50 ${row.p50Ms.toFixed(2)} p99 ${row.p99Ms.toFixed(2)} ms wrk cpu ${row.wrkCpuSeconds.toFixed(2)} s ${extra}`;
}

const number = (value: number | undefined, digits = 0) =>
  value === undefined || Number.isNaN(value)
    ? ""
    : value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The table docs/performance.md shows, in Markdown. */
export function table(rows: BenchRow[]): string {
  const lines = [
    "| scenario | target | c | req/s | msg/s | p50 ms | p99 ms | wrk CPU s | server CPU s / 1000 msg | server RSS MB | backlog |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const produced = production(row);
    lines.push(
      `| ${row.scenario}${produced ? ` (${produced})` : ""} | ${row.target} | ${row.connections} | ${number(row.requestsPerSecond)} | ${number(row.messagesPerSecond)} | ${number(row.p50Ms, 2)} | ${number(row.p99Ms, 2)} | ${number(row.wrkCpuSeconds, 2)} | ${number(row.serverCpuSecondsPer1000, 3)} | ${number(row.serverRssMb)} | ${backlogOf(row)} |`,
    );
  }
  return lines.join("\n");
}

/** Conveyor against each reference, wherever both ran the same scenario at the same concurrency. */
export function ratios(rows: BenchRow[]): string[] {
  const lines: string[] = [];
  for (const row of rows.filter((r) => r.target === "Conveyor")) {
    const peers = rows.filter(
      (r) => r.scenario === row.scenario && r.connections === row.connections && r.target !== "Conveyor",
    );
    const parts = peers.map(
      (peer) =>
        `Conveyor/${peer.target} ${(row.messagesPerSecond / peer.messagesPerSecond).toFixed(peer.target === "floor" ? 3 : 2)}`,
    );
    if (parts.length > 0) lines.push(`${row.scenario} at c=${row.connections}: ${parts.join(", ")}`);
  }
  const depth = rows.filter((row) => row.scenario === "receive latency at depth");
  const shallowest = depth[0];
  const deepest = depth.at(-1);
  if (shallowest && deepest && shallowest !== deepest) {
    lines.push(
      `receive p99 at depth ${number(deepest.backlog)} / at depth ${number(shallowest.backlog)}: ${(deepest.p99Ms / shallowest.p99Ms).toFixed(2)}`,
    );
  }
  return lines;
}

export interface BenchReport {
  quick: boolean;
  plan: Plan;
  rows: BenchRow[];
}
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true },
      peers: { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      backlog: { type: "string" },
    },
  });
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

/** --rounds, --seconds (each timed send run) and --backlog override the peers' quick or full plan. */
function peerPlanOf(values: {
  quick: boolean;
  rounds?: string;
  seconds?: string;
  backlog?: string;
}): PeerPlan {
  const plan = { ...PEER_PLANS[values.quick ? "quick" : "full"] };
  const positive = (text: string | undefined, name: string) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`--${name} must be a positive number, not ${text}`);
    return value;
  };
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
