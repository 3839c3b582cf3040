import type { Message } from "./message.js";

/**
 * Delivery order.
 *
 * Standard queues: the highest priority first and, within a priority, the
 * lowest sequence (the oldest) first. Stores implement this with an index on
 * (priority DESC, sequence ASC) over ready messages; `compareStandard` is the
 * reference the store contract tests check them against.
 *
 * Fifo queues: each group is delivered strictly in sequence. Only the group's
 * head (its lowest-sequence ready message) can open a delivery, so while any
 * message of the group is leased, or waits out a nack's backoff, the group is
 * blocked, and a nacked message keeps its place. One receive may take a run of
 * consecutive visible messages from a group's head. Groups are served fairly:
 * the least recently served group goes first, so one deep group cannot starve
 * the others.
 */
export function compareStandard(
  a: Pick<Message, "priority" | "sequence">,
  b: Pick<Message, "priority" | "sequence">,
) {
  return b.priority - a.priority || a.sequence - b.sequence;
}

/**
 * The messages a receive may take from one fifo group: `head` lists the
 * group's first ready messages in sequence order; the run is the prefix that is
 * visible now. An empty run means the group is blocked.
 */
export function fifoRun(head: readonly Message[], now: Date, max: number): Message[] {
  const run: Message[] = [];
  for (const message of head) {
    if (run.length >= max || message.visibleAt > now) break;
    run.push(message);
  }
  return run;
}
