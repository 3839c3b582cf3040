import type { ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseWrkOutput } from "../src/tools/bench/loaders.js";
import { type BenchRow, producerConsumerRow, ratios, table, topicRatios } from "../src/tools/bench/report.js";
import { parseProcStat, sumTree } from "../src/tools/peers/processes.js";
import { rotation } from "../src/tools/peers/run.js";
import { compare, cpuTable, peerTable, percentile, type Sample, spread } from "../src/tools/peers/stats.js";

// What wrk 4 printed in runs of `npm run bench` (spacing kept: it matters).
const SLOW_RUN = `Running 3s test @ http://127.0.0.1:41235
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   146.61ms  154.76ms   1.98s    96.68%
    Req/Sec   227.50     86.50   404.00     66.50%
  Latency Distribution
     50%  141.25ms
     75%  180.02ms
     90%  310.55ms
     99%    1.24s 
  1347 requests in 3.01s, 1.55MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    447.71
Transfer/sec:    527.10KB
settled 13470
measured 13470 p50 5.4 p99 14.1
`;

const FAST_RUN = `Running 2s test @ http://127.0.0.1:41236
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   290.36us  520.11us  12.01ms   93.50%
    Req/Sec    25.52k     2.11k   29.01k    86.50%
  Latency Distribution
     50%  216.00us
     75%  339.00us
     90%  682.00us
     99%    4.39ms
  101577 requests in 2.00s, 18.31MB read
Requests/sec:  50709.12
Transfer/sec:      9.14MB
`;

describe("reading wrk's report", () => {
  it("takes percentiles from the distribution, not the thread stats, in any unit", () => {
    const slow = parseWrkOutput(SLOW_RUN, "cpu 0.31 0.52\n");
    expect([slow.p50Ms, slow.p99Ms]).toEqual([141.25, 1240]);
    const fast = parseWrkOutput(FAST_RUN, "cpu 0.60 0.60\n");
    expect([fast.p50Ms, fast.p99Ms]).toEqual([0.216, 4.39]);
    expect(fast.requestsPerSecond).toBe(50709.12);
  });

  it("counts socket errors and error answers, and reads the scripts' own lines and wrk's CPU", () => {
    const result = parseWrkOutput(SLOW_RUN, "cpu 0.31 0.52\n");
    expect(result.errors).toBe(4 + 2 + 3);
    expect(result.settled).toBe(13470);
    expect(result.measured).toEqual({ count: 13470, p50Ms: 5.4, p99Ms: 14.1 });
    expect(result.wrkCpuSeconds).toBeCloseTo(0.83);
    expect(parseWrkOutput(FAST_RUN, "").errors).toBe(0);
    expect(parseWrkOutput(FAST_RUN, "").settled).toBeUndefined();
  });
});

const row = (scenario: string, target: string, connections: number, messagesPerSecond: number): BenchRow => ({
  scenario,
  target,
  connections,
  requestsPerSecond: messagesPerSecond,
  messagesPerSecond,
  p50Ms: 1,
  p99Ms: 2,
  errors: 0,
  wrkCpuSeconds: 0.5,
  serverCpuSecondsPer1000: 0.1,
  serverRssMb: 100,
});

describe("the report", () => {
  it("sets Conveyor against each reference that ran the same scenario at the same concurrency", () => {
    const lines = ratios([
      row("enqueue 1", "Conveyor", 64, 12_000),
      row("enqueue 1", "floor", 64, 48_000),
      row("enqueue 1", "Azurite", 64, 1_200),
      row("enqueue 1", "floor", 16, 40_000),
      row("receive 10 + settle", "Conveyor", 16, 13_000),
    ]);
    expect(lines).toEqual(["enqueue 1 at c=64: Conveyor/floor 0.250, Conveyor/Azurite 10.00"]);
  });

  it("compares receive latency at the deepest backlog with the shallowest", () => {
    const shallow = { ...row("receive latency at depth", "Conveyor", 1, 1_700), p99Ms: 1.2, backlog: 10 };
    const deep = { ...row("receive latency at depth", "Conveyor", 1, 1_700), p99Ms: 1.8, backlog: 1_000_000 };
    expect(ratios([shallow, deep])).toEqual(["receive p99 at depth 1,000,000 / at depth 10: 1.50"]);
  });

  it("prints one Markdown row a result, with the steady state's offered and sent rates", () => {
    const steady = {
      ...row("steady state", "Conveyor", 80, 2_611),
      offeredPerSecond: 2_609,
      producedPerSecond: 2_611,
    };
    const lines = table([steady]).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(
      /^\| steady state \(offered 2,609\/s, sent 2,611\/s\) \| Conveyor \| 80 \| 2,611 \|/,
    );
  });
});

