import { describe, expect, it } from "vitest";
import {
  type CosmosRow,
  checkTargets,
  cosmosTable,
  type PhaseResult,
  scaling,
  targetLines,
} from "../src/tools/bench/cosmos-report.js";
import type { RuPerMessage } from "../src/tools/cosmos-model/measure.js";

/** The report of `npm run bench -- --cosmos`: its arithmetic and issue 11's targets, on rows made up to check by hand. */
const phase = (messagesPerSecond: number, throttled = 0): PhaseResult => ({
  messagesPerSecond,
  ruPerMessage: 40,
  throttled,
  errors: 0,
});

const row = (instances: number, partitions: number, perSecond: number, extra: Partial<CosmosRow> = {}) => ({
  instances,
  partitions,
  endToEnd: phase(perSecond, 5),
  conflictsPerDelivered: 0.05,
  modelCpu: 0.3,
  hostsCpu: 0.2,
  loadAverage: 3,
  ...extra,
});

const cost = (requestUnits: number) => ({ requestUnits, byKind: {} });
const measured = (lifeSingle: number, lifeBatched: number): RuPerMessage => ({
  measuredAt: "2026-12-01T00:00:00.000Z",
  command: "test",
  messageBytes: 1024,
  messages: 100,
  steps: {
    enqueueSingle: cost(10),
    enqueueSingleDedup: cost(12),
    enqueueBatch10: cost(5),
    receiveSingle: cost(10),
    receiveBatch10: cost(5),
    ackSingle: cost(10),
    settleBatch10: cost(5),
  },
  lifeSingle,
  lifeBatched,
});

describe("the Cosmos DB scale report", () => {
  it("measures growth against the same instances' one-partition throughput", () => {
    const rows = [row(1, 1, 10), row(1, 4, 36), row(2, 1, 20), row(2, 4, 40)];
    expect(scaling(rows, rows[1] as CosmosRow)).toBeCloseTo(0.9);
    expect(scaling(rows, rows[3] as CosmosRow)).toBeCloseTo(0.5);
    expect(scaling([row(1, 4, 36)], row(1, 4, 36))).toBeNaN();
  });

  it("prints a row per configuration, with the phases that ran and the 429s of all of them", () => {
    const rows = [
      row(1, 1, 10, { enqueue: phase(50, 7), drain: phase(12, 1) }),
      row(1, 2, 19),
      row(4, 1, 8, { conflictsPerDelivered: 0.25 }),
    ];
    const lines = cosmosTable(rows).split("\n");
    expect(lines).toHaveLength(2 + 3);
    expect(lines[2]).toBe("| 1 | 1 | 50.0 | 12.0 | 10.0 | 10.0 | 1 | 40.0 | 13 | 0.050 | 30% | 0.20 | 3.0 |");
    expect(lines[3]).toBe("| 1 | 2 | – | – | 19.0 | 9.5 | 0.95 | 40.0 | 5 | 0.050 | 30% | 0.20 | 3.0 |");
    expect(lines[4]).toContain("| 0.250 |");
  });

  it("excuses growth short of linear only where the model's process was CPU-bound", () => {
    const bound = [row(1, 1, 10), row(1, 2, 19), row(1, 8, 40, { modelCpu: 0.95 })];
    expect(checkTargets(bound, measured(30, 15))[0]).toMatchObject({ met: true });
    const short = [row(1, 1, 10), row(1, 2, 12)];
    const [growth] = checkTargets(short, measured(30, 15));
    expect(growth).toMatchObject({ met: false, detail: "1×2: 0.60" });
    // A run the model never throttled was limited by something other than the budget: the report says so.
    const unthrottled = checkTargets(
      [row(1, 1, 10), row(1, 2, 12, { endToEnd: phase(12) })],
      measured(30, 15),
    );
    expect(unthrottled[0]?.detail).toBe("1×2: 0.60 (no 429s: the budget was not the limit)");
  });

  it("holds conflicts to the 4-instance runs, and the message's life to 15 RU batched and 30 single", () => {
    const rows = [
      row(1, 1, 10, { conflictsPerDelivered: 0.5 }),
      row(4, 1, 10, { conflictsPerDelivered: 0.02 }),
      row(4, 2, 20, { conflictsPerDelivered: 0.09 }),
    ];
    const [, conflicts, batched, single] = checkTargets(rows, measured(30.5, 15));
    expect(conflicts).toMatchObject({ met: true, detail: "worst 0.090" });
    expect(batched).toMatchObject({ met: true, detail: "15 RU" });
    expect(single).toMatchObject({ met: false, detail: "30.5 RU" });
    const missing = checkTargets([row(1, 1, 10)], measured(20, 10));
    expect(missing[0]?.met).toBe(false);
    expect(missing[1]).toMatchObject({ met: false, detail: "no run with 4 instances" });
    expect(targetLines(missing)[2]).toBe("met: a message's life <= 15 RU batched (10 RU)");
  });
});
