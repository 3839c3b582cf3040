import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { ConveyorApiError, ConveyorClient, type ReceivedMessage } from "../client/index.js";
import { type ModelAccount, startModelAccount } from "./cosmos-model/account.js";
import { type FaultRule, parseFaults } from "./cosmos-model/faults.js";

/**
 * The crash harness. Producers and consumers run against the local host and
 * write a history (invoke, then ok, fail or unknown, per operation) while a
 * supervisor SIGKILLs and restarts the server at random intervals. Then the
 * queues are drained and the checker classifies every message.
 *
 * Producers send with a deduplication id and retry an unknown outcome with
 * the same id; each fifo group belongs to one producer, which sends it in
 * order, so ack order within a group must follow the producer's sequence.
 *
 * With `store: "cosmos"`, several hosts (`instances`) share one Cosmos DB
 * model account (src/tools/cosmos-model) in this process; producers and
 * consumers are spread over them and move to the next host when theirs
 * fails, one random host is killed and restarted at a time, and the model
 * can throttle and inject faults while the load runs (not during the drain).
 */

export interface ChaosOptions {
  kills: number;
  producers: number;
  consumers: number;
  /** Milliseconds between kills, drawn uniformly. */
  killEveryMs: [number, number];
  /** CONVEYOR_CHAOS_FAULT for the server: `ack-before-commit` must make the checker report losses. */
  fault?: string;
  /** The built chaos server to run (default: the one beside this module). */
  serverEntry?: string;
  /** `sqlite` (the default; one host) or `cosmos` (the model account; any number of hosts). */
  store?: "sqlite" | "cosmos";
  instances?: number;
  /** The model's faults during the load, and its budget per partition key (cosmos only). */
  modelFaults?: FaultRule[];
  ruPerSecond?: number;
  log?: (line: string) => void;
}

type Outcome = "ok" | "fail" | "unknown";

interface SendRecord {
  id: string;
  queue: string;
  group?: string;
  seq: number;
  outcomes: Outcome[];
  messageIds: Set<string>;
}

interface DeliveryRecord {
  id: string;
  queue: string;
  messageId: string;
  group?: string;
  seq: number;
  deliveryCount: number;
  ack?: Outcome;
}

export interface ChaosReport {
  kills: number;
  sends: number;
  acknowledgedSends: number;
  unknownSends: number;
  /** Sends whose first attempts had an unknown outcome and were retried with the same dedup id. */
  retriedAcrossCrash: number;
  /** Of those, delivered as more than one message (must be 0). */
  dedupViolations: string[];
  deliveries: number;
  lost: string[];
  unexpected: string[];
  duplicated: number;
  unexplainedDuplicates: string[];
  recovered: number;
  fifoViolations: string[];
  /** After the drain: the queues' lifetime totals against the distinct messages delivered. */
  totals?: { enqueuedTotal: number; ackedTotal: number; distinctMessages: number; exact: boolean };
  /** What the Cosmos DB model charged, throttled and injected (cosmos only). */
  model?: { requestUnits: number; throttled: number; faults: Record<string, number> };
  passed: boolean;
}

