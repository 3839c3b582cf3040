import { newLeaseToken, onReceive } from "../domain/lease.js";
import type { Message } from "../domain/message.js";
import { compareStandard } from "../domain/ordering.js";
import type { Queue } from "../domain/queue.js";
import { applyChange } from "../domain/transition.js";
import { countConflicts } from "./conflicts.js";
import type { MessageWrite, QueueStore, StoredMessage } from "./ports.js";
import {
  claim,
  standardCandidates,
  startLooking,
  stopLooking,
  takeKept,
  unclaim,
  unclaimed,
} from "./receive-turn.js";

export interface ReceiveRequest {
  now: Date;
  max: number;
  visibilityTimeoutSeconds: number;
}

/**
 * Candidates read per message wanted while receives lose races to other
 * instances (`isContended`): receivers that read the same leading candidates
 * at once each pick at random among twice what they need, so two of them
 * rarely race for the same message; more would spend reads (and request
 * units) on candidates nobody takes. Uncontended, a receive reads what it
 * wants (`standardCandidates` in receive-turn.ts).
 */
const CANDIDATE_SPREAD = 2;

/**
 * Passes over the partitions one receive makes at most. A pass that ended
 * short because candidates were dead-lettered (they do not count against
 * `max`) or lost to another receiver looks again; the bound keeps a receive's
 * time and cost bounded when many receivers contend for few messages.
 */
const MAX_PASSES = 4;

/**
 * How long this process tries a partition that came back empty after the
 * others: long enough that receivers of a sparse queue stop reading empty
 * shards first, short enough that new work there waits at most a moment.
 */
const EMPTY_HINT_MS = 1000;

/**
 * How long after a lost race this process keeps spreading its receivers of
 * a queue over the leading candidates: about as long as the burst of
 * receivers that caused it is likely to last.
 */
const CONTENTION_HINT_MS = 1000;

/** Queues whose hints this process keeps; past it the hints are dropped and rebuilt. */
const MAX_HINTED_QUEUES = 10_000;

/** Per queue, when each partition that came back empty may be tried first again. */
const emptyUntil = new Map<string, Map<number, number>>();

/** Per queue, until when receives here pick at random: a race was lost lately. */
const contendedUntil = new Map<string, number>();

/**
 * Leases up to `max` deliverable messages: picks partitions with work, reads
 * each one's candidates, decides with `domain/lease.ts#onReceive`, applies
 * with `domain/transition.ts` and writes compare-and-set. What another
 * receiver took first is skipped; candidates that were dead-lettered instead
 * are not delivered. Delivered in delivery order within the receive.
 */
export async function leaseMessages(
  store: QueueStore,
  queue: Queue,
  request: ReceiveRequest,
  random: () => number,
): Promise<Message[]> {
  startLooking(queue);
  try {
    return await lease(store, queue, request, random);
  } finally {
    stopLooking(queue);
  }
}

