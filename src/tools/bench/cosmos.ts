import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKey } from "../../adapters/files/local-secrets.js";
import { ConveyorApiError, ConveyorClient } from "../../client/index.js";
import { type ModelAccount, startModelAccount } from "../cosmos-model/account.js";
import { measureRuPerMessage } from "../cosmos-model/measure.js";
import {
  type CosmosPlan,
  type CosmosReport,
  type CosmosRow,
  checkTargets,
  cosmosTable,
  type PhaseResult,
  ruTable,
  targetLines,
} from "./cosmos-report.js";
import { cpuSeconds, ROOT, sleep, startProcess, type Target } from "./processes.js";
import { benchToken } from "./targets.js";

/**
 * `npm run bench -- --cosmos`: one queue's throughput on the Cosmos DB
 * model (src/tools/cosmos-model) against its partitions and the number of
 * hosts serving it. One @vercel/cosmosdb-server with the model in front runs
 * in this process under a budget of RU/s per partition key value, scaled
 * down (plan.ruPerSecond) so the budget and not the test server's CPU is the
 * limit; each host is a local host in its own process (./cosmos-host.ts),
 * all on that one account. For each configuration, producers and consumers
 * together for plan.seconds (batches of 10; producers stay at most a few
 * batches ahead); with plan.aloneWith's instance counts first enqueue alone,
 * then receive and ack alone (draining what the enqueue left), each for half
 * as long (each phase costs minutes over the whole grid on this machine). The load runs in
 * this process too, with producers and consumers in proportion to the
 * partitions, spread over the hosts, waiting out 429 and 503 as a client
 * would. RU per message for each step, single and batched, come from
 * ../cosmos-model/measure.ts; conflicts from each host's counter.
 */

/**
 * The budget is low because the machine is: on 2 shared cores a host's call
 * takes 200-300 ms unthrottled, so a worker offers at most ~40 messages a
 * second (~1,500 RU/s at ~35 RU each); three per partition offer several
 * times what 300 RU/s lets through, which still holds a settle of 10 (~130 RU).
 */
export const COSMOS_PLANS: Record<"quick" | "full", CosmosPlan> = {
  quick: {
    seconds: 8,
    ruPerSecond: 300,
    partitions: [1, 2],
    instances: [1, 2],
    aloneWith: [1],
    workersPerPartition: 3,
    batch: 10,
  },
  full: {
    seconds: 16,
    ruPerSecond: 300,
    partitions: [1, 2, 4, 8],
    instances: [1, 2, 4],
    aloneWith: [1],
    workersPerPartition: 3,
    batch: 10,
  },
};

const HOST_ENTRY = join(ROOT, "dist/src/tools/bench/cosmos-host.js");
const CONFLICTS_LINE = /^compare-and-set conflicts (\d+)$/m;
const BODY = { pad: "x".repeat(1024 - 12) };
/** Longest a worker waits out one 429 or 503: a client honouring Retry-After in whole seconds would idle longer. */
const MAX_BACKOFF_MS = 1000;

