import type { WrkResult } from "./loaders.js";
import { rssMb, type Target } from "./processes.js";

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
  /** A publish's copies made a second, over every subscription queue (the topics part). */
  copiesPerSecond?: number;
}

export const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/** One wrk run as a row: messages from the script's count, or from requests times messages a request. */
export function toRow(
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

/**
 * A paced producer's and a consumer's wrk runs side by side, as one row:
 * messages and latency from the consumer (`delivered` of them over
 * `seconds`), requests, errors and wrk's CPU of both, and what the producer
 * was offered and managed. The caller adds the backlog.
 */
export function producerConsumerRow(
  scenario: string,
  target: Target,
  run: {
    connections: number;
    seconds: number;
    produced: WrkResult;
    consumed: WrkResult;
    delivered: number;
    serverCpuSeconds: number;
    offeredPerSecond: number;
  },
): BenchRow {
  const { produced, consumed, delivered, seconds } = run;
  return {
    scenario,
    target: target.name,
    connections: run.connections,
    requestsPerSecond: round(produced.requestsPerSecond + consumed.requestsPerSecond),
    messagesPerSecond: round(delivered / seconds),
    p50Ms: consumed.measured?.p50Ms ?? Number.NaN,
    p99Ms: consumed.measured?.p99Ms ?? Number.NaN,
    errors: produced.errors + consumed.errors,
    wrkCpuSeconds: round(produced.wrkCpuSeconds + consumed.wrkCpuSeconds, 2),
    serverCpuSecondsPer1000: delivered > 0 ? round((run.serverCpuSeconds / delivered) * 1000, 3) : Number.NaN,
    serverRssMb: round(rssMb(target.child.pid as number)),
    offeredPerSecond: run.offeredPerSecond,
    producedPerSecond: round((produced.settled ?? 0) / seconds),
  };
}

/** "offered 2,000/s, sent 1,998/s": what a steady-state producer was asked for and managed. */
function production(row: BenchRow): string {
  return [
    row.offeredPerSecond !== undefined ? `offered ${number(row.offeredPerSecond)}/s` : "",
    row.producedPerSecond !== undefined ? `sent ${number(row.producedPerSecond)}/s` : "",
    row.copiesPerSecond !== undefined ? `${number(row.copiesPerSecond)} copies/s` : "",
  ]
    .filter(Boolean)
    .join(", ");
}

function backlogOf(row: BenchRow): string {
  return row.backlogBefore !== undefined
    ? `${number(row.backlogBefore)} → ${number(row.backlog)}`
    : number(row.backlog);
}

/** The line printed as each run ends. */
export function describe(row: BenchRow): string {
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
  lines.push(...topicRatios(rows));
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

/**
 * Each publish row against plain enqueue at the same connections and batch
 * size in the same run ("publish 1 → 10 subscriptions" against "enqueue 1
 * (topics baseline)"): published messages and copies made, each per enqueued message.
 */
export function topicRatios(rows: BenchRow[]): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    const publish = /^publish (1|batch 100) → (.+)$/.exec(row.scenario);
    if (!publish || row.copiesPerSecond === undefined) continue;
    const baseline = rows.find(
      (other) =>
        other.scenario === `enqueue ${publish[1]} (topics baseline)` && other.connections === row.connections,
    );
    if (!baseline || baseline.messagesPerSecond === 0) continue;
    lines.push(
      `${row.scenario} at c=${row.connections}: published/enqueued ${(row.messagesPerSecond / baseline.messagesPerSecond).toFixed(3)}, copies/enqueued ${(row.copiesPerSecond / baseline.messagesPerSecond).toFixed(2)}`,
    );
  }
  return lines;
}
