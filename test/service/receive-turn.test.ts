import { describe, expect, it } from "vitest";
import { messageIdIn } from "../../src/domain/partition.js";
import type { QueueStore, StoredMessage } from "../../src/service/ports.js";
import { claim, nextDue, standardCandidates, unclaim } from "../../src/service/receive-turn.js";
import { aQueue, at } from "../fixtures.js";

/** A store whose `nextVisibleAt` answers `due` after a turn, counting its calls. */
function countingStore(due: Date | undefined) {
  let calls = 0;
  const store = {
    nextVisibleAt: async () => {
      calls += 1;
      await new Promise((resolve) => setImmediate(resolve));
      return due;
    },
  } as unknown as QueueStore;
  return { store, calls: () => calls };
}

describe("when the long polls of one process wake for a queue's next due message", () => {
  it("asks the store once for all the polls looking at the same moment, and again for a later look", async () => {
    const queue = aQueue({ id: "q_next_due" });
    const { store, calls } = countingStore(at(60));
    const looks = await Promise.all([1, 2, 3].map(() => nextDue(store, queue, at(1))));
    expect(looks).toEqual([at(60), at(60), at(60)]);
    expect(calls()).toBe(1);
    expect(await nextDue(store, queue, at(2))).toEqual(at(60));
    expect(calls()).toBe(2);
  });

  it("keeps queues apart", async () => {
    const { store, calls } = countingStore(undefined);
    await Promise.all([
      nextDue(store, aQueue({ id: "q_a" }), at(1)),
      nextDue(store, aQueue({ id: "q_b" }), at(1)),
    ]);
    expect(calls()).toBe(2);
  });
});

describe("how many candidates a receive reads", () => {
  /** A store that records the limit of each candidates read and finds nothing. */
  function recordingStore() {
    const limits: number[] = [];
    const store = {
      candidates: async (_queue: unknown, _partition: number, _now: Date, limit: number) => {
        limits.push(limit);
        return [];
      },
    } as unknown as QueueStore;
    return { store, limits };
  }
  const writingOf = (ids: string[]): StoredMessage[] =>
    ids.map((id) => ({ message: { id } as StoredMessage["message"], version: "1" }));

  it("reads past the candidates receives here are writing in that partition, not in the others", async () => {
    const queue = aQueue({ id: "q_read_past", partitions: 4 });
    const { store, limits } = recordingStore();
    const inZero = ["a", "b", "c"].map((id) => messageIdIn(id, 0));
    const ids = claim(queue, writingOf([...inZero, messageIdIn("d", 2)]));
    const pass = (partition: number, readPastWrites: boolean) =>
      standardCandidates(store, queue, partition, at(1), { wanted: 10, readPastWrites });
    try {
      await pass(0, true);
      await pass(1, true);
      // A first pass waits for any write here, even one in another partition.
      expect(await pass(1, false)).toBeUndefined();
    } finally {
      unclaim(queue, ids);
    }
    expect(limits).toEqual([13, 10]);
  });
});