const QUEUES = { standard: "chaos-standard", fifo: "chaos-fifo" };
const VISIBILITY_SECONDS = 3;
/** How late the `ack-before-commit` fault commits (src/tools/chaos-server.ts). */
export const FAULT_COMMIT_DELAY_MS = 2000;
const BESIDE = fileURLToPath(new URL("./chaos-server.js", import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = ([low, high]: [number, number]) => low + Math.random() * (high - low);

/** A failure the client could not see the end of: the connection died, or the server was not there. */
const isUnknown = (error: unknown) => !(error instanceof ConveyorApiError) || error.status >= 500;

class Server {
  private child: ChildProcess | undefined;
  url = "";

  constructor(
    private readonly entry: string,
    private readonly dataDir: string,
    private readonly fault: string | undefined,
    private readonly storeEnv: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [this.entry], {
      env: {
        ...process.env,
        CONVEYOR_DATA_DIR: this.dataDir,
        CONVEYOR_PORT: "0",
        CONVEYOR_RATE_LIMIT: "off",
        CONVEYOR_LOG_LEVEL: "error",
        ...this.storeEnv,
        ...(this.fault ? { CONVEYOR_CHAOS_FAULT: this.fault } : {}),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    this.url = await new Promise<string>((resolve, reject) => {
      let output = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`the server exited (${code}) before it listened`)));
    });
  }

  kill(): Promise<void> {
    return this.signalAndWait("SIGKILL");
  }

  stop(): Promise<void> {
    return this.signalAndWait("SIGTERM");
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const instances = options.instances ?? 1;
  if (instances > 1 && options.store !== "cosmos") throw new Error("several instances need --store cosmos");
  const account: ModelAccount | undefined =
    options.store === "cosmos"
      ? await startModelAccount({
          database: `chaos-${process.pid}-${Date.now()}`,
          ...(options.ruPerSecond ? { ruPerSecond: options.ruPerSecond } : {}),
        })
      : undefined;
  // A data directory per host (each has its own push dispatcher file), all with the first one's signing key.
  const dataDirs = Array.from({ length: instances }, () => mkdtempSync(join(tmpdir(), "conveyor-chaos-")));
  const [firstDir] = dataDirs as [string];
  const key = await loadOrCreateSigningKey(firstDir);
  for (const dir of dataDirs.slice(1))
    for (const file of readdirSync(firstDir)) copyFileSync(join(firstDir, file), join(dir, file));
  const servers = dataDirs.map(
    (dir) => new Server(options.serverEntry ?? BESIDE, dir, options.fault, account?.env ?? {}),
  );
  // The first host creates the containers; then the others start beside it.
  await servers[0]?.start();
  await Promise.all(servers.slice(1).map((server) => server.start()));
  const token = await signDevToken(key, {
    tenant: "chaos",
    subject: "chaos",
    roles: ["admin"],
    ttlSeconds: 3600,
    issuer: "conveyor-local",
    audience: "conveyor",
  });
  // A client per call reads the host's current URL: it changes with every restart.
  const api = (instance = 0) =>
    new ConveyorClient({ baseUrl: (servers[instance % instances] as Server).url, token });
  await api().createQueue({
    name: QUEUES.standard,
    visibilityTimeoutSeconds: VISIBILITY_SECONDS,
    maxDeliveries: 1000,
  });
  await api().createQueue({
    name: QUEUES.fifo,
    ordering: "fifo",
    visibilityTimeoutSeconds: VISIBILITY_SECONDS,
    maxDeliveries: 1000,
  });

  // The setup must outlive the first kill: under the injected fault it is durable only once the late commit ran.
  if (options.fault) await sleep(FAULT_COMMIT_DELAY_MS + 500);

  const sends = new Map<string, SendRecord>();
  const deliveries: DeliveryRecord[] = [];
  let producing = true;
  let consuming = true;

  for (const rule of options.modelFaults ?? []) account?.model.inject(rule);

  const producer = async (index: number) => {
    for (let seq = 0; producing; seq++) {
      const fifo = seq % 2 === 1;
      const record: SendRecord = {
        id: `p${index}-${seq}`,
        queue: fifo ? QUEUES.fifo : QUEUES.standard,
        ...(fifo ? { group: `g${index}` } : {}),
        seq,
        outcomes: [],
        messageIds: new Set(),
      };
      sends.set(record.id, record);
      // Retry an unknown outcome with the same deduplication id until it is known.
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          // A failed attempt moves on to the next host.
          const sent = await api(index + attempt).send(record.queue, {
            body: { id: record.id, seq, group: record.group ?? null },
            deduplicationId: record.id,
            ...(record.group ? { groupId: record.group } : {}),
          });
          record.outcomes.push("ok");
          record.messageIds.add(sent.messageId);
          break;
        } catch (error) {
          record.outcomes.push(isUnknown(error) ? "unknown" : "fail");
          if (!isUnknown(error)) break;
          await sleep(50);
        }
      }
    }
  };

  const consumer = async (queue: string, index: number) => {
    let instance = index;
    while (consuming) {
      let messages: ReceivedMessage[];
      try {
        messages = await api(instance).receive(queue, { max: 10, wait: 1 });
      } catch {
        instance++;
        await sleep(50);
        continue;
      }
      // A fifo consumer whose ack failed leaves the rest of that group's run alone (it comes back in order
      // when the lease runs out): acking a later message first would be its own fifo violation.
      const stalled = new Set<string>();
      for (const message of messages) {
        const body = message.body as { id: string; seq: number; group: string | null };
        if (body.group !== null && stalled.has(body.group)) continue;
        const delivery: DeliveryRecord = {
          id: body.id,
          queue,
          messageId: message.messageId,
          ...(body.group ? { group: body.group } : {}),
          seq: body.seq,
          deliveryCount: message.deliveryCount,
        };
        deliveries.push(delivery);
        try {
          await api(instance).ack(queue, message.messageId, message.leaseToken);
          delivery.ack = "ok";
        } catch (error) {
          delivery.ack = isUnknown(error) ? "unknown" : "fail";
          if (body.group !== null) stalled.add(body.group);
        }
      }
    }
  };

  const producers = Array.from({ length: options.producers }, (_, index) => producer(index));
  const consumers = Array.from({ length: options.consumers }, (_, index) =>
    consumer(index % 2 === 0 ? QUEUES.standard : QUEUES.fifo, index),
  );

  for (let kill = 1; kill <= options.kills; kill++) {
    await sleep(between(options.killEveryMs));
    const victim = Math.floor(Math.random() * instances);
    const server = servers[victim] as Server;
    await server.kill();
    await server.start();
    log(
      `kill ${kill}/${options.kills}: host ${victim} restarted; ${sends.size} sends, ${deliveries.length} deliveries so far`,
    );
  }

  producing = false;
  await Promise.all(producers);
  const usage = account?.model.usage();
  account?.model.clearFaults();
  // Drain: leases cut short by the last kill expire after the visibility timeout.
  for (let quiet = 0; quiet < 3; ) {
    const before = deliveries.length;
    await sleep((VISIBILITY_SECONDS + 1) * 1000);
    const stats = await queueStats(api());
    const pending = stats.reduce((sum, s) => sum + s.available + s.inFlight + s.delayed, 0);
    quiet = deliveries.length === before && pending === 0 ? quiet + 1 : 0;
    log(`draining: ${pending} messages left, ${deliveries.length} deliveries`);
  }
  consuming = false;
  await Promise.all(consumers);
  const stats = await queueStats(api());
  await Promise.all(servers.map((server) => server.stop()));
  await account?.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  const report = check(options.kills, sends, deliveries, {
    enqueuedTotal: stats.reduce((sum, s) => sum + s.enqueuedTotal, 0),
    ackedTotal: stats.reduce((sum, s) => sum + s.ackedTotal, 0),
  });
  if (usage) {
    report.model = {
      requestUnits: Math.round(usage.requestUnits),
      throttled: usage.throttled,
      faults: Object.fromEntries(usage.faults),
    };
  }
  return report;
}

