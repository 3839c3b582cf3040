import { describe, expect, it } from "vitest";
import { onAck, onExtend, onNack, onReceive } from "../../src/domain/lease.js";
import { aMessage, aQueue, at, T0 } from "../fixtures.js";

const noJitter = aQueue({
  retry: { initialDelaySeconds: 2, maxDelaySeconds: 100, multiplier: 3, jitter: false },
});

describe("receive", () => {
  it("leases for the visibility timeout and counts the delivery", () => {
    const transition = onReceive(aMessage({ deliveryCount: 1 }), aQueue(), T0, 30, "token-1");
    expect(transition).toEqual({
      kind: "lease",
      leaseToken: "token-1",
      visibleAt: at(30),
      leaseExpiresAt: at(30),
      deliveryCount: 2,
    });
  });

  it("dead-letters an expired message instead of delivering it", () => {
    const transition = onReceive(aMessage({ expiresAt: at(10) }), aQueue(), at(10), 30, "t");
    expect(transition).toMatchObject({ kind: "deadLetter", reason: "expired" });
  });

  it("dead-letters a message whose last allowed lease expired", () => {
    const transition = onReceive(aMessage({ deliveryCount: 5 }), aQueue({ maxDeliveries: 5 }), T0, 30, "t");
    expect(transition).toMatchObject({ kind: "deadLetter", reason: "max_deliveries" });
  });

  it("delivers while deliveries remain", () => {
    expect(onReceive(aMessage({ deliveryCount: 4 }), aQueue({ maxDeliveries: 5 }), T0, 30, "t").kind).toBe(
      "lease",
    );
  });
});

describe("ack", () => {
  const leased = aMessage({
    leaseToken: "current",
    deliveryCount: 1,
    visibleAt: at(30),
    leaseExpiresAt: at(30),
  });

  it("acks with the latest token", () => {
    expect(onAck(leased, "current", at(1))).toEqual({ ok: true, value: { kind: "ack", at: at(1) } });
  });

  it("is idempotent for the token that acked", () => {
    expect(onAck({ ...leased, state: "acked" }, "current", at(2))).toEqual({ ok: true, value: null });
  });

  it("refuses a stale or unknown token with lease_lost", () => {
    const result = onAck(leased, "stale", at(1));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe("lease_lost");
  });

  it("says a nack spent the lease when the message was released since", () => {
    const released = { ...leased, leaseToken: null, leaseExpiresAt: null };
    const result = onAck(released, "current", at(1));
    expect(result.ok || result.error.detail).toMatch(/spent by a nack/);
    const neverReceived = onAck(aMessage(), "made-up", at(1));
    expect(neverReceived.ok || neverReceived.error.detail).toMatch(/never issued/);
  });

  it("still accepts the latest token after the lease expired, as long as nobody received it again", () => {
    expect(onAck(leased, "current", at(60)).ok).toBe(true);
  });

  it("refuses to ack a dead-lettered message", () => {
    expect(onAck({ ...leased, state: "dead" }, "current", at(1)).ok).toBe(false);
  });
});

describe("nack", () => {
  const leased = (deliveryCount: number) => aMessage({ leaseToken: "tok", deliveryCount, visibleAt: at(30) });

  it("backs off exponentially from the queue's retry policy", () => {
    const first = onNack(leased(1), noJitter, "tok", T0, {}, Math.random);
    const third = onNack(leased(3), noJitter, "tok", T0, {}, Math.random);
    expect(first).toMatchObject({ ok: true, value: { kind: "release", visibleAt: at(2) } });
    expect(third).toMatchObject({ ok: true, value: { kind: "release", visibleAt: at(18) } });
  });

  it("uses an explicit delay instead of the backoff", () => {
    expect(onNack(leased(1), noJitter, "tok", T0, { delaySeconds: 7 }, Math.random)).toMatchObject({
      ok: true,
      value: { kind: "release", visibleAt: at(7) },
    });
  });

  it("dead-letters on the last allowed delivery with max_deliveries", () => {
    const queue = aQueue({ maxDeliveries: 3 });
    expect(onNack(leased(3), queue, "tok", T0, {}, Math.random)).toMatchObject({
      ok: true,
      value: { kind: "deadLetter", reason: "max_deliveries" },
    });
  });

  it("dead-letters at once on request, with reason rejected and the error recorded", () => {
    expect(
      onNack(leased(1), noJitter, "tok", T0, { deadLetter: true, error: "bad payload" }, Math.random),
    ).toEqual({
      ok: true,
      value: { kind: "deadLetter", reason: "rejected", lastError: "bad payload", at: T0 },
    });
  });

  it("reports push_failed when a push delivery used its last attempt", () => {
    const queue = aQueue({ maxDeliveries: 2 });
    expect(onNack(leased(2), queue, "tok", T0, { reason: "push_failed" }, Math.random)).toMatchObject({
      value: { kind: "deadLetter", reason: "push_failed" },
    });
  });

  it("refuses a token that is not the latest", () => {
    const result = onNack(leased(1), noJitter, "other", T0, {}, Math.random);
    expect(result.ok || result.error.code).toBe("lease_lost");
  });
});

describe("lease extension", () => {
  const leased = aMessage({ leaseToken: "tok", deliveryCount: 1, visibleAt: at(30), leaseExpiresAt: at(30) });

  it("moves the lease expiry, shorter or longer", () => {
    expect(onExtend(leased, "tok", at(5), 100)).toEqual({
      ok: true,
      value: { kind: "extend", visibleAt: at(105), leaseExpiresAt: at(105) },
    });
  });

  it("with 0 seconds makes the message visible now", () => {
    expect(onExtend(leased, "tok", at(5), 0)).toMatchObject({ value: { visibleAt: at(5) } });
  });

  it("refuses a stale token", () => {
    expect(onExtend(leased, "old", at(5), 10).ok).toBe(false);
  });
});