/** A host's count of compare-and-set writes lost so far: it prints it when sent SIGUSR2. */
function conflictsOf(host: Target): Promise<number> {
  const stdout = host.child.stdout;
  return new Promise((resolve, reject) => {
    let text = "";
    const done = () => {
      clearTimeout(timer);
      stdout?.off("data", look);
    };
    const look = (chunk: Buffer) => {
      text += chunk.toString();
      const match = CONFLICTS_LINE.exec(text);
      if (!match) return;
      done();
      resolve(Number(match[1]));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${host.name} did not print its conflicts`));
    }, 5000);
    stdout?.on("data", look);
    host.child.kill("SIGUSR2");
  });
}

const totalConflicts = async (hosts: Target[]) =>
  (await Promise.all(hosts.map(conflictsOf))).reduce((sum, n) => sum + n, 0);

/** Waits out an overloaded answer (true), or says the error was something else (false). */
async function waitedOut(error: unknown): Promise<boolean> {
  if (!(error instanceof ConveyorApiError) || (error.status !== 429 && error.status !== 503)) return false;
  const seconds = Number(error.headers.get("retry-after") ?? 0);
  await sleep(Math.min(MAX_BACKOFF_MS, Math.max(50, seconds * 1000)));
  return true;
}

/** Longest a worker keeps retrying one settle: past the queue's visibility timeout (30 s) its leases are gone anyway. */
const MAX_SETTLE_MS = 30_000;

/**
 * Settles the acks, waiting out 429 and 503 as the typed client's consumer
 * does (src/client/consumer.ts retries settles): an ack given up would leave
 * its message to be leased and paid for again after the visibility timeout.
 */
async function settleWaitingOut(
  client: ConveyorClient,
  queue: string,
  acks: { messageId: string; leaseToken: string }[],
) {
  const giveUpAt = performance.now() + MAX_SETTLE_MS;
  for (;;) {
    try {
      return await client.settle(queue, { acks });
    } catch (error) {
      if (performance.now() > giveUpAt || !(await waitedOut(error))) throw error;
    }
  }
}

interface Load {
  clients: ConveyorClient[];
  queue: string;
  workers: number;
  batch: number;
}

/** Runs producers and/or consumers for `seconds`; counts messages enqueued or acked before the deadline. */
async function phase(
  load: Load,
  account: ModelAccount,
  seconds: number,
  roles: { produce: boolean; consume: boolean },
): Promise<{ result: PhaseResult; delivered: number }> {
  const { clients, queue, workers, batch } = load;
  const client = (index: number) => clients[index % clients.length] as ConveyorClient;
  account.model.resetUsage();
  const deadline = performance.now() + seconds * 1000;
  const open = () => performance.now() < deadline;
  let enqueued = 0;
  let acked = 0;
  let counted = 0;
  let sentInTime = 0;
  let delivered = 0;
  let errors = 0;
  const failed = async (error: unknown) => {
    if (await waitedOut(error)) return;
    errors++;
    await sleep(100);
  };
  // Together, producers hold back while this many of their messages are not acked yet: unpaced, they would
  // spend the partitions' budget on a growing backlog (enqueue is the cheapest step) and starve the consumers.
  const ahead = 2 * workers * batch;
  const producer = async (index: number) => {
    while (open()) {
      if (roles.consume && enqueued - acked > ahead) {
        await sleep(20);
        continue;
      }
      try {
        const sent = await client(index).sendBatch(
          queue,
          Array.from({ length: batch }, () => ({ body: BODY })),
        );
        const ok = sent.results.filter((entry) => entry.status < 300).length;
        if (open()) sentInTime += ok;
        enqueued += ok;
      } catch (error) {
        await failed(error);
      }
    }
  };
  const consumer = async (index: number) => {
    while (open()) {
      try {
        const messages = await client(index).receive(queue, { max: batch, wait: 1 });
        if (messages.length === 0) continue;
        if (open()) delivered += messages.length;
        const acks = messages.map(({ messageId, leaseToken }) => ({ messageId, leaseToken }));
        const settled = await settleWaitingOut(client(index), queue, acks);
        const ok = settled.results.filter((entry) => entry.status < 300).length;
        if (open()) counted += ok;
        acked += ok;
      } catch (error) {
        await failed(error);
      }
    }
  };
  const started = performance.now();
  await Promise.all([
    ...(roles.produce ? Array.from({ length: workers }, (_, index) => producer(index)) : []),
    ...(roles.consume ? Array.from({ length: workers }, (_, index) => consumer(index)) : []),
  ]);
  const elapsed = Math.min(performance.now() - started, seconds * 1000) / 1000;
  const messages = roles.consume ? counted : sentInTime;
  const usage = account.model.usage();
  const perMessage = (ru: number) => (messages > 0 ? Math.round((ru / messages) * 10) / 10 : Number.NaN);
  return {
    result: {
      messagesPerSecond: Math.round((messages / elapsed) * 10) / 10,
      ruPerMessage: perMessage(usage.requestUnits),
      byKind: Object.fromEntries(
        [...usage.byKind].map(([kind, tally]) => [kind, perMessage(tally.requestUnits)]),
      ),
      throttled: usage.throttled,
      errors,
    },
    delivered,
  };
}

async function configuration(
  hosts: Target[],
  clients: ConveyorClient[],
  account: ModelAccount,
  plan: CosmosPlan,
  partitions: number,
): Promise<CosmosRow> {
  const queue = `p${partitions}-i${hosts.length}`;
  await (clients[0] as ConveyorClient).createQueue({ name: queue, partitions, visibilityTimeoutSeconds: 30 });
  const load: Load = { clients, queue, workers: plan.workersPerPartition * partitions, batch: plan.batch };
  const pids = hosts.map((host) => host.child.pid as number);
  const hostsCpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const ownCpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const alone = plan.seconds / 2;
  const each = plan.aloneWith.includes(hosts.length);
  const enqueue = each ? await phase(load, account, alone, { produce: true, consume: false }) : undefined;
  const conflictsBefore = await totalConflicts(hosts);
  const cpuBefore = { own: ownCpu(), hosts: hostsCpu(), at: performance.now() };
  const drain = each ? await phase(load, account, alone, { produce: false, consume: true }) : undefined;
  const endToEnd = await phase(load, account, plan.seconds, { produce: true, consume: true });
  const wall = (performance.now() - cpuBefore.at) / 1000;
  const conflicts = (await totalConflicts(hosts)) - conflictsBefore;
  const delivered = (drain?.delivered ?? 0) + endToEnd.delivered;
  // Off the budget's clock: what is left would otherwise weigh on the next configurations' queries.
  await (clients[0] as ConveyorClient).deleteQueue(queue).catch(() => undefined);
  return {
    instances: hosts.length,
    partitions,
    ...(enqueue && drain ? { enqueue: enqueue.result, drain: drain.result } : {}),
    endToEnd: endToEnd.result,
    conflictsPerDelivered: delivered > 0 ? conflicts / delivered : Number.NaN,
    modelCpu: (ownCpu() - cpuBefore.own) / wall,
    loadAverage: loadavg()[0] as number,
    hostsCpu: (hostsCpu() - cpuBefore.hosts) / wall,
  };
}

/** `instances` local hosts on the account, sharing one signing key; the first creates the containers. */
async function startHosts(account: ModelAccount, instances: number, scratch: string, started: Target[]) {
  const dirs = Array.from({ length: instances }, (_, index) => join(scratch, `host-${instances}-${index}`));
  const [first] = dirs as [string];
  mkdirSync(first, { recursive: true });
  const key = await loadOrCreateSigningKey(first);
  const hosts: Target[] = [];
  for (const [index, dir] of dirs.entries()) {
    mkdirSync(dir, { recursive: true });
    if (index > 0) for (const file of readdirSync(first)) copyFileSync(join(first, file), join(dir, file));
    const host = await startProcess(`host ${index + 1}/${instances}`, process.execPath, [HOST_ENTRY], {
      ...account.env,
      CONVEYOR_DATA_DIR: dir,
      CONVEYOR_PORT: "0",
      CONVEYOR_RATE_LIMIT: "off",
      CONVEYOR_LOG_LEVEL: "error",
    });
    started.push(host);
    hosts.push(host);
  }
  const token = await benchToken(key);
  return { hosts, clients: hosts.map((host) => new ConveyorClient({ baseUrl: host.url, token })) };
}

async function stopAll(targets: Target[]): Promise<void> {
  await Promise.all(
    targets.splice(0).map(async (target) => {
      if (target.child.exitCode !== null || target.child.signalCode !== null) return;
      const exited = new Promise((resolve) => target.child.once("exit", resolve));
      target.child.kill("SIGTERM");
      await exited;
    }),
  );
}

/**
 * What `--partitions` and `--instances` (comma-separated lists) narrow a
 * plan's grid to, and `--seconds` its end-to-end phase's length: conflicts
 * per delivered message need longer phases than throughput to be told apart
 * from noise (docs/performance.md, "Conflicts over longer phases").
 */
export interface CosmosGrid {
  partitions?: number[];
  instances?: number[];
  seconds?: number;
}

export async function runCosmosBench(options: {
  quick: boolean;
  grid?: CosmosGrid;
  log: (line: string) => void;
}): Promise<CosmosReport> {
  const base = COSMOS_PLANS[options.quick ? "quick" : "full"];
  const plan: CosmosPlan = {
    ...base,
    partitions: options.grid?.partitions ?? base.partitions,
    instances: options.grid?.instances ?? base.instances,
    seconds: options.grid?.seconds ?? base.seconds,
  };
  const { log } = options;
  const loadAverage = loadavg();
  log(`cosmos: measuring RU per message (load average ${loadAverage.map((n) => n.toFixed(2)).join(" ")})`);
  const ruPerMessage = await measureRuPerMessage(options.quick ? 20 : 50);
  const account = await startModelAccount({
    database: `bench-${process.pid}`,
    ruPerSecond: plan.ruPerSecond,
  });
  const scratch = mkdtempSync(join(tmpdir(), "conveyor-bench-cosmos-"));
  const started: Target[] = [];
  const rows: CosmosRow[] = [];
  try {
    for (const instances of plan.instances) {
      const { hosts, clients } = await startHosts(account, instances, scratch, started);
      for (const partitions of plan.partitions) {
        const row = await configuration(hosts, clients, account, plan, partitions);
        rows.push(row);
        log(
          `cosmos: ${instances} instance(s) × ${partitions} partition(s): enqueue ${row.enqueue?.messagesPerSecond ?? "-"}/s, receive+ack ${row.drain?.messagesPerSecond ?? "-"}/s, end to end ${row.endToEnd.messagesPerSecond}/s, conflicts/delivered ${row.conflictsPerDelivered.toFixed(3)}, model CPU ${Math.round(row.modelCpu * 100)}%`,
        );
      }
      await stopAll(started);
    }
  } finally {
    await stopAll(started);
    await account.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  return {
    measuredAt: new Date().toISOString(),
    command: `npm run bench -- --cosmos${options.quick ? " --quick" : ""}${gridFlags(options.grid)}`,
    plan,
    loadAverage,
    rows,
    ruPerMessage,
    targets: checkTargets(rows, ruPerMessage),
  };
}

const gridFlags = (grid: CosmosGrid = {}) =>
  (["partitions", "instances"] as const)
    .map((name) => (grid[name] ? ` --${name} ${grid[name].join(",")}` : ""))
    .join("") + (grid.seconds ? ` --seconds ${grid.seconds}` : "");

/** `--partitions 1,4`: the counts, each a whole number from 1 to `max`. */
export function gridList(text: string | undefined, name: string, max: number): number[] | undefined {
  if (text === undefined) return undefined;
  const counts = text.split(",").map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > max)) {
    throw new Error(`--${name} takes whole numbers from 1 to ${max}, comma-separated, not ${text}`);
  }
  return counts;
}

/** What `npm run bench -- --cosmos` prints and keeps: the tables, the targets, bench/results/cosmos-<time>.json. */
export async function cosmosMain(quick: boolean, grid: CosmosGrid = {}): Promise<void> {
  const started = Date.now();
  const report = await runCosmosBench({ quick, grid, log: (line) => process.stdout.write(`${line}\n`) });
  const results = join(ROOT, "bench", "results");
  mkdirSync(results, { recursive: true });
  const file = join(results, `cosmos-${report.measuredAt.replaceAll(":", "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    [
      "",
      `${report.command}, ${report.measuredAt}, load average ${report.loadAverage.map((n) => n.toFixed(2)).join(" ")}, budget ${report.plan.ruPerSecond} RU/s per partition key`,
      "",
      cosmosTable(report.rows),
      "",
      ruTable(report.ruPerMessage),
      "",
      ...targetLines(report.targets),
      `results: ${file} (${Math.round((Date.now() - started) / 1000)} s)`,
      "",
    ].join("\n"),
  );
  const failed = report.rows.filter((row) => row.endToEnd.messagesPerSecond === 0);
  if (failed.length > 0) {
    process.stderr.write(`bench: ${failed.length} Cosmos DB configuration(s) delivered nothing\n`);
    process.exitCode = 1;
  }
}