const queueStats = (client: ConveyorClient) =>
  Promise.all([client.stats(QUEUES.standard), client.stats(QUEUES.fifo)]);

export function check(
  kills: number,
  sends: Map<string, SendRecord>,
  deliveries: DeliveryRecord[],
  totals?: { enqueuedTotal: number; ackedTotal: number },
): ChaosReport {
  const delivered = new Map<string, DeliveryRecord[]>();
  for (const delivery of deliveries)
    delivered.set(delivery.id, [...(delivered.get(delivery.id) ?? []), delivery]);

  const acknowledged = [...sends.values()].filter((send) => send.outcomes.includes("ok"));
  const unknown = [...sends.values()].filter(
    (send) => !send.outcomes.includes("ok") && send.outcomes.includes("unknown"),
  );
  const lost = acknowledged.filter((send) => !delivered.has(send.id)).map((send) => send.id);
  const unexpected = [...delivered.keys()].filter((id) => !sends.has(id));
  const recovered = unknown.filter((send) => delivered.has(send.id)).length;

  // One producer id must never become two messages (the dedup id survives crashes and retries).
  const dedupViolations = [...delivered.entries()]
    .filter(([, records]) => new Set(records.map((record) => record.messageId)).size > 1)
    .map(([id]) => id);

  // A second delivery is explained only if no earlier delivery of the message was acked for sure.
  let duplicated = 0;
  const unexplainedDuplicates: string[] = [];
  for (const [id, records] of delivered) {
    if (records.length < 2) continue;
    duplicated++;
    const ackedBefore = records.slice(0, -1).some((record) => record.ack === "ok");
    if (ackedBefore) unexplainedDuplicates.push(id);
  }

  // Fifo: the first successful ack of each message, per group, in the order acks happened, must follow seq.
  const fifoViolations: string[] = [];
  const lastAcked = new Map<string, number>();
  for (const delivery of deliveries) {
    if (!delivery.group || delivery.ack !== "ok") continue;
    const previous = lastAcked.get(delivery.group) ?? -1;
    if (delivery.seq < previous)
      fifoViolations.push(`${delivery.group}: seq ${delivery.seq} acked after ${previous}`);
    lastAcked.set(delivery.group, Math.max(previous, delivery.seq));
  }

  const report: ChaosReport = {
    kills,
    sends: sends.size,
    acknowledgedSends: acknowledged.length,
    unknownSends: unknown.length,
    retriedAcrossCrash: [...sends.values()].filter(
      (send) => send.outcomes.includes("unknown") && send.outcomes.includes("ok"),
    ).length,
    deliveries: deliveries.length,
    lost,
    unexpected,
    duplicated,
    unexplainedDuplicates,
    recovered,
    dedupViolations,
    fifoViolations,
    passed: false,
  };
  // Every message was delivered and acked by the end of the drain: each is counted once in both totals.
  if (totals) {
    const distinctMessages = new Set(deliveries.map((delivery) => delivery.messageId)).size;
    const exact = totals.enqueuedTotal === distinctMessages && totals.ackedTotal === distinctMessages;
    report.totals = { ...totals, distinctMessages, exact };
  }
  report.passed =
    lost.length === 0 &&
    unexpected.length === 0 &&
    unexplainedDuplicates.length === 0 &&
    dedupViolations.length === 0 &&
    fifoViolations.length === 0 &&
    report.totals?.exact !== false;
  return report;
}

