import { describe, expect, it } from "vitest";
import { placeMessage, redrivenMessage } from "../../src/domain/enqueue.js";
import { aMessage, aQueue, at, T0 } from "../fixtures.js";

describe("placing a new message", () => {
  it("makes it visible after its delay and expire after the queue's TTL", () => {
    const placed = placeMessage(
      aQueue({ messageTtlSeconds: 3600 }),
      { body: '"x"', delaySeconds: 30, priority: 7 },
      T0,
    );
    expect(placed).toEqual({
      ok: true,
      value: { priority: 7, groupId: null, visibleAt: at(30), expiresAt: at(3600) },
    });
  });

  it("refuses a serialized body over maxMessageBytes with payload_too_large", () => {
    const placed = placeMessage(aQueue({ maxMessageBytes: 5 }), { body: '"123456"' }, T0);
    expect(placed.ok || placed.error.code).toBe("payload_too_large");
    expect(placeMessage(aQueue({ maxMessageBytes: 8 }), { body: '"123456"' }, T0).ok).toBe(true);
  });

  it("counts the body's UTF-8 bytes, not its characters, against maxMessageBytes", () => {
    // Four characters, eight bytes: a euro sign is three bytes of UTF-8.
    const body = '"\u20ac\u20ac"';
    expect(body.length).toBe(4);
    expect(Buffer.byteLength(body)).toBe(8);
    const refused = placeMessage(aQueue({ maxMessageBytes: 7 }), { body }, T0);
    expect(refused.ok || refused.error.code).toBe("payload_too_large");
    expect(placeMessage(aQueue({ maxMessageBytes: 8 }), { body }, T0).ok).toBe(true);
    // An emoji is two UTF-16 code units and four bytes.
    const emoji = `"${"\u{1F680}".repeat(3)}"`;
    expect(Buffer.byteLength(emoji)).toBe(14);
    expect(placeMessage(aQueue({ maxMessageBytes: 13 }), { body: emoji }, T0).ok).toBe(false);
    expect(placeMessage(aQueue({ maxMessageBytes: 14 }), { body: emoji }, T0).ok).toBe(true);
  });

  it("puts a fifo message without a group in group default, and refuses a priority there", () => {
    const fifo = aQueue({ ordering: "fifo" });
    expect(placeMessage(fifo, { body: "1" }, T0)).toMatchObject({
      value: { groupId: "default", priority: 0 },
    });
    expect(placeMessage(fifo, { body: "1", groupId: "g" }, T0)).toMatchObject({ value: { groupId: "g" } });
    const refused = placeMessage(fifo, { body: "1", priority: 3 }, T0);
    expect(refused.ok || refused.error.code).toBe("validation_failed");
  });
});

describe("redriving a dead letter", () => {
  it("returns it ready with deliveryCount 0, visible now, a fresh TTL, and its id, body and priority", () => {
    const dead = aMessage({
      id: "m9",
      body: '"keep"',
      priority: 4,
      state: "dead",
      deliveryCount: 5,
      reason: "max_deliveries",
      deadLetteredAt: at(10),
      expiresAt: at(20),
      leaseToken: null,
    });
    expect(redrivenMessage(dead, aQueue({ messageTtlSeconds: 600 }), at(100))).toMatchObject({
      id: "m9",
      body: '"keep"',
      priority: 4,
      state: "ready",
      deliveryCount: 0,
      visibleAt: at(100),
      expiresAt: at(700),
      reason: null,
      deadLetteredAt: null,
    });
  });
});
