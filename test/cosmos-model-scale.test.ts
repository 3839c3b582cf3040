import { describe, expect, it } from "vitest";
import type { RuPerMessage } from "../src/tools/cosmos-model/measure.js";
import { scaleReport } from "../src/tools/scale-model.js";

/** docs/scale.md is computed from the measured RU per message: the arithmetic, on numbers chosen to check by hand. */
const cost = (requestUnits: number) => ({ requestUnits, byKind: {} });
const measured: RuPerMessage = {
  measuredAt: "2026-12-01T00:00:00.000Z",
  command: "test",
  messageBytes: 1024,
  messages: 100,
  steps: {
    enqueueSingle: cost(20),
    enqueueSingleDedup: cost(25),
    enqueueBatch10: cost(5),
    receiveSingle: cost(15),
    receiveBatch10: cost(5),
    ackSingle: cost(15),
    settleBatch10: cost(5),
  },
  lifeSingle: 50,
  lifeBatched: 15,
};

describe("the scale model", () => {
  it("sizes the target load from the measured RU: RU/s, shards at 8,000 RU/s, instances and monthly cost", () => {
    const report = scaleReport(measured);
    // Single calls: 1 M × 20 + 2 M × (15 + 15) = 80 M RU/s; 10,000 shards; 5 M requests/s at 5,000 an instance.
    // Provisioned: 800,000 × 100 RU/s × $0.008 × 730 h = $4,672,000; autoscale 1.5 times that.
    expect(report).toMatch(/\| single calls +\| 80,000,000 +\| 10,000 +\|/);
    expect(report).toMatch(/\| single calls .*\| 1,000 +\| \$4,672,000 +\| \$7,008,000 /);
    // Batches: 1 M × 5 + 2 M × 10 = 25 M RU/s; 3,125 shards; 500,000 requests/s: 100 instances.
    expect(report).toMatch(/\| batches of 10 \| 25,000,000 +\| 3,125 +\| 100 +\| \$1,460,000 /);
    // A queue at 1,000 messages a second and 50 RU each: 50,000 RU/s over 8,000 a shard = 7 shards.
    // Batched, 15 RU each: 15,000 RU/s over 8,000 = 2 shards.
    expect(report).toMatch(/\| 1,000 +\| 7 +\| 2 +\|/);
    // 64 partitions × 8,000 RU/s = 512,000 RU/s: 10,240 messages a second at 50 RU, 34,134 at 15.
    expect(report).toContain("A queue takes at most 64 partitions");
    expect(report).toContain("about 10,240 messages a second with single calls and 34,134 batched");
  });

  it("states the limits from the same numbers: a container's 1,000,000 RU/s, serverless, and the 20 GB of a shard", () => {
    const report = scaleReport(measured);
    expect(report).toContain("80 times that with single calls, 25 times that with batches of 10");
    // Serverless 5,000 RU/s at 50 RU (single) and 15 RU (batched) a message; 20,000 RU/s at 1 TB.
    expect(report).toContain(
      "about 100 messages a second with single calls (334 batched) for all queues, 1,334 batched at 1 TB",
    );
    // 20 GB of 1 KiB bodies: under 20 million; at 10,000 / 5 = 2,000 batched enqueues a second, under 3 hours.
    expect(report).toContain("fewer than 20 million 1 KiB messages a shard");
    expect(report).toContain("under 3 hours of batched enqueues at its ceiling (2,000 a second)");
  });
});