describe("a producer beside a consumer", () => {
  const produced = {
    requestsPerSecond: 100,
    p50Ms: 1,
    p99Ms: 2,
    errors: 1,
    wrkCpuSeconds: 0.5,
    settled: 990,
  };
  const consumed = {
    requestsPerSecond: 50,
    p50Ms: 9,
    p99Ms: 9,
    errors: 2,
    wrkCpuSeconds: 0.25,
    measured: { count: 980, p50Ms: 3, p99Ms: 7 },
  };
  const target = { name: "Conveyor", url: "", child: { pid: process.pid } as ChildProcess };
  const run = {
    connections: 80,
    seconds: 10,
    produced,
    consumed,
    serverCpuSeconds: 4.9,
    offeredPerSecond: 100,
  };

  it("is one row: messages and latency from the consumer, requests, errors and wrk's CPU of both", () => {
    expect(producerConsumerRow("steady state", target, { ...run, delivered: 980 })).toMatchObject({
      scenario: "steady state",
      target: "Conveyor",
      connections: 80,
      requestsPerSecond: 150,
      messagesPerSecond: 98,
      p50Ms: 3,
      p99Ms: 7,
      errors: 3,
      wrkCpuSeconds: 0.75,
      serverCpuSecondsPer1000: 5,
      offeredPerSecond: 100,
      producedPerSecond: 99,
    });
  });

  it("has no server CPU per message when nothing was delivered", () => {
    const row = producerConsumerRow("steady state", target, { ...run, delivered: 0 });
    expect([row.messagesPerSecond, row.serverCpuSecondsPer1000]).toEqual([0, Number.NaN]);
  });
});

describe("the topics rows", () => {
  it("set each publish against plain enqueue of the same size at the same connections, copies included", () => {
    const rows = [
      row("enqueue 1 (topics baseline)", "Conveyor", 16, 10_000),
      row("enqueue 1 (topics baseline)", "Conveyor", 64, 20_000),
      row("enqueue batch 100 (topics baseline)", "Conveyor", 16, 40_000),
      { ...row("publish 1 → 10 subscriptions", "Conveyor", 16, 2_500), copiesPerSecond: 25_000 },
      { ...row("publish 1 → 10 subscriptions", "Conveyor", 64, 4_000), copiesPerSecond: 40_000 },
      { ...row("publish batch 100 → 1 subscription", "Conveyor", 16, 20_000), copiesPerSecond: 20_000 },
      // No baseline at these connections: no line.
      { ...row("publish 1 → 1 subscription", "Conveyor", 1, 900), copiesPerSecond: 900 },
    ];
    expect(topicRatios(rows)).toEqual([
      "publish 1 → 10 subscriptions at c=16: published/enqueued 0.250, copies/enqueued 2.50",
      "publish 1 → 10 subscriptions at c=64: published/enqueued 0.200, copies/enqueued 2.00",
      "publish batch 100 → 1 subscription at c=16: published/enqueued 0.500, copies/enqueued 0.50",
    ]);
    expect(ratios(rows)).toEqual(topicRatios(rows));
    expect(table([rows[3] as BenchRow]).split("\n")[2]).toMatch(
      /^\| publish 1 → 10 subscriptions \(25,000 copies\/s\) \| Conveyor \| 16 \| 2,500 \|/,
    );
  });
});

