import { describe, expect, it } from "vitest";
import { dedupKey, isDuplicateOf, tombstoneExpiresAt } from "../../src/domain/dedup.js";
import { aMessage, aQueue, at, T0 } from "../fixtures.js";

describe("deduplication key", () => {
  it("prefers the deduplication id, then the Idempotency-Key", () => {
    expect(dedupKey("standard", "{}", "order-1", "header")).toBe("id:order-1");
    expect(dedupKey("standard", "{}", undefined, "header")).toBe("id:header");
  });

  it("hashes the body on fifo queues only", () => {
    expect(dedupKey("standard", '{"a":1}', undefined, undefined)).toBeNull();
    const key = dedupKey("fifo", '{"a":1}', undefined, undefined);
    expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(dedupKey("fifo", '{"a":1}', undefined, undefined)).toBe(key);
    expect(dedupKey("fifo", '{"a":2}', undefined, undefined)).not.toBe(key);
  });

  it("treats an explicit id and a header of the same value as the same key", () => {
    expect(dedupKey("standard", "x", "k", undefined)).toBe(dedupKey("standard", "y", undefined, "k"));
  });
});

describe("deduplication window", () => {
  const queue = aQueue({ deduplicationWindowSeconds: 300 });

  it("is a duplicate inside the window and not after it", () => {
    const original = aMessage({ enqueuedAt: T0 });
    expect(isDuplicateOf(original, queue, at(299))).toBe(true);
    expect(isDuplicateOf(original, queue, at(300))).toBe(false);
  });

  it("keeps an acked tombstone until the window ends, and at least five minutes after the ack", () => {
    expect(
      tombstoneExpiresAt(aMessage({ enqueuedAt: T0 }), aQueue({ deduplicationWindowSeconds: 3600 }), at(10)),
    ).toEqual(at(3600));
    expect(
      tombstoneExpiresAt(aMessage({ enqueuedAt: T0 }), aQueue({ deduplicationWindowSeconds: 0 }), at(10)),
    ).toEqual(at(310));
  });
});