async function lease(
  store: QueueStore,
  queue: Queue,
  request: ReceiveRequest,
  random: () => number,
): Promise<Message[]> {
  const delivered: Message[] = [];
  const fifo = queue.ordering === "fifo";
  let waitForOthers = false;
  for (let pass = 0; pass < MAX_PASSES && delivered.length < request.max; pass++) {
    // Candidates another receive here was writing were skipped: let its write finish before looking again.
    if (waitForOthers) await new Promise((resolve) => setImmediate(resolve));
    waitForOthers = false;
    let lookAgain = false;
    for (const partition of partitionOrder(queue, request.now, random)) {
      const want = request.max - delivered.length;
      if (want <= 0) break;
      const contended = isContended(queue, request.now);
      let found: StoredMessage[] | undefined;
      try {
        found = fifo
          ? await store.candidates(queue, partition, request.now, want * CANDIDATE_SPREAD)
          : await standardCandidates(store, queue, partition, request.now, {
              wanted: contended ? want * CANDIDATE_SPREAD : want,
              readPastWrites: pass > 0,
            });
      } catch (error) {
        // A store that fails (throttled, unavailable) after this receive leased some: answer with them,
        // or they would wait out their visibility timeout unseen. With none leased, the failure is the answer.
        if (delivered.length === 0) throw error;
        return ordered(delivered, fifo);
      }
      if (found === undefined) {
        waitForOthers = true;
        continue;
      }
      hintEmpty(queue, partition, found.length === 0, request.now);
      const open = unclaimed(queue, found, fifo);
      waitForOthers ||= open.length < found.length;
      if (open.length === 0) continue;
      const chosen = fifo ? open.slice(0, want) : pick(open, want, contended, random);
      if (!fifo) takeKept(queue, partition, chosen);
      const ids = claim(queue, chosen);
      try {
        const outcome = fifo
          ? await leaseFifo(store, queue, chosen, request)
          : await leaseStandard(store, queue, chosen, request);
        delivered.push(...outcome.delivered);
        if (outcome.lost > 0) hintContended(queue, request.now);
        lookAgain ||= outcome.delivered.length < chosen.length;
      } catch (error) {
        // As for a failed read: what this receive already leased is answered; a lease whose write
        // failed with an unknown outcome shows again when its visibility timeout passes.
        if (delivered.length === 0) throw error;
        return ordered(delivered, fifo);
      } finally {
        unclaim(queue, ids);
      }
    }
    if (!lookAgain && !waitForOthers) break;
  }
  return ordered(delivered, fifo);
}

const ordered = (delivered: Message[], fifo: boolean): Message[] =>
  fifo ? delivered : delivered.sort(compareStandard);

interface Outcome {
  delivered: Message[];
  /** Writes lost to another receiver. */
  lost: number;
}

function leaseWrite(candidate: StoredMessage, queue: Queue, request: ReceiveRequest): MessageWrite {
  const change = onReceive(
    candidate.message,
    queue,
    request.now,
    request.visibilityTimeoutSeconds,
    newLeaseToken(),
  );
  const { next, totals } = applyChange(candidate.message, change, queue);
  return { version: candidate.version, next, totals };
}

const isLease = (write: MessageWrite) => write.next.state === "ready";

async function leaseStandard(
  store: QueueStore,
  queue: Queue,
  chosen: StoredMessage[],
  request: ReceiveRequest,
): Promise<Outcome> {
  const writes = chosen.map((candidate) => leaseWrite(candidate, queue, request));
  const won = await store.write(queue, writes);
  const lost = won.filter((ok) => !ok).length;
  countConflicts(lost);
  const delivered = writes.filter((write, index) => won[index] && isLease(write)).map((write) => write.next);
  return { delivered, lost };
}

/**
 * Fifo: a group's head is leased first, on its own, and the rest of its run
 * only once the head is this receiver's. A receiver that read the candidates
 * before another leased the head then loses the head and takes nothing more of
 * the group, so no two receivers ever hold messages of one group at once.
 */
