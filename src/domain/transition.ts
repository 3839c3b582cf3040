import { redrivenMessage } from "./enqueue.js";
import type { Transition } from "./lease.js";
import type { Message } from "./message.js";
import type { Queue } from "./queue.js";

/**
 * What a message becomes. `lease.ts` decides which transition applies (and
 * refuses the ones a token may not make); this applies it, the same for every
 * store, so a store only persists `next` and adds `totals` to the queue's
 * counters in the same write.
 *
 * A redrive returns a dead letter to the queue at the back of its fifo group:
 * the store gives it a new `sequence`.
 */
export type Change = Transition | { kind: "redrive"; at: Date; sequence: number };

/**
 * How a change moves the queue's lifetime counters. With `enqueuedTotal`
 * (counted at enqueue) they account for every message at every moment:
 * enqueued = ready + acked + (deadLettered - redriven), less what a purge removed.
 */
export interface TotalsDelta {
  ackedTotal: number;
  deadLetteredTotal: number;
  redrivenTotal: number;
}

export const NO_TOTALS: Readonly<TotalsDelta> = Object.freeze({
  ackedTotal: 0,
  deadLetteredTotal: 0,
  redrivenTotal: 0,
});

/** An acked message's body: JSON `null`, what a client reading a tombstone gets. */
export const TOMBSTONE_BODY = "null";

export interface Applied {
  next: Message;
  totals: TotalsDelta;
}

export function applyChange(message: Message, change: Change, queue: Queue): Applied {
  switch (change.kind) {
    case "lease":
      return unchanged({
        ...message,
        leaseToken: change.leaseToken,
        visibleAt: change.visibleAt,
        leaseExpiresAt: change.leaseExpiresAt,
        deliveryCount: change.deliveryCount,
      });
    case "extend":
      return unchanged({ ...message, visibleAt: change.visibleAt, leaseExpiresAt: change.leaseExpiresAt });
    case "release":
      // The token is spent: a nack hands the message back, and only a new receive can lease it.
      return unchanged({
        ...message,
        visibleAt: change.visibleAt,
        lastError: change.lastError,
        leaseToken: null,
        leaseExpiresAt: null,
      });
    case "ack":
      // The token stays on the tombstone, so a repeated ack with it answers as the first did; the
      // payload goes: it is consumed, and a tombstone of under 1 KB costs less to write (docs/cosmos.md).
      return {
        next: { ...message, state: "acked", ackedAt: change.at, body: TOMBSTONE_BODY, attributes: {} },
        totals: { ...NO_TOTALS, ackedTotal: 1 },
      };
    case "deadLetter":
      return {
        next: {
          ...message,
          state: "dead",
          reason: change.reason,
          lastError: change.lastError,
          deadLetteredAt: change.at,
          leaseToken: null,
          leaseExpiresAt: null,
        },
        totals: { ...NO_TOTALS, deadLetteredTotal: 1 },
      };
    case "redrive":
      return {
        next: { ...redrivenMessage(message, queue, change.at), sequence: change.sequence },
        totals: { ...NO_TOTALS, redrivenTotal: 1 },
      };
  }
}

const unchanged = (next: Message): Applied => ({ next, totals: { ...NO_TOTALS } });

/** The sum of several changes' totals: what one store write adds to the queue's counters. */
export function addTotals(a: TotalsDelta, b: TotalsDelta): TotalsDelta {
  return {
    ackedTotal: a.ackedTotal + b.ackedTotal,
    deadLetteredTotal: a.deadLetteredTotal + b.deadLetteredTotal,
    redrivenTotal: a.redrivenTotal + b.redrivenTotal,
  };
}
