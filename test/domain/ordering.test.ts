import { describe, expect, it } from "vitest";
import { compareStandard, fifoRun } from "../../src/domain/ordering.js";
import { aMessage, at, T0 } from "../fixtures.js";

describe("standard order", () => {
  it("puts higher priority first, then lower sequence", () => {
    const messages = [
      { priority: 0, sequence: 1 },
      { priority: 9, sequence: 4 },
      { priority: 5, sequence: 2 },
      { priority: 9, sequence: 3 },
    ];
    expect([...messages].sort(compareStandard)).toEqual([
      { priority: 9, sequence: 3 },
      { priority: 9, sequence: 4 },
      { priority: 5, sequence: 2 },
      { priority: 0, sequence: 1 },
    ]);
  });
});

describe("fifo run", () => {
  const group = (visible: number[]) =>
    visible.map((visibleAfter, index) =>
      aMessage({ id: `m${index}`, sequence: index, visibleAt: at(visibleAfter) }),
    );

  it("takes consecutive visible messages from the head", () => {
    expect(fifoRun(group([0, 0, 0]), T0, 10).map((m) => m.id)).toEqual(["m0", "m1", "m2"]);
  });

  it("blocks the group while its head is leased or backing off", () => {
    expect(fifoRun(group([30, 0, 0]), T0, 10)).toEqual([]);
  });

  it("stops at the first message that is not visible, so order is never skipped", () => {
    expect(fifoRun(group([0, 60, 0]), T0, 10).map((m) => m.id)).toEqual(["m0"]);
  });

  it("takes at most max", () => {
    expect(fifoRun(group([0, 0, 0]), T0, 2)).toHaveLength(2);
  });
});
