import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { ConveyorClient } from "../../src/client/index.js";
import { Tabs } from "./components.js";
import { formatRate, usePolling } from "./lib.js";
import { chartData } from "./metrics.js";

const RANGES = [
  [15, "15 min"],
  [60, "1 hour"],
] as const;

const COLORS = { available: "#2456d6", inFlight: "#b26b00", enqueued: "#7a3fbf", acked: "#1f7a3a" };

/**
 * Backlog and throughput of a queue over the last 15 minutes or hour, from
 * the history the server keeps (the same for every viewer and after a
 * reload), drawn with uPlot: a time axis, counts on the left, messages per
 * second on the right, values under the cursor in the legend.
 */
export function Chart({ client, name }: { client: ConveyorClient; name: string }) {
  const [minutes, setMinutes] = useState<number>(15);
  const history = usePolling(() => client.metrics(name, { minutes }), 5000, [client, name, minutes]);
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const span = useRef(minutes);
  span.current = minutes;
  const data = history.value ? chartData(history.value) : undefined;

  useEffect(() => {
    if (!host.current || !data) return;
    const rows: uPlot.AlignedData = [
      data.times,
      data.available,
      data.inFlight,
      data.enqueueRate,
      data.ackRate,
    ];
    if (plot.current) {
      plot.current.setData(rows);
      return;
    }
    const element = host.current;
    plot.current = new uPlot(
      {
        width: element.clientWidth || 600,
        height: 220,
        scales: {
          // The whole chosen range, ending now: with a point or two, uPlot's own range spans years.
          x: {
            time: true,
            range: (u) => {
              const end = (u.data[0].at(-1) as number | undefined) ?? Date.now() / 1000;
              return [end - span.current * 60, end];
            },
          },
          count: { range: (_u, _min, max) => [0, Math.max(1, max)] },
          rate: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        axes: [
          {},
          { scale: "count", label: "messages", size: 60 },
          { scale: "rate", label: "msg/s", side: 1, size: 60, grid: { show: false } },
        ],
        series: [
          {},
          { label: "Available", scale: "count", stroke: COLORS.available, width: 2 },
          { label: "In flight", scale: "count", stroke: COLORS.inFlight, width: 1.5 },
          {
            label: "Enqueued/s",
            scale: "rate",
            stroke: COLORS.enqueued,
            width: 1.5,
            value: (_u, v) => formatRate(v ?? undefined),
          },
          {
            label: "Acked/s",
            scale: "rate",
            stroke: COLORS.acked,
            width: 2,
            value: (_u, v) => formatRate(v ?? undefined),
          },
        ],
      },
      rows,
      element,
    );
    const resize = () => plot.current?.setSize({ width: element.clientWidth || 600, height: 220 });
    addEventListener("resize", resize);
    return () => removeEventListener("resize", resize);
  }, [data]);

  useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = undefined;
    },
    [],
  );

  const last = data ? data.times.length - 1 : -1;
  const lastRate = data ? [...data.ackRate].reverse().find((rate) => rate !== null) : undefined;
  return (
    <figure
      class="chart"
      data-points={data?.times.length ?? 0}
      data-latest-available={data?.available[last]}
      data-latest-ack-rate={lastRate ?? ""}
    >
      <div class="section-head">
        <figcaption>Backlog and throughput</figcaption>
        <Tabs options={RANGES} selected={minutes} name="range" onSelect={setMinutes} />
      </div>
      {history.error && (
        <p class="error" role="alert">
          {history.error}
        </p>
      )}
      <div ref={host} class="plot" />
      {data && data.times.length < 3 && (
        <p class="muted">
          The server keeps a sample every {history.value?.sampleEverySeconds} s while the queue changes.
        </p>
      )}
    </figure>
  );
}
