import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createHttpServer } from "@vercel/cosmosdb-server";
import { ConveyorApiError, type ConveyorClient } from "../client/index.js";
import { type FaultMode, startFaultProxy } from "./fault-proxy.js";
import { startToolHost } from "./tool-host.js";

/**
 * The store-outage drill. A Conveyor host runs on Cosmos DB (the
 * @vercel/cosmosdb-server test server, in this process) through a TCP fault
 * proxy, under producers and consumers. After a warm-up the proxy takes the
 * store away for `outageMs`, then gives it back; the host is neither
 * restarted nor told. Every answer is classified, then the queue is drained
 * and every acknowledged send must have been delivered.
 *
 * Producers send with a deduplication id and retry a 503 with the same id
 * after the `Retry-After` it carries, so a send is acknowledged exactly once
 * and a retried one cannot become two messages.
 */

export interface DrillOptions {
  outageMs: number;
  warmupMs: number;
  /** Load after the store is back, before the drain. */
  afterMs: number;
  producers: number;
  consumers: number;
  /** How the store goes away: refused connections (the default), HTTP 503s, or silence. */
  mode: Exclude<FaultMode, "pass">;
  /** How long the drain may take before the undelivered count as lost. */
  drainMs?: number;
  log?: (line: string) => void;
}

export interface DrillReport {
  mode: string;
  outageMs: number;
  requests: number;
  ok: number;
  /** 503 answers; every one must carry Retry-After. */
  unavailable: number;
  unavailableWithoutRetryAfter: number;
  /** Any other status of 500 and above, and failures with no answer: must be 0. */
  serverErrors: number;
  noAnswer: number;
  /** The slowest request while the store was away. */
  slowestDuringOutageMs: number;
  /** From the store's return to the first answered send. */
  recoveryMs: number;
  acknowledgedSends: number;
  delivered: number;
  lost: number;
  duplicates: number;
  passed: boolean;
}

const QUEUE = "drill";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const log = options.log ?? (() => undefined);
  const cosmos = createHttpServer();
  await new Promise<void>((resolve) => cosmos.listen(0, "127.0.0.1", resolve));
  const proxy = await startFaultProxy(new URL(`http://127.0.0.1:${(cosmos.address() as AddressInfo).port}`));
  const { api, close } = await startToolHost("drill", {
    CONVEYOR_STORE: "cosmos",
    COSMOS__accountEndpoint: proxy.url,
    COSMOS_EMULATOR_KEY: "the-test-server-accepts-any-key",
    COSMOS_DATABASE: "drill",
    COSMOS_CREATE_CONTAINERS: "on",
  });
  try {
    await api.createQueue({ name: QUEUE, visibilityTimeoutSeconds: 5, maxDeliveries: 1000 });
    return await load(api, proxy, options, log);
  } finally {
    await close();
    await proxy.close();
    await new Promise<void>((resolve) => cosmos.close(() => resolve()));
  }
}