async function leaseFifo(
  store: QueueStore,
  queue: Queue,
  chosen: StoredMessage[],
  request: ReceiveRequest,
): Promise<Outcome> {
  const runs = new Map<string, StoredMessage[]>();
  for (const candidate of chosen) {
    const group = candidate.message.groupId ?? "";
    const run = runs.get(group) ?? [];
    if (run.length === 0) runs.set(group, run);
    run.push(candidate);
  }
  const groups = [...runs.values()];
  const heads = groups.map((run) => ({
    ...leaseWrite(run[0] as StoredMessage, queue, request),
    servedGroupAt: request.now,
  }));
  const headsWon = await store.write(queue, heads);
  const tails: MessageWrite[] = [];
  const tailOwners: number[] = [];
  groups.forEach((run, index) => {
    // A head dead-lettered instead of leased leaves the group unleased: its next message waits for another look.
    if (!headsWon[index] || !isLease(heads[index] as MessageWrite)) return;
    for (const candidate of run.slice(1)) {
      tails.push(leaseWrite(candidate, queue, request));
      tailOwners.push(index);
    }
  });
  const tailsWon = tails.length > 0 ? await store.write(queue, tails) : [];
  const lost = headsWon.filter((ok) => !ok).length + tailsWon.filter((ok) => !ok).length;
  countConflicts(lost);
  const delivered: Message[] = [];
  groups.forEach((_, index) => {
    const head = heads[index] as MessageWrite;
    if (!headsWon[index] || !isLease(head)) return;
    delivered.push(head.next);
    // Delivered up to the first tail lost (it cannot be while the head is ours): what follows would run ahead of it.
    let unbroken = true;
    tails.forEach((tail, position) => {
      if (tailOwners[position] !== index) return;
      unbroken &&= tailsWon[position] === true;
      if (unbroken && isLease(tail)) delivered.push(tail.next);
    });
  });
  return { delivered, lost };
}

/**
 * Up to `want` of the candidates, in delivery order. Under contention (a
 * receive here lost a race to another instance lately) the priority order
 * stays strict but, within the first level that
 * does not fit whole, the pick is at random, so receivers reading the same
 * candidates at once mostly take different ones; oldest-first within a
 * priority is then best effort.
 */
function pick(
  found: StoredMessage[],
  want: number,
  contended: boolean,
  random: () => number,
): StoredMessage[] {
  if (!contended || found.length <= want) return found.slice(0, want);
  const chosen: StoredMessage[] = [];
  let start = 0;
  while (start < found.length && chosen.length < want) {
    const level = (found[start] as StoredMessage).message.priority;
    let end = start;
    while (end < found.length && (found[end] as StoredMessage).message.priority === level) end++;
    const band = found.slice(start, end);
    const room = want - chosen.length;
    chosen.push(...(band.length <= room ? band : sample(band, room, random)));
    start = end;
  }
  return chosen;
}

function sample<T>(items: T[], count: number, random: () => number): T[] {
  const pool = [...items];
  for (let index = 0; index < count; index++) {
    const swap = index + Math.floor(random() * (pool.length - index));
    [pool[index], pool[swap]] = [pool[swap] as T, pool[index] as T];
  }
  return pool.slice(0, count);
}

/** Every partition once, from a random start, those that came back empty lately last (not never). */
function partitionOrder(queue: Queue, now: Date, random: () => number): number[] {
  const count = queue.partitions;
  if (count <= 1) return [0];
  const start = Math.floor(random() * count);
  const rotated = Array.from({ length: count }, (_, offset) => (start + offset) % count);
  const hints = emptyUntil.get(queue.id);
  if (!hints) return rotated;
  const at = now.getTime();
  const isEmpty = (partition: number) => (hints.get(partition) ?? 0) > at;
  return [...rotated.filter((p) => !isEmpty(p)), ...rotated.filter(isEmpty)];
}

function hintEmpty(queue: Queue, partition: number, empty: boolean, now: Date): void {
  if (queue.partitions <= 1) return;
  let hints = emptyUntil.get(queue.id);
  if (!empty) {
    hints?.delete(partition);
    return;
  }
  if (!hints) {
    if (emptyUntil.size >= MAX_HINTED_QUEUES) emptyUntil.clear();
    hints = new Map();
    emptyUntil.set(queue.id, hints);
  }
  hints.set(partition, now.getTime() + EMPTY_HINT_MS);
}

function isContended(queue: Queue, now: Date): boolean {
  return (contendedUntil.get(queue.id) ?? 0) > now.getTime();
}

function hintContended(queue: Queue, now: Date): void {
  if (contendedUntil.size >= MAX_HINTED_QUEUES) contendedUntil.clear();
  contendedUntil.set(queue.id, now.getTime() + CONTENTION_HINT_MS);
}
