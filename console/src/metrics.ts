import type { QueueMetricsView } from "../../src/client/index.js";

export interface ChartData {
  /** Seconds since the epoch, as uPlot's time axis takes them. */
  times: number[];
  available: number[];
  inFlight: number[];
  /** Per second between a point and the one before; null where the span is too short to mean anything. */
  enqueueRate: (number | null)[];
  ackRate: (number | null)[];
}

/**
 * The chart's series from the queue's stats history. Rates come from the
 * totals of two points at least `minSpanSeconds` apart (the server samples
 * every ten seconds): two reads milliseconds apart made `Infinity/s` spikes
 * that set the scale. The last point, the present, is often that close to
 * the last sample, and then has no rate rather than a made-up one.
 */
export function chartData(
  history: QueueMetricsView,
  minSpanSeconds = history.sampleEverySeconds / 2,
): ChartData {
  const data: ChartData = { times: [], available: [], inFlight: [], enqueueRate: [], ackRate: [] };
  history.points.forEach((point, index) => {
    const at = Date.parse(point.at) / 1000;
    const before = history.points[index - 1];
    const span = before ? at - Date.parse(before.at) / 1000 : 0;
    const rate = (now: number, then: number) =>
      before && span >= minSpanSeconds ? Math.max(0, (now - then) / span) : null;
    data.times.push(at);
    data.available.push(point.available);
    data.inFlight.push(point.inFlight);
    data.enqueueRate.push(rate(point.enqueuedTotal, before?.enqueuedTotal ?? 0));
    data.ackRate.push(rate(point.ackedTotal, before?.ackedTotal ?? 0));
  });
  return data;
}
