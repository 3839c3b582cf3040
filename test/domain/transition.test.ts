import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Result } from "../../src/domain/errors.js";
import { onAck, onExtend, onNack, onReceive, type Transition } from "../../src/domain/lease.js";
import type { Message, MessageState } from "../../src/domain/message.js";
import {
  addTotals,
  applyChange,
  NO_TOTALS,
  TOMBSTONE_BODY,
  type TotalsDelta,
} from "../../src/domain/transition.js";
import { aMessage, aQueue, T0 } from "../fixtures.js";

/**
 * Property tests of the one place messages change: any sequence of receives,
 * acks, nacks, extends, time passing and redrives, decided by `lease.ts` and
 * applied by `transition.ts`, keeps the invariants `message.ts` documents.
 */

const MESSAGES = 3;

type TokenPick = "latest" | "stale" | "forged";

type Command =
  | { kind: "receive"; index: number; seconds: number }
  | { kind: "ack"; index: number; token: TokenPick }
  | { kind: "nack"; index: number; token: TokenPick; deadLetter: boolean; delaySeconds?: number }
  | { kind: "extend"; index: number; token: TokenPick; seconds: number }
  | { kind: "elapse"; seconds: number }
  | { kind: "redrive"; index: number };

const index = fc.integer({ min: 0, max: MESSAGES - 1 });
const token = fc.constantFrom<TokenPick>("latest", "stale", "forged");
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant("receive" as const), index, seconds: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant("ack" as const), index, token }),
  fc.record(
    {
      kind: fc.constant("nack" as const),
      index,
      token,
      deadLetter: fc.boolean(),
      delaySeconds: fc.integer({ min: 0, max: 60 }),
    },
    { requiredKeys: ["kind", "index", "token", "deadLetter"] },
  ),
  fc.record({ kind: fc.constant("extend" as const), index, token, seconds: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ kind: fc.constant("elapse" as const), seconds: fc.integer({ min: 0, max: 120 }) }),
  fc.record({ kind: fc.constant("redrive" as const), index }),
);

/** Which state may follow which: the diagram in src/domain/message.ts. */
const ALLOWED: Record<MessageState, MessageState[]> = {
  ready: ["ready", "acked", "dead"],
  acked: ["acked"],
  dead: ["dead", "ready"],
};

interface Slot {
  message: Message;
  /** Every token a receive issued for this message, oldest first. */
  issued: string[];
}

function run(commands: Command[], maxDeliveries: number, ttlSeconds: number): void {
  const queue = aQueue({
    maxDeliveries,
    messageTtlSeconds: ttlSeconds,
    retry: { initialDelaySeconds: 1, maxDelaySeconds: 30, multiplier: 2, jitter: false },
  });
  let now = T0;
  let sequence = MESSAGES;
  let tokens = 0;
  let totals: TotalsDelta = { ...NO_TOTALS };
  const slots: Slot[] = Array.from({ length: MESSAGES }, (_, n) => ({
    message: aMessage({
      id: `m${n}`,
      sequence: n + 1,
      expiresAt: new Date(T0.getTime() + ttlSeconds * 1000),
    }),
    issued: [],
  }));

  const pickToken = (slot: Slot, pick: TokenPick): string => {
    if (pick === "forged") return "never-issued";
    if (pick === "stale") return slot.issued.length > 1 ? (slot.issued[0] as string) : "never-issued";
    return slot.issued[slot.issued.length - 1] ?? "never-issued";
  };

  const apply = (slot: Slot, change: Parameters<typeof applyChange>[1]) => {
    const before = slot.message;
    const { next, totals: delta } = applyChange(before, change, queue);
    expect(ALLOWED[before.state]).toContain(next.state);
    if (change.kind === "redrive") expect(next.deliveryCount).toBe(0);
    else expect(next.deliveryCount).toBeGreaterThanOrEqual(before.deliveryCount);
    // Identity never changes; the payload only goes, with the ack.
    expect([next.id, next.priority, next.groupId, next.dedupKey]).toEqual([
      before.id,
      before.priority,
      before.groupId,
      before.dedupKey,
    ]);
    if (next.state === "acked") expect([next.body, next.attributes]).toEqual([TOMBSTONE_BODY, {}]);
    else expect([next.body, next.attributes]).toEqual([before.body, before.attributes]);
    totals = addTotals(totals, delta);
    slot.message = next;
  };

  /** A settle decision: refused for any token but the latest live one, and never a change when refused. */
  const settle = (slot: Slot, pick: TokenPick, decision: Result<Transition | null>) => {
    const used = pickToken(slot, pick);
    const live = slot.message.leaseToken;
    if (used !== live) {
      expect(decision.ok || decision.error.code).toBe("lease_lost");
      return;
    }
    if (!decision.ok) {
      // The latest token is refused only once the message has left the ready state for good.
      expect(slot.message.state).not.toBe("ready");
      return;
    }
    if (decision.value) apply(slot, decision.value);
  };

  for (const step of commands) {
    if (step.kind === "elapse") {
      now = new Date(now.getTime() + step.seconds * 1000);
      continue;
    }
    const slot = slots[step.index] as Slot;
    const message = slot.message;
    switch (step.kind) {
      case "receive": {
        // A receive only ever considers ready messages that are visible now.
        if (message.state !== "ready" || message.visibleAt > now) break;
        const issued = `token-${++tokens}`;
        const change = onReceive(message, queue, now, step.seconds, issued);
        if (change.kind === "lease") slot.issued.push(issued);
        apply(slot, change);
        break;
      }
      case "ack":
        settle(slot, step.token, onAck(message, pickToken(slot, step.token), now));
        break;
      case "nack": {
        const options = { deadLetter: step.deadLetter, delaySeconds: step.delaySeconds, error: "boom" };
        settle(
          slot,
          step.token,
          onNack(message, queue, pickToken(slot, step.token), now, options, () => 0.5),
        );
        break;
      }
      case "extend":
        settle(slot, step.token, onExtend(message, pickToken(slot, step.token), now, step.seconds));
        break;
      case "redrive":
        if (message.state === "dead") apply(slot, { kind: "redrive", at: now, sequence: ++sequence });
        break;
    }
    checkInvariants(slots, totals, maxDeliveries);
  }
}