/**
 * `npm run chaos -- --kills 50 [--fault ack-before-commit]`
 * `npm run chaos -- --store cosmos --instances 3 [--model-faults unavailable:0.01,lost-answer:0.005] [--ru-per-second 2000]`
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kills: { type: "string", default: "50" },
      producers: { type: "string", default: "8" },
      consumers: { type: "string", default: "4" },
      fault: { type: "string" },
      store: { type: "string", default: "sqlite" },
      instances: { type: "string", default: "1" },
      "model-faults": { type: "string" },
      "ru-per-second": { type: "string" },
    },
  });
  if (values.store !== "sqlite" && values.store !== "cosmos") throw new Error("--store is sqlite or cosmos");
  const report = await runChaos({
    kills: Number(values.kills),
    producers: Number(values.producers),
    consumers: Number(values.consumers),
    killEveryMs: [200, 1500],
    ...(values.fault ? { fault: values.fault } : {}),
    store: values.store,
    instances: Number(values.instances),
    modelFaults: parseFaults(values["model-faults"]),
    ...(values["ru-per-second"] ? { ruPerSecond: Number(values["ru-per-second"]) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const summary = {
    ...report,
    lost: report.lost.length,
    lostSample: report.lost.slice(0, 5),
    unexpected: report.unexpected.length,
    unexplainedDuplicates: report.unexplainedDuplicates.length,
    dedupViolations: report.dedupViolations.length,
    fifoViolations: report.fifoViolations.length,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
