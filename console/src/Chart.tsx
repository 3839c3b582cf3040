import type { QueueStatsView } from "../../src/client/index.js";
import { formatRate } from "./lib.js";

/** Backlog (available) and throughput (acks per second) over the last minutes, as two SVG lines. */
export function Chart({ history }: { history: { at: number; stats: QueueStatsView }[] }) {
  const width = 600;
  const height = 140;
  if (history.length < 2) return <p class="muted">Collecting data for the chart…</p>;
  const throughput = history.slice(1).map((point, index) => {
    const before = history[index] as (typeof history)[number];
    return Math.max(0, (point.stats.ackedTotal - before.stats.ackedTotal) / ((point.at - before.at) / 1000));
  });
  const backlog = history.map((point) => point.stats.available);
  const line = (values: number[]) => {
    const max = Math.max(1, ...values);
    return values
      .map(
        (value, index) =>
          `${(index / Math.max(1, values.length - 1)) * width},${height - (value / max) * (height - 10)}`,
      )
      .join(" ");
  };
  const minutes = Math.round((history.at(-1)?.at ?? 0) - (history[0]?.at ?? 0)) / 60000;
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label="Backlog and throughput"
      >
        <polyline class="backlog" points={line(backlog)} />
        <polyline class="throughput" points={line(throughput)} />
      </svg>
      <figcaption>
        <span class="key backlog">backlog (now {backlog.at(-1)})</span>
        <span class="key throughput">acks/s (now {formatRate(throughput.at(-1))})</span>
        <span class="muted">last {minutes.toFixed(1)} min</span>
      </figcaption>
    </figure>
  );
}
