import { describe, expect, it } from "vitest";
import { InProcessSignals } from "../../src/service/signals.js";

/** Waiters on one queue; `woken` lists which ones have resolved, in order. */
function park(signals: InProcessSignals, count: number, controller = new AbortController()) {
  const woken: number[] = [];
  for (let index = 0; index < count; index++) {
    void signals.wait("q", controller.signal).then(() => woken.push(index));
  }
  return woken;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("long-poll signals", () => {
  it("wakes no more waiters than messages became available, oldest first", async () => {
    const signals = new InProcessSignals();
    const woken = park(signals, 4);
    signals.notify("q", 2);
    await settle();
    expect(woken).toEqual([0, 1]);
    signals.notify("q", 1);
    await settle();
    expect(woken).toEqual([0, 1, 2]);
  });

  it("wakes every waiter when no count is given", async () => {
    const signals = new InProcessSignals();
    const woken = park(signals, 3);
    signals.notify("q");
    await settle();
    expect(woken).toEqual([0, 1, 2]);
  });

  it("does not spend a wake-up on a waiter that gave up", async () => {
    const signals = new InProcessSignals();
    const gaveUp = new AbortController();
    const first = park(signals, 1, gaveUp);
    const second = park(signals, 1);
    gaveUp.abort();
    await settle();
    signals.notify("q", 1);
    await settle();
    expect([first, second]).toEqual([[0], [0]]);
  });

  it("keeps queues apart", async () => {
    const signals = new InProcessSignals();
    const woken = park(signals, 1);
    signals.notify("other", 5);
    await settle();
    expect(woken).toEqual([]);
  });
});
