import { partitionOfMessageId } from "../domain/partition.js";
import type { Queue } from "../domain/queue.js";
import type { QueueStore, StoredMessage } from "./ports.js";

/**
 * What the receives of one process share so they do not race each other
 * (`receive.ts` runs them): the candidates each is writing (claims), and the
 * candidates a read of this turn left for the others.
 */

/**
 * Per queue, the candidates receives in this process are writing right now.
 * Another receive here skips them (a fifo receive, their whole group) rather
 * than race for them: in-process receivers never collide, so compare-and-set
 * conflicts come only from other instances.
 */
const claimed = new Map<string, Set<string>>();

/** Per queue, the receives in this process that are leasing from it now. */
const looking = new Map<string, number>();

export function startLooking(queue: Queue): void {
  looking.set(queue.id, (looking.get(queue.id) ?? 0) + 1);
}

export function stopLooking(queue: Queue): void {
  const left = (looking.get(queue.id) ?? 1) - 1;
  if (left > 0) looking.set(queue.id, left);
  else looking.delete(queue.id);
}

/**
 * Per queue and partition, candidates of a standard queue that a receive
 * read in this turn of the event loop and no receive took: the receives of
 * one turn (under load, many) take from them instead of each reading the same
 * leading rows, every one of them claimed but the last few. Kept one turn:
 * what is written meanwhile only makes a kept candidate lose its
 * compare-and-set, and what became visible is read by the next turn.
 */
const readAhead = new Map<string, StoredMessage[]>();

/** How many candidates one read takes beyond its own, for the other receives of the queue looking now. */
const MAX_READ_AHEAD = 100;

/**
 * A standard queue's candidates: those another receive of this turn read and
 * left, when enough; else a read of the store for this receive and, as far
 * again as they want (up to `MAX_READ_AHEAD`), for the others looking now.
 * The leading candidates may be what receives here are writing: the first
 * pass then waits for those writes (undefined: a turn, with the group
 * commit) rather than read past them, which reads rows nobody can take; a
 * later pass reads past them (a store whose writes take longer than a turn),
 * and only those of its partition: a read costs per row on Cosmos DB. The
 * first pass waits for any write here, not only its partition's: that keeps
 * this process's receives from reading at once what other instances are
 * taking (docs/performance.md, "Reads sized to their partition").
 */
export async function standardCandidates(
  store: QueueStore,
  queue: Queue,
  partition: number,
  now: Date,
  { wanted, readPastWrites }: { wanted: number; readPastWrites: boolean },
): Promise<StoredMessage[] | undefined> {
  const key = `${queue.id}\u0000${partition}`;
  for (;;) {
    const kept = readAhead.get(key);
    if (kept && unclaimed(queue, kept, false).length >= wanted) return kept;
    // Another receive is reading this partition: what it leaves is kept for us.
    const reading = reads.get(key);
    if (!reading) break;
    await reading;
  }
  if ((claimed.get(queue.id)?.size ?? 0) > 0 && !readPastWrites) return undefined;
  const writing = writingIn(queue, partition);
  // The other receives looking may be at any of the partitions: read ahead for this one's share of them.
  const others = Math.ceil((((looking.get(queue.id) ?? 1) - 1) * wanted) / queue.partitions);
  const read = store.candidates(queue, partition, now, wanted + writing + Math.min(others, MAX_READ_AHEAD));
  const settled = read.then(
    (found) => keepForThisTurn(key, unclaimed(queue, found, false)),
    () => undefined,
  );
  reads.set(key, settled);
  try {
    return await read;
  } finally {
    if (reads.get(key) === settled) reads.delete(key);
  }
}

/** How many candidates of this partition receives here are writing: a read skips past them, and only them. */
function writingIn(queue: Queue, partition: number): number {
  const taken = claimed.get(queue.id);
  if (!taken) return 0;
  if (queue.partitions <= 1) return taken.size;
  let count = 0;
  for (const id of taken) if (partitionOfMessageId(id) === partition) count++;
  return count;
}

/** The reads of a partition's candidates under way, which other receives wait for rather than read the same. */
const reads = new Map<string, Promise<void>>();

function keepForThisTurn(key: string, candidates: StoredMessage[]): void {
  if (!readAhead.has(key)) setImmediate(() => readAhead.delete(key));
  readAhead.set(key, candidates);
}

/** Takes what this receive chose out of what the others of this turn may take. */
export function takeKept(queue: Queue, partition: number, chosen: StoredMessage[]): void {
  const key = `${queue.id}\u0000${partition}`;
  const kept = readAhead.get(key);
  if (!kept) return;
  // By id: a read of another receive may hold the same message as another object.
  const taken = new Set(chosen.map((candidate) => candidate.message.id));
  readAhead.set(
    key,
    kept.filter((candidate) => !taken.has(candidate.message.id)),
  );
}

/** The candidates no other receive here is writing; on fifo queues, only groups none of them is in. */
export function unclaimed(queue: Queue, found: StoredMessage[], fifo: boolean): StoredMessage[] {
  const taken = claimed.get(queue.id);
  if (!taken) return found;
  if (!fifo) return found.filter((candidate) => !taken.has(candidate.message.id));
  const busy = new Set(found.filter((c) => taken.has(c.message.id)).map((c) => c.message.groupId));
  return found.filter((candidate) => !busy.has(candidate.message.groupId));
}

export function claim(queue: Queue, chosen: StoredMessage[]): string[] {
  let taken = claimed.get(queue.id);
  if (!taken) {
    taken = new Set();
    claimed.set(queue.id, taken);
  }
  const ids = chosen.map((candidate) => candidate.message.id);
  for (const id of ids) taken.add(id);
  return ids;
}

export function unclaim(queue: Queue, ids: string[]): void {
  const taken = claimed.get(queue.id);
  if (!taken) return;
  for (const id of ids) taken.delete(id);
  if (taken.size === 0) claimed.delete(queue.id);
}

/** Per queue, the look for its next due message under way, which other long polls here share. */
const dueLooks = new Map<string, Promise<Date | undefined>>();

/**
 * When the queue's next message becomes visible (a delayed one, or a lease
 * that expires), for a long poll that found nothing and is going to sleep.
 * The polls of one process that look at once share one read of the store: on
 * Cosmos DB it is an aggregate query per partition, paid by every empty long
 * poll. A look shared is at most one query's time older than a poll's own
 * would be, which a store's answer already is; a due time found already past
 * wakes the poll at once.
 */
export function nextDue(store: QueueStore, queue: Queue, now: Date): Promise<Date | undefined> {
  const under = dueLooks.get(queue.id);
  if (under) return under;
  const look = store.nextVisibleAt(queue, now).finally(() => {
    if (dueLooks.get(queue.id) === look) dueLooks.delete(queue.id);
  });
  dueLooks.set(queue.id, look);
  return look;
}
