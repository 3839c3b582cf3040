/** The peer benchmark's arithmetic and tables: pure, so they are tested without any server. */

export const METRICS = [
  { id: "send1", label: "send, one awaited at a time (c=1), msg/s", higherIsBetter: true, digits: 0 },
  { id: "send64", label: "send, 64 concurrent, msg/s", higherIsBetter: true, digits: 0 },
  { id: "batch100", label: "batches of 100 (4 in flight), msg/s", higherIsBetter: true, digits: 0 },
  { id: "drain", label: "consume + ack from a backlog, msg/s", higherIsBetter: true, digits: 0 },
  { id: "e2eP50", label: "end to end at a paced rate, p50 ms", higherIsBetter: false, digits: 1 },
  { id: "e2eP99", label: "end to end at a paced rate, p99 ms", higherIsBetter: false, digits: 1 },
  { id: "e2eCpu", label: "server CPU at that rate, % of a core", higherIsBetter: false, digits: 0 },
] as const;

export type MetricId = (typeof METRICS)[number]["id"];

/** One scenario's run on one system in one round. */
export interface Sample {
  scenario: string;
  system: string;
  round: number;
  metrics: Partial<Record<MetricId, number>>;
  seconds: number;
  /** CPU over the measured window, in % of one core. */
  serverCpuPct: number;
  loaderCpuPct: number;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
  count: number;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function spread(values: readonly number[]): Spread | undefined {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const middle = finite.length / 2;
  const median =
    finite.length % 2 === 1
      ? (finite[Math.floor(middle)] as number)
      : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
  return { min: finite[0] as number, median, max: finite.at(-1) as number, count: finite.length };
}

export function metricSpread(
  samples: readonly Sample[],
  system: string,
  metric: MetricId,
): Spread | undefined {
  return spread(
    samples
      .filter((s) => s.system === system)
      .flatMap((s) => (s.metrics[metric] === undefined ? [] : [s.metrics[metric]])),
  );
}

export type Verdict = "ahead" | "behind" | "even";

/**
 * Conveyor's median over the peer's, and whether Conveyor is ahead on that
 * metric (more msg/s, or fewer ms or CPU); "even" within the ratio's two
 * printed digits. Undefined when either is missing.
 */
export function compare(
  conveyor: Spread | undefined,
  peer: Spread | undefined,
  higherIsBetter: boolean,
): { ratio: number; verdict: Verdict } | undefined {
  if (!conveyor || !peer || peer.median === 0) return undefined;
  const ratio = conveyor.median / peer.median;
  if (Math.abs(ratio - 1) < 0.005) return { ratio, verdict: "even" };
  return { ratio, verdict: higherIsBetter === ratio > 1 ? "ahead" : "behind" };
}

const format = (value: number, digits: number) =>
  value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function cell(value: Spread | undefined, digits: number): string {
  if (!value) return "—";
  const median = format(value.median, digits);
  return value.count > 1 ? `${median} (${format(value.min, digits)}–${format(value.max, digits)})` : median;
}

export interface SystemStatus {
  name: string;
  /** Why it did not start; absent when it ran. */
  failure?: string;
}

/**
 * The Markdown table: a row per metric, a column per system with its
 * median (min–max over the rounds), then Conveyor's ratio to each peer.
 */
export function peerTable(samples: readonly Sample[], systems: readonly SystemStatus[]): string {
  const [conveyor, ...peers] = systems;
  if (!conveyor) return "";
  const header = [
    "workload",
    ...systems.map((s) => (s.failure ? `${s.name} (did not start)` : s.name)),
    ...peers.map((p) => `Conveyor / ${p.name}`),
  ];
  const lines = [`| ${header.join(" | ")} |`, `| --- |${" ---: |".repeat(header.length - 1)}`];
  for (const metric of METRICS) {
    const spreads = systems.map((s) => metricSpread(samples, s.name, metric.id));
    const ratios = peers.map((_, index) => {
      const result = compare(spreads[0], spreads[index + 1], metric.higherIsBetter);
      return result ? `${result.ratio.toFixed(2)} ${result.verdict}` : "—";
    });
    lines.push(`| ${[metric.label, ...spreads.map((s) => cell(s, metric.digits)), ...ratios].join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Median CPU per scenario and system, loader and server, in % of a core. */
export function cpuTable(samples: readonly Sample[], systems: readonly SystemStatus[]): string {
  const scenarios = [...new Set(samples.map((s) => s.scenario))];
  const running = systems.filter((s) => !s.failure);
  const lines = [
    `| scenario | ${running.map((s) => `${s.name} loader / server`).join(" | ")} |`,
    `| --- |${" ---: |".repeat(running.length)}`,
  ];
  for (const scenario of scenarios) {
    const cells = running.map((system) => {
      const own = samples.filter((s) => s.scenario === scenario && s.system === system.name);
      const loader = spread(own.map((s) => s.loaderCpuPct));
      const server = spread(own.map((s) => s.serverCpuPct));
      return loader && server ? `${format(loader.median, 0)}% / ${format(server.median, 0)}%` : "—";
    });
    lines.push(`| ${scenario} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