describe("the peers' numbers", () => {
  const sample = (system: string, round: number, metrics: Sample["metrics"], cpu = 50): Sample => ({
    scenario: "send c=1",
    system,
    round,
    metrics,
    seconds: 5,
    serverCpuPct: cpu,
    loaderCpuPct: cpu / 2,
  });

  it("takes min, median and max over the rounds, the median of an even count halfway", () => {
    expect(spread([30, 10, 20])).toEqual({ min: 10, median: 20, max: 30, count: 3 });
    expect(spread([40, 10, 20, 30])).toEqual({ min: 10, median: 25, max: 40, count: 4 });
    expect(spread([Number.NaN])).toBeUndefined();
  });

  it("reads latency percentiles by nearest rank", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it("calls Conveyor ahead on more msg/s but on fewer ms", () => {
    const at = (median: number) => ({ min: median, median, max: median, count: 1 });
    expect(compare(at(200), at(100), true)).toEqual({ ratio: 2, verdict: "ahead" });
    expect(compare(at(200), at(100), false)).toEqual({ ratio: 2, verdict: "behind" });
    expect(compare(at(50), at(100), false)).toEqual({ ratio: 0.5, verdict: "ahead" });
    expect(compare(at(18.2), at(18.21), false)?.verdict).toBe("even");
    expect(compare(at(1), undefined, true)).toBeUndefined();
  });

  it("tables each system's median (min–max) with Conveyor's ratio, and names a peer that did not start", () => {
    const samples = [
      sample("Conveyor", 1, { send1: 900, e2eP99: 20 }),
      sample("Conveyor", 2, { send1: 1100, e2eP99: 30 }),
      sample("Conveyor", 3, { send1: 1000, e2eP99: 10 }),
      sample("RabbitMQ", 1, { send1: 500, e2eP99: 10 }, 80),
    ];
    const lines = peerTable(samples, [
      { name: "Conveyor" },
      { name: "RabbitMQ" },
      { name: "pg-boss", failure: "initdb failed" },
    ]).split("\n");
    expect(lines[0]).toBe(
      "| workload | Conveyor | RabbitMQ | pg-boss (did not start) | Conveyor / RabbitMQ | Conveyor / pg-boss |",
    );
    expect(lines[2]).toBe(
      "| send, one awaited at a time (c=1), msg/s | 1,000 (900–1,100) | 500 | — | 2.00 ahead | — |",
    );
    expect(lines.find((line) => line.includes("p99"))).toContain(
      "| 20.0 (10.0–30.0) | 10.0 | — | 2.00 behind |",
    );
    expect(cpuTable(samples, [{ name: "Conveyor" }, { name: "RabbitMQ" }]).split("\n")[2]).toBe(
      "| send c=1 | 25% / 50% | 40% / 80% |",
    );
  });

  it("rotates the systems' order from round to round", () => {
    expect(rotation(["a", "b", "c"], 1)).toEqual(["a", "b", "c"]);
    expect(rotation(["a", "b", "c"], 2)).toEqual(["b", "c", "a"]);
    expect(rotation(["a", "b", "c"], 4)).toEqual(["a", "b", "c"]);
  });

  it("counts a server's CPU over its process tree, the reaped children's included", () => {
    // A command name with spaces and a parenthesis, as /proc allows.
    const stat = parseProcStat(
      "42 (postgres: wal (x)) S 1 42 42 0 -1 4194304 98 0 0 0 150 50 30 20 20 0 1 0",
    );
    expect(stat).toEqual({ pid: 42, ppid: 1, own: 2, children: 0.5 });
    const tree = [
      stat,
      { pid: 43, ppid: 42, own: 1, children: 0 },
      { pid: 44, ppid: 43, own: 0.25, children: 0 },
      { pid: 45, ppid: 1, own: 9, children: 0 },
    ];
    expect(sumTree(tree, 42)).toBe(3.75);
    expect(sumTree(tree, 99)).toBe(0);
  });
});