function checkInvariants(slots: Slot[], totals: TotalsDelta, maxDeliveries: number): void {
  const count = (state: MessageState) => slots.filter((slot) => slot.message.state === state).length;
  // enqueued = ready + acked + dead, with acked and dead as the counters tell them.
  expect(totals.ackedTotal).toBe(count("acked"));
  expect(totals.deadLetteredTotal - totals.redrivenTotal).toBe(count("dead"));
  expect(slots.length).toBe(
    count("ready") + totals.ackedTotal + totals.deadLetteredTotal - totals.redrivenTotal,
  );
  for (const { message } of slots) {
    // A message is delivered at most maxDeliveries times between redrives.
    expect(message.deliveryCount).toBeLessThanOrEqual(maxDeliveries);
    if (message.state === "dead") {
      expect(message.reason).not.toBeNull();
      expect(message.deadLetteredAt).not.toBeNull();
      expect(message.leaseToken).toBeNull();
    } else {
      expect(message.reason).toBeNull();
      expect(message.deadLetteredAt).toBeNull();
    }
    if (message.state === "acked") expect(message.ackedAt).not.toBeNull();
    // A lease is one token with one expiry, and hides the message until then.
    expect(message.leaseToken === null).toBe(message.leaseExpiresAt === null);
    if (message.state === "ready" && message.leaseExpiresAt !== null) {
      expect(message.visibleAt).toEqual(message.leaseExpiresAt);
    }
  }
}

describe("message transitions (property)", () => {
  it("keep the state machine, the delivery count, the fence of tokens and the totals under any sequence", () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 30, max: 600 }),
        (commands, maxDeliveries, ttlSeconds) => run(commands, maxDeliveries, ttlSeconds),
      ),
      { numRuns: 400 },
    );
  });
});

describe("applyChange", () => {
  const queue = aQueue();

  it("counts an ack, a dead letter and a redrive, and nothing else", () => {
    const leased = aMessage({ leaseToken: "t", leaseExpiresAt: T0, deliveryCount: 1 });
    expect(applyChange(leased, { kind: "ack", at: T0 }, queue).totals).toEqual({
      ...NO_TOTALS,
      ackedTotal: 1,
    });
    const dead = applyChange(
      leased,
      { kind: "deadLetter", reason: "rejected", lastError: "x", at: T0 },
      queue,
    );
    expect(dead.totals).toEqual({ ...NO_TOTALS, deadLetteredTotal: 1 });
    expect(dead.next).toMatchObject({ state: "dead", reason: "rejected", leaseToken: null });
    const back = applyChange(dead.next, { kind: "redrive", at: T0, sequence: 99 }, queue);
    expect(back.totals).toEqual({ ...NO_TOTALS, redrivenTotal: 1 });
    expect(back.next).toMatchObject({ state: "ready", sequence: 99, deliveryCount: 0, reason: null });
    const released = applyChange(leased, { kind: "release", visibleAt: T0, lastError: null }, queue);
    expect(released.totals).toEqual(NO_TOTALS);
    expect(released.next.leaseToken).toBeNull();
  });
});
