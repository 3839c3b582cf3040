import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { ReceivedMessage } from "../client/index.js";
import type { ChaosReport, DeliveryRecord, SendRecord } from "./chaos/check.js";
import { between, isUnknown, sleep, startHosts } from "./chaos/hosts.js";
import { queueWorkload, topicWorkload, VISIBILITY_SECONDS } from "./chaos/workloads.js";
import { type FaultRule, parseFaults } from "./cosmos-model/faults.js";

export type { ChaosReport } from "./chaos/check.js";

/**
 * The crash harness. Producers and consumers run against the local host and
 * write a history (invoke, then ok, fail or unknown, per operation) while a
 * supervisor SIGKILLs and restarts the server at random intervals. Then the
 * queues are drained and the checker classifies every message.
 *
 * Producers send with a deduplication id and retry an unknown outcome with
 * the same id; each fifo group belongs to one producer, which sends it in
 * order, so ack order within a group must follow the producer's sequence.
 * What they write is a workload (./chaos/workloads.ts): straight to a
 * standard and a fifo queue, or, with `topics`, through a topic to three
 * subscription queues, each checked against the publishes it is owed.
 *
 * With `store: "cosmos"`, several hosts (`instances`) share one Cosmos DB
 * model account (src/tools/cosmos-model) in this process; producers and
 * consumers are spread over them and move to the next host when theirs
 * fails, one random host is killed and restarted at a time, and the model
 * can throttle and inject faults while the load runs (not during the drain).
 * The hosts are ./chaos/hosts.ts; the checker is ./chaos/check.ts.
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
  /** Publish through a topic with three subscriptions instead of sending to queues (SQLite only). */
  topics?: boolean;
  /** The model's faults during the load, and its budget per partition key (cosmos only). */
  modelFaults?: FaultRule[];
  ruPerSecond?: number;
  log?: (line: string) => void;
}

/** How late the `ack-before-commit` fault commits (src/tools/chaos-server.ts). */
export const FAULT_COMMIT_DELAY_MS = 2000;
const BESIDE = fileURLToPath(new URL("./chaos-server.js", import.meta.url));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  // The local host runs neither the change feed nor the timer that make a Cosmos DB publish's
  // copies after a crash (src/functions/topic-changes.ts, topic-safety-net.ts): only Azure does.
  if (options.topics && options.store === "cosmos") throw new Error("--topics runs on the SQLite store only");
  const workload = options.topics ? topicWorkload() : queueWorkload();
  const hosts = await startHosts({
    entry: options.serverEntry ?? BESIDE,
    fault: options.fault,
    store: options.store ?? "sqlite",
    instances: options.instances ?? 1,
    ...(options.ruPerSecond ? { ruPerSecond: options.ruPerSecond } : {}),
  });
  const { api, account } = hosts;
  await workload.setup(api());

  // The setup must outlive the first kill: under the injected fault it is durable only once the late commit ran.
  if (options.fault) await sleep(FAULT_COMMIT_DELAY_MS + 500);

  const sends = new Map<string, SendRecord>();
  const deliveries: DeliveryRecord[] = [];
  let producing = true;
  let consuming = true;

  for (const rule of options.modelFaults ?? []) account?.model.inject(rule);

  const producer = async (index: number) => {
    for (let seq = 0; producing; seq++) {
      const record = workload.next(index, seq);
      sends.set(record.id, record);
      // Retry an unknown outcome with the same deduplication id until it is known.
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          // A failed attempt moves on to the next host.
          record.messageIds.add(await workload.send(api(index + attempt), record));
          record.outcomes.push("ok");
          break;
        } catch (error) {
          record.outcomes.push(isUnknown(error) ? "unknown" : "fail");
          if (!isUnknown(error)) break;
          await sleep(50);
        }
      }
    }
  };

  const consumer = async (queue: { name: string; fifo: boolean }, index: number) => {
    let instance = index;
    while (consuming) {
      let messages: ReceivedMessage[];
      try {
        messages = await api(instance).receive(queue.name, { max: 10, wait: 1 });
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
        const group = queue.fifo && body.group !== null ? body.group : undefined;
        if (group !== undefined && stalled.has(group)) continue;
        const delivery: DeliveryRecord = {
          id: body.id,
          queue: queue.name,
          messageId: message.messageId,
          ...(group !== undefined ? { group } : {}),
          seq: body.seq,
          deliveryCount: message.deliveryCount,
        };
        deliveries.push(delivery);
        try {
          await api(instance).ack(queue.name, message.messageId, message.leaseToken);
          delivery.ack = "ok";
        } catch (error) {
          delivery.ack = isUnknown(error) ? "unknown" : "fail";
          if (group !== undefined) stalled.add(group);
        }
      }
    }
  };

  const producers = Array.from({ length: options.producers }, (_, index) => producer(index));
  // Every queue gets a consumer at least.
  const consumerCount = Math.max(options.consumers, workload.queues.length);
  const consumers = Array.from({ length: consumerCount }, (_, index) =>
    consumer(workload.queues[index % workload.queues.length] as { name: string; fifo: boolean }, index),
  );

  for (let kill = 1; kill <= options.kills; kill++) {
    await sleep(between(options.killEveryMs));
    const victim = await hosts.killOne();
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
    const stats = await Promise.all(workload.queues.map((queue) => api().stats(queue.name)));
    const pending = stats.reduce((sum, s) => sum + s.available + s.inFlight + s.delayed, 0);
    quiet = deliveries.length === before && pending === 0 ? quiet + 1 : 0;
    log(`draining: ${pending} messages left, ${deliveries.length} deliveries`);
  }
  consuming = false;
  await Promise.all(consumers);
  const report = await workload.check(api(), options.kills, sends, deliveries);
  await hosts.close();
  if (usage) {
    report.model = {
      requestUnits: Math.round(usage.requestUnits),
      throttled: usage.throttled,
      faults: Object.fromEntries(usage.faults),
    };
  }
  return report;
}

/**
 * `npm run chaos -- --kills 50 [--fault ack-before-commit] [--topics]`
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
      topics: { type: "boolean", default: false },
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
    topics: values.topics,
    modelFaults: parseFaults(values["model-faults"]),
    ...(values["ru-per-second"] ? { ruPerSecond: Number(values["ru-per-second"]) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const summary = summarize(report);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}

/** The report with each list cut to its length (and a sample of what was lost), per subscription too. */
function summarize(report: ChaosReport): Record<string, unknown> {
  const { subscriptions, partialFanOut, ...rest } = report;
  return {
    ...rest,
    lost: report.lost.length,
    lostSample: report.lost.slice(0, 5),
    unexpected: report.unexpected.length,
    unexplainedDuplicates: report.unexplainedDuplicates.length,
    dedupViolations: report.dedupViolations.length,
    fifoViolations: report.fifoViolations.length,
    ...(partialFanOut ? { partialFanOut: partialFanOut.length } : {}),
    ...(subscriptions
      ? {
          subscriptions: Object.fromEntries(
            Object.entries(subscriptions).map(([name, each]) => [name, summarize(each)]),
          ),
        }
      : {}),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
