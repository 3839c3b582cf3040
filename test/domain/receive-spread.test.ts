import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  afterLoss,
  CALM,
  candidatesToRead,
  chooseCandidates,
  LANES,
  laneOf,
  MAX_SPREAD,
  partitionOrder,
  type Spread,
  spreadAt,
} from "../../src/domain/receive-spread.js";

const candidate = (id: string, priority = 0) => ({ message: { id, priority } });
const ids = (chosen: { message: { id: string } }[]) => chosen.map((c) => c.message.id);
/** Candidates in delivery order: priority first, then as given (oldest first). */
const inDeliveryOrder = (found: { message: { id: string; priority: number } }[]) =>
  found
    .map((c, index) => ({ c, index }))
    .sort((a, b) => b.c.message.priority - a.c.message.priority || a.index - b.index)
    .map(({ c }) => c);

const spread = (lane: number, factor = 2): Spread => ({ factor, lane, holdsUntil: 1000 });

describe("choosing among a partition's candidates", () => {
  const forty = Array.from({ length: 40 }, (_, n) => candidate(`m_${n}`));

  it("takes the oldest, in delivery order, while no race was lost", () => {
    expect(ids(chooseCandidates(forty, 10, CALM))).toEqual(ids(forty.slice(0, 10)));
    expect(candidatesToRead(CALM, 10)).toBe(10);
  });

  it("takes the candidates nearest its lane once spread, so receivers on lanes far apart take different ones", () => {
    const low = chooseCandidates(forty, 10, spread(0, 4));
    const high = chooseCandidates(forty, 10, spread(LANES / 2, 4));
    expect(low).toHaveLength(10);
    expect(high).toHaveLength(10);
    const taken = new Set(ids(low));
    expect(ids(high).filter((id) => taken.has(id))).toEqual([]);
    // Each took from its side of the lanes, nearest its own first.
    for (const c of low) expect(laneOf(c.message.id)).toBeLessThan(LANES / 2);
    for (const c of high) expect(laneOf(c.message.id)).toBeGreaterThanOrEqual(LANES / 2);
  });

  it("takes only its part of a few candidates, so receivers on other lanes find the rest", () => {
    const ten = forty.slice(0, 10);
    expect(chooseCandidates(ten, 10, spread(0, 4))).toHaveLength(3);
    expect(chooseCandidates(ten, 10, spread(0, 2))).toHaveLength(5);
    expect(chooseCandidates(ten, 10, CALM)).toHaveLength(10);
    // At least one, even of a single candidate: a receiver alone with a stale spread is slowed, never stuck.
    expect(chooseCandidates(ten.slice(0, 1), 10, spread(0, 4))).toHaveLength(1);
  });

  it("still takes candidates far from its lane when no nearer ones are there: nothing waits for a lane", () => {
    const lane = laneOf("m_0");
    const far = forty.filter((c) => laneOf(c.message.id) !== lane).slice(0, 20);
    expect(chooseCandidates(far, 10, spread(lane))).toHaveLength(10);
  });

  it("keeps priority strict and returns delivery order, whatever the lane and spread", () => {
    const found = fc.array(fc.record({ id: fc.uuid(), priority: fc.integer({ min: 0, max: 3 }) }), {
      maxLength: 60,
    });
    fc.assert(
      fc.property(
        found,
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: LANES - 1 }),
        fc.constantFrom(1, 2, 4),
        (raw, want, lane, factor) => {
          const unique = [...new Map(raw.map((r) => [r.id, candidate(r.id, r.priority)])).values()];
          const ordered = inDeliveryOrder(unique);
          const chosen = chooseCandidates(ordered, want, spread(lane, factor));
          const share = factor === 1 ? want : Math.max(1, Math.ceil(ordered.length / factor));
          expect(chosen).toHaveLength(Math.min(want, share, ordered.length));
          // Delivery order kept: the chosen appear as they do in the candidates.
          expect(ids(chosen)).toEqual(ids(ordered.filter((c) => chosen.includes(c))));
          // Nothing left behind is of a higher priority than anything taken.
          const lowest = Math.min(...chosen.map((c) => c.message.priority));
          for (const left of ordered.filter((c) => !chosen.includes(c))) {
            expect(left.message.priority).toBeLessThanOrEqual(lowest);
          }
        },
      ),
    );
  });
});

describe("how a process's spread follows the races it loses", () => {
  it("doubles its reads on each loss up to the most, from a lane drawn anew", () => {
    const once = afterLoss(CALM, 0, 1000, () => 0.5);
    expect(once).toEqual({ factor: 2, lane: LANES / 2, holdsUntil: 1000 });
    expect(candidatesToRead(once, 10)).toBe(20);
    let spread = once;
    for (let loss = 0; loss < 5; loss++) spread = afterLoss(spread, 0, 1000, () => 0.999999);
    expect(spread.factor).toBe(MAX_SPREAD);
    expect(spread.lane).toBe(LANES - 1);
  });

  it("holds, then halves for every calm period, back to calm", () => {
    const wide: Spread = { factor: 4, lane: 7, holdsUntil: 1000 };
    expect(spreadAt(wide, 999, 1000)).toBe(wide);
    expect(spreadAt(wide, 1000, 1000)).toEqual({ factor: 2, lane: 7, holdsUntil: 2000 });
    expect(spreadAt(wide, 2000, 1000)).toBe(CALM);
    expect(spreadAt(wide, 60_000, 1000)).toBe(CALM);
  });
});

describe("the order a receive tries a queue's partitions in", () => {
  it("is every partition once, from the start given, those set aside last", () => {
    expect(partitionOrder(1, 0, () => true)).toEqual([0]);
    expect(partitionOrder(4, 2, () => false)).toEqual([2, 3, 0, 1]);
    expect(partitionOrder(4, 2, (p) => p === 3 || p === 2)).toEqual([0, 1, 2, 3]);
  });
});
