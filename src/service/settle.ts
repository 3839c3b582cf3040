import { fail, ok, type Result } from "../domain/errors.js";
import type { Message } from "../domain/message.js";
import type { Queue } from "../domain/queue.js";
import { applyChange, type Change } from "../domain/transition.js";
import { countConflicts } from "./conflicts.js";
import type { MessageWrite, QueueStore } from "./ports.js";

/** Decides, from the message as stored, what to change; `null` changes nothing and succeeds. */
export type Decide = (message: Message) => Result<Change | null>;

export interface Settlement {
  messageId: string;
  decide: Decide;
}

/**
 * How often one settle decides again after losing a compare-and-set. A message
 * changes under a settle only when its lease lapsed and another receiver took
 * it, or a second settle of the same message ran at once: a second look nearly
 * always wins, and five lost races in a row mean contention a client should
 * back off from (it gets `unavailable` with a retry hint), not a loop.
 */
const MAX_SETTLE_ATTEMPTS = 5;

/**
 * Applies each decision to the message as stored: read, decide, write
 * compare-and-set, and on a lost race read again and decide on the fresh copy.
 * One result per item, in order; all the items' writes of a round go to the
 * store in one call.
 */
export async function settleMessages(
  store: QueueStore,
  queue: Queue,
  settlements: Settlement[],
): Promise<Result<Message>[]> {
  const results: (Result<Message> | undefined)[] = settlements.map(() => undefined);
  let pending = settlements.map((_, index) => index);
  for (let attempt = 0; attempt < MAX_SETTLE_ATTEMPTS && pending.length > 0; attempt++) {
    const stored = await Promise.all(
      pending.map((index) => store.readMessage(queue, (settlements[index] as Settlement).messageId)),
    );
    const writes: MessageWrite[] = [];
    const written: { index: number; next: Message }[] = [];
    pending.forEach((index, position) => {
      const current = stored[position];
      const { messageId, decide } = settlements[index] as Settlement;
      if (!current) {
        results[index] = fail("message_not_found", `no message "${messageId}" in this queue`);
        return;
      }
      const decision = decide(current.message);
      if (!decision.ok) results[index] = decision;
      else if (decision.value === null) results[index] = ok(current.message);
      else {
        const { next, totals } = applyChange(current.message, decision.value, queue);
        writes.push({ version: current.version, next, totals });
        written.push({ index, next });
      }
    });
    const outcomes = writes.length > 0 ? await store.write(queue, writes) : [];
    pending = [];
    written.forEach(({ index, next }, position) => {
      if (outcomes[position] === "written") results[index] = ok(next);
      else pending.push(index);
    });
    countConflicts(pending.length);
  }
  return results.map(
    (result) =>
      result ??
      fail("unavailable", "the message kept changing while this settled it; retry", { retryAfterSeconds: 1 }),
  );
}
