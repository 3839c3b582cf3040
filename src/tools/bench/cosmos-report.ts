import type { RuPerMessage } from "../cosmos-model/measure.js";

/**
 * The rows of `npm run bench -- --cosmos` (src/tools/bench/cosmos.ts), the
 * Markdown table docs/performance.md shows, and issue 11's targets checked
 * against them. Pure: the runner measures, this only reads.
 */

/** One phase of one configuration: messages a second and what they cost. */
export interface PhaseResult {
  messagesPerSecond: number;
  /** Request units the model charged per message in the phase (conflicts, retries and background included). */
  ruPerMessage: number;
  /** The same by kind of Cosmos DB request (in the JSON only: where a phase's RU went). */
  byKind?: Record<string, number>;
  /** 429s the model answered in the phase. */
  throttled: number;
  /** Error answers the load saw other than 429 and 503 (those it waits out). */
  errors: number;
}

export interface CosmosRow {
  instances: number;
  partitions: number;
  /** Enqueue only (with plan.aloneWith's instance counts). */
  enqueue?: PhaseResult;
  /** Receive and settle (ack) only, draining what the enqueue phase left (with plan.aloneWith's instance counts). */
  drain?: PhaseResult;
  /** Producers and consumers together: enqueue, receive and ack of each message. */
  endToEnd: PhaseResult;
  /** Compare-and-set writes the hosts lost over the drain (if run) and end-to-end phases, per message delivered then. */
  conflictsPerDelivered: number;
  /** CPU of the process running the test server, the model and the load, as a share of one core. */
  modelCpu: number;
  /** CPU of all hosts together, in cores. */
  hostsCpu: number;
  /** The machine's 1-minute load average as the configuration ended (2 cores, shared). */
  loadAverage: number;
}

export interface CosmosPlan {
  /** The end-to-end phase; enqueue alone and receive+ack alone take half as long each. */
  seconds: number;
  /** RU/s per partition key value: low enough that it, not the test server's CPU, is the limit. */
  ruPerSecond: number;
  partitions: number[];
  instances: number[];
  /** The instance counts that also measure enqueue alone and receive+ack alone. */
  aloneWith: number[];
  /** Producers and consumers each, per queue partition. */
  workersPerPartition: number;
  /** Messages per call, both ways. */
  batch: number;
}

export interface CosmosReport {
  measuredAt: string;
  command: string;
  plan: CosmosPlan;
  loadAverage: number[];
  rows: CosmosRow[];
  ruPerMessage: RuPerMessage;
  targets: TargetCheck[];
}

export interface TargetCheck {
  target: string;
  met: boolean;
  detail: string;
}

/** The model's process is the limit once it keeps one core this busy (Node runs it on one thread). */
export const CPU_BOUND = 0.9;
const LINEAR = 0.8;
const CONFLICTS = 0.1;
const LIFE_BATCHED = 15;
const LIFE_SINGLE = 30;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "–");

/** Throughput at `row.partitions` over `partitions` times the 1-partition row's, at the same instances. */
export function scaling(rows: CosmosRow[], row: CosmosRow): number {
  const base = rows.find((other) => other.instances === row.instances && other.partitions === 1);
  if (!base || base.endToEnd.messagesPerSecond === 0) return Number.NaN;
  return row.endToEnd.messagesPerSecond / (row.partitions * base.endToEnd.messagesPerSecond);
}

export function cosmosTable(rows: CosmosRow[]): string {
  const lines = [
    "| instances | partitions | enqueue msg/s | receive+ack msg/s | end to end msg/s | per partition | × linear | end-to-end RU/msg | 429s | conflicts / delivered | model CPU | hosts CPU | load average |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const throttled = (row.enqueue?.throttled ?? 0) + (row.drain?.throttled ?? 0) + row.endToEnd.throttled;
    lines.push(
      `| ${row.instances} | ${row.partitions} | ${fixed(row.enqueue?.messagesPerSecond ?? Number.NaN, 1)} | ${fixed(row.drain?.messagesPerSecond ?? Number.NaN, 1)} | ${fixed(row.endToEnd.messagesPerSecond, 1)} | ${fixed(row.endToEnd.messagesPerSecond / row.partitions, 1)} | ${row.partitions === 1 ? "1" : fixed(scaling(rows, row), 2)} | ${fixed(row.endToEnd.ruPerMessage, 1)} | ${throttled} | ${fixed(row.conflictsPerDelivered, 3)} | ${Math.round(row.modelCpu * 100)}% | ${fixed(row.hostsCpu, 2)} | ${fixed(row.loadAverage, 1)} |`,
    );
  }
  return lines.join("\n");
}

export function ruTable(measured: RuPerMessage): string {
  const lines = ["| step | RU per message |", "| --- | --- |"];
  for (const [step, cost] of Object.entries(measured.steps)) lines.push(`| ${step} | ${cost.requestUnits} |`);
  lines.push(`| life, single calls (enqueue + receive + ack) | ${measured.lifeSingle} |`);
  lines.push(`| life, batches of 10 (enqueue + receive + settle) | ${measured.lifeBatched} |`);
  return lines.join("\n");
}

/** Issue 11's targets, each met or not, with the numbers that decide it. */
export function checkTargets(rows: CosmosRow[], measured: RuPerMessage): TargetCheck[] {
  const grown = rows.filter((row) => row.partitions > 1);
  const short = grown.filter((row) => !(scaling(rows, row) >= LINEAR));
  // Past the point where the test server's CPU is the limit, linear growth is not asked for.
  const shortUnderBudget = short.filter((row) => row.modelCpu < CPU_BOUND);
  const describe = (row: CosmosRow) =>
    `${row.instances}×${row.partitions}: ${fixed(scaling(rows, row), 2)}${row.modelCpu >= CPU_BOUND ? " (CPU-bound)" : ""}${row.endToEnd.throttled === 0 ? " (no 429s: the budget was not the limit)" : ""}`;
  const four = rows.filter((row) => row.instances === 4);
  const worst = Math.max(...four.map((row) => row.conflictsPerDelivered));
  return [
    {
      target: `throughput grows >= ${LINEAR}x linearly with partitions until the test server's CPU is the limit`,
      met: grown.length > 0 && shortUnderBudget.length === 0,
      detail: grown.length > 0 ? grown.map(describe).join(", ") : "no run with more than one partition",
    },
    {
      target: `< ${CONFLICTS} compare-and-set conflicts per delivered message with 4 instances`,
      met: four.length > 0 && worst < CONFLICTS,
      detail: four.length > 0 ? `worst ${fixed(worst, 3)}` : "no run with 4 instances",
    },
    {
      target: `a message's life <= ${LIFE_BATCHED} RU batched`,
      met: measured.lifeBatched <= LIFE_BATCHED,
      detail: `${measured.lifeBatched} RU`,
    },
    {
      target: `a message's life <= ${LIFE_SINGLE} RU with single calls`,
      met: measured.lifeSingle <= LIFE_SINGLE,
      detail: `${measured.lifeSingle} RU`,
    },
  ];
}

export function targetLines(checks: TargetCheck[]): string[] {
  return checks.map((check) => `${check.met ? "met" : "NOT met"}: ${check.target} (${check.detail})`);
}
