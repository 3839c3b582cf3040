import { describe, expect, it } from "vitest";
import {
  checkPartitionsChange,
  messageIdIn,
  partitionFor,
  partitionOfMessageId,
  stableHash,
} from "../../src/domain/partition.js";
import { aQueue } from "../fixtures.js";

describe("which partition a new message goes to", () => {
  // The hashed rules must not depend on it: any draw gives the same partition.
  const random = Math.random;

  it("is 0 on a queue of one partition, whatever the message", () => {
    const queue = aQueue({ partitions: 1 });
    expect(partitionFor(queue, { groupId: null, dedupKey: "id:a" }, () => 0.99)).toBe(0);
    expect(partitionFor(queue, { groupId: null, dedupKey: null }, () => 0.99)).toBe(0);
  });

  it("puts every message of a fifo group in one partition, and spreads groups", () => {
    const queue = aQueue({ ordering: "fifo", partitions: 8 });
    const seen = new Set<number>();
    for (let group = 0; group < 64; group++) {
      const groupId = `g${group}`;
      const first = partitionFor(queue, { groupId, dedupKey: `sha256:${group}` }, random);
      for (let again = 0; again < 5; again++) {
        expect(partitionFor(queue, { groupId, dedupKey: `sha256:other${again}` }, random)).toBe(first);
      }
      seen.add(first);
    }
    expect(seen.size).toBeGreaterThan(4);
  });

  it("puts a standard message with a dedup key where the key hashes to, so a repeat meets its original", () => {
    const queue = aQueue({ partitions: 4 });
    const where = partitionFor(queue, { groupId: null, dedupKey: "id:order-1" }, random);
    for (let again = 0; again < 10; again++) {
      expect(partitionFor(queue, { groupId: null, dedupKey: "id:order-1" }, random)).toBe(where);
    }
    expect(where).toBe(stableHash("id:order-1") % 4);
  });

  it("spreads standard messages without a key at random over every partition", () => {
    const queue = aQueue({ partitions: 4 });
    expect(
      [0, 0.26, 0.51, 0.99].map((r) => partitionFor(queue, { groupId: null, dedupKey: null }, () => r)),
    ).toEqual([0, 1, 2, 3]);
  });
});

describe("the partition in a message id", () => {
  it("is unmarked for partition 0, so ids from before sharding keep their meaning", () => {
    expect(messageIdIn("0190-abc", 0)).toBe("0190-abc");
    expect(partitionOfMessageId("0190-abc")).toBe(0);
  });

  it("round-trips every partition", () => {
    for (let partition = 0; partition < 64; partition++) {
      expect(partitionOfMessageId(messageIdIn("0190-abc", partition))).toBe(partition);
    }
  });

  it("reads a mark no store issued as partition 0, where the id is then simply not found", () => {
    for (const id of ["x~", "x~0", "x~07", "x~64", "x~1.5", "x~-1", "x~abc"])
      expect(partitionOfMessageId(id)).toBe(0);
  });
});

describe("changing a queue's partitions", () => {
  const refused = (message: RegExp) => ({
    ok: false,
    error: expect.objectContaining({
      code: "validation_failed",
      detail: expect.stringMatching(message),
      errors: [expect.objectContaining({ path: "partitions" })],
    }),
  });

  it("lets a standard queue grow, keep or not shrink it", () => {
    const queue = aQueue({ partitions: 4 });
    expect(checkPartitionsChange(queue, 8)).toEqual({ ok: true, value: 8 });
    expect(checkPartitionsChange(queue, 4)).toEqual({ ok: true, value: 4 });
    expect(checkPartitionsChange(queue, 2)).toEqual(refused(/only grow/));
  });

  it("never changes a fifo queue's, which its groups are hashed to", () => {
    const queue = aQueue({ ordering: "fifo", partitions: 4 });
    expect(checkPartitionsChange(queue, 8)).toEqual(refused(/fixed at creation/));
    expect(checkPartitionsChange(queue, 4).ok).toBe(true);
  });
});