async function load(
  api: ConveyorClient,
  proxy: Awaited<ReturnType<typeof startFaultProxy>>,
  options: DrillOptions,
  log: (line: string) => void,
): Promise<DrillReport> {
  const counts = {
    requests: 0,
    ok: 0,
    rejected: 0,
    unavailable: 0,
    withoutRetryAfter: 0,
    serverErrors: 0,
    noAnswer: 0,
  };
  let outage: { from: number; to?: number } | undefined;
  let slowestDuringOutageMs = 0;
  let firstSendAfterOutage: number | undefined;

  /** Runs one request and classifies its answer; returns the 503's Retry-After in ms, or undefined. */
  async function call<T>(request: () => Promise<T>): Promise<{ value?: T; retryAfterMs?: number }> {
    counts.requests++;
    const started = Date.now();
    try {
      const value = await request();
      counts.ok++;
      return { value };
    } catch (error) {
      if (!(error instanceof ConveyorApiError)) {
        counts.noAnswer++;
        return { retryAfterMs: 200 };
      }
      if (error.status === 503) {
        counts.unavailable++;
        const retryAfter = Number(error.headers.get("retry-after"));
        if (!(retryAfter > 0)) counts.withoutRetryAfter++;
        return { retryAfterMs: (retryAfter > 0 ? retryAfter : 1) * 1000 };
      }
      if (error.status >= 500) counts.serverErrors++;
      // Any other answer is the API's own (an ack whose lease ran out meanwhile): not the drill's business.
      else counts.rejected++;
      return {};
    } finally {
      const elapsed = Date.now() - started;
      if (outage && started >= outage.from && (outage.to === undefined || started < outage.to)) {
        slowestDuringOutageMs = Math.max(slowestDuringOutageMs, elapsed);
      }
    }
  }

  const acknowledged = new Set<string>();
  const delivered = new Map<string, number>();
  let producing = true;
  let consuming = true;

  const producer = async (index: number) => {
    for (let seq = 0; producing; seq++) {
      const id = `p${index}-${seq}`;
      while (producing) {
        const { value, retryAfterMs } = await call(() =>
          api.send(QUEUE, { body: { id }, deduplicationId: id }),
        );
        if (value) {
          acknowledged.add(id);
          if (outage?.to !== undefined) firstSendAfterOutage ??= Date.now();
          break;
        }
        await sleep(retryAfterMs ?? 1000);
      }
    }
  };
  const consumer = async () => {
    while (consuming) {
      const { value: messages, retryAfterMs } = await call(() =>
        api.receive(QUEUE, { max: 10, wait: 1, visibilityTimeout: 5 }),
      );
      if (!messages) {
        await sleep(retryAfterMs ?? 1000);
        continue;
      }
      for (const message of messages) {
        const id = (message.body as { id: string }).id;
        delivered.set(id, (delivered.get(id) ?? 0) + 1);
        // A failed ack leaves the message to its lease: it is delivered again, a duplicate with a cause.
        await call(() => api.ack(QUEUE, message.messageId, message.leaseToken));
      }
    }
  };

  const workers = [
    ...Array.from({ length: options.producers }, (_, index) => producer(index)),
    ...Array.from({ length: options.consumers }, () => consumer()),
  ];
  await sleep(options.warmupMs);
  log(`warm: ${acknowledged.size} sends acknowledged; the store goes away (${options.mode})`);
  outage = { from: Date.now() };
  await proxy.setMode(options.mode);
  await sleep(options.outageMs);
  await proxy.setMode("pass");
  outage.to = Date.now();
  log("the store is back");
  await sleep(options.afterMs);
  producing = false;
  const drainUntil = Date.now() + (options.drainMs ?? 30_000);
  while ([...acknowledged].some((id) => !delivered.has(id)) && Date.now() < drainUntil) await sleep(200);
  consuming = false;
  await Promise.all(workers);

  const lost = [...acknowledged].filter((id) => !delivered.has(id)).length;
  const duplicates = [...delivered.values()].reduce((sum, times) => sum + times - 1, 0);
  const recoveryMs = firstSendAfterOutage === undefined ? -1 : firstSendAfterOutage - outage.to;
  const report: DrillReport = {
    mode: options.mode,
    outageMs: options.outageMs,
    requests: counts.requests,
    ok: counts.ok,
    unavailable: counts.unavailable,
    unavailableWithoutRetryAfter: counts.withoutRetryAfter,
    serverErrors: counts.serverErrors,
    noAnswer: counts.noAnswer,
    slowestDuringOutageMs,
    recoveryMs,
    acknowledgedSends: acknowledged.size,
    delivered: delivered.size,
    lost,
    duplicates,
    passed: false,
  };
  report.passed =
    lost === 0 &&
    counts.serverErrors === 0 &&
    counts.noAnswer === 0 &&
    counts.unavailable > 0 &&
    counts.withoutRetryAfter === 0 &&
    recoveryMs >= 0;
  return report;
}

/** `npm run drill -- [--outage-seconds 30] [--mode refuse|unavailable|drop]` */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "outage-seconds": { type: "string", default: "30" },
      mode: { type: "string", default: "refuse" },
      producers: { type: "string", default: "8" },
      consumers: { type: "string", default: "4" },
    },
  });
  const mode = values.mode as DrillOptions["mode"];
  if (!["refuse", "unavailable", "drop"].includes(mode)) throw new Error(`unknown --mode ${mode}`);
  const report = await runDrill({
    outageMs: Number(values["outage-seconds"]) * 1000,
    warmupMs: 5000,
    afterMs: 10_000,
    producers: Number(values.producers),
    consumers: Number(values.consumers),
    mode,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`drill: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
