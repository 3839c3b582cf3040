import { newLeaseToken, onReceive } from "../domain/lease.js";
import type { Message } from "../domain/message.js";
import { compareStandard } from "../domain/ordering.js";
import type { Queue } from "../domain/queue.js";
import {
  afterLoss,
  CALM,
  candidatesToRead,
  chooseCandidates,
  partitionOrder,
  type Spread,
  spreadAt,
} from "../domain/receive-spread.js";
import { applyChange } from "../domain/transition.js";
import { countConflicts } from "./conflicts.js";
import type { MessageWrite, QueueStore, StoredMessage, WriteOutcome } from "./ports.js";
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
 * Candidates a fifo receive reads per message wanted: group heads that other
 * receives here are writing are skipped whole (`unclaimed`), so it reads past
 * them.
 */
const FIFO_SPREAD = 2;

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
 * How long this process tries a partition where it lost a race after the
 * others: another instance is taking from it now, and one of the two moving
 * elsewhere is what keeps them apart. Only the loser learns of the race, so
 * it stays away long enough for the winner to drain what it reads there
 * (docs/performance.md, "Leases that give way to throttling").
 */
const LOST_HINT_MS = 10_000;

/**
 * How long a spread (domain/receive-spread.ts) holds after a lost race before
 * it halves. Long: only the loser of a race learns of it, and a winner that
 * went calm again would take the leading candidates the others spread around
 * and make them lose again (in a benchmark run that held it 10 s, and per
 * partition, most races were lost by calm receives). A process left alone on
 * the queue is back to whole reads a minute after its last loss.
 */
const CONTENTION_HINT_MS = 30_000;

/** Queues whose hints this process keeps; past it the hints are dropped and rebuilt. */
const MAX_HINTED_QUEUES = 10_000;

/** Per queue, when each partition that came back empty may be tried first again. */
const emptyUntil = new Map<string, Map<number, number>>();

/** Per queue, when each partition where a race was lost may be tried first again. */
const lostUntil = new Map<string, Map<number, number>>();

/** Per queue, how receives here spread over its candidates: absent is calm (no race lost lately). */
const spreads = new Map<string, Spread>();

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
    for (const partition of partitionsToTry(queue, request.now, random)) {
      const want = request.max - delivered.length;
      if (want <= 0) break;
      const spread = spreadOf(queue, request.now);
      let found: StoredMessage[] | undefined;
      try {
        found = fifo
          ? await store.candidates(queue, partition, request.now, want * FIFO_SPREAD)
          : await standardCandidates(store, queue, partition, request.now, {
              wanted: candidatesToRead(spread, want),
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
      hint(emptyUntil, queue, partition, found.length === 0 ? request.now.getTime() + EMPTY_HINT_MS : 0);
      const open = unclaimed(queue, found, fifo);
      waitForOthers ||= open.length < found.length;
      if (open.length === 0) continue;
      const chosen = fifo ? open.slice(0, want) : chooseCandidates(open, want, spread);
      if (!fifo) takeKept(queue, partition, chosen);
      const ids = claim(queue, chosen);
      try {
        const outcome = fifo
          ? await leaseFifo(store, queue, chosen, request)
          : await leaseStandard(store, queue, chosen, request);
        delivered.push(...outcome.delivered);
        if (outcome.lost > 0) lostRace(queue, partition, request.now, random);
        // The store let leases go for its budget: what was leased is the answer; more reads would only spend it.
        if (outcome.throttled > 0) return ordered(delivered, fifo);
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
  /** Writes the store let go because it was throttling (they yield to it). */
  throttled: number;
}

const count = (outcomes: WriteOutcome[], kind: WriteOutcome) =>
  outcomes.filter((outcome) => outcome === kind).length;

function leaseWrite(candidate: StoredMessage, queue: Queue, request: ReceiveRequest): MessageWrite {
  const change = onReceive(
    candidate.message,
    queue,
    request.now,
    request.visibilityTimeoutSeconds,
    newLeaseToken(),
  );
  const { next, totals } = applyChange(candidate.message, change, queue);
  return { version: candidate.version, next, totals, yieldsToThrottling: true };
}

const isLease = (write: MessageWrite) => write.next.state === "ready";

async function leaseStandard(
  store: QueueStore,
  queue: Queue,
  chosen: StoredMessage[],
  request: ReceiveRequest,
): Promise<Outcome> {
  const writes = chosen.map((candidate) => leaseWrite(candidate, queue, request));
  const outcomes = await store.write(queue, writes);
  const lost = count(outcomes, "lost");
  countConflicts(lost);
  const delivered = writes
    .filter((write, index) => outcomes[index] === "written" && isLease(write))
    .map((write) => write.next);
  return { delivered, lost, throttled: count(outcomes, "throttled") };
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
  const headOutcomes = await store.write(queue, heads);
  const headsWon = headOutcomes.map((outcome) => outcome === "written");
  const tails: MessageWrite[] = [];
  const tailOwners: number[] = [];
  groups.forEach((run, index) => {
    // A head dead-lettered instead of leased leaves the group unleased: its next message waits for another look.
    if (!headsWon[index] || !isLease(heads[index] as MessageWrite)) return;
    // The head is this receiver's, so no other can take the tail meanwhile: its lease waits out throttling.
    for (const candidate of run.slice(1)) {
      tails.push({ ...leaseWrite(candidate, queue, request), yieldsToThrottling: false });
      tailOwners.push(index);
    }
  });
  const tailOutcomes = tails.length > 0 ? await store.write(queue, tails) : [];
  const tailsWon = tailOutcomes.map((outcome) => outcome === "written");
  const lost = count(headOutcomes, "lost") + count(tailOutcomes, "lost");
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
  // Only heads yield to throttling: a tail waits it out.
  return { delivered, lost, throttled: count(headOutcomes, "throttled") };
}

/** Every partition once from a random start, those that came back empty or where a race was lost lately last. */
function partitionsToTry(queue: Queue, now: Date, random: () => number): number[] {
  const count = queue.partitions;
  if (count <= 1) return [0];
  const at = now.getTime();
  const empty = emptyUntil.get(queue.id);
  const lost = lostUntil.get(queue.id);
  const setAside = (partition: number) =>
    (empty?.get(partition) ?? 0) > at || (lost?.get(partition) ?? 0) > at;
  return partitionOrder(count, Math.floor(random() * count), setAside);
}

/** Sets aside `partition` of `queue` until `until` (0: no longer). */
function hint(hints: Map<string, Map<number, number>>, queue: Queue, partition: number, until: number): void {
  if (queue.partitions <= 1) return;
  let partitions = hints.get(queue.id);
  if (until === 0) {
    partitions?.delete(partition);
    return;
  }
  if (!partitions) {
    if (hints.size >= MAX_HINTED_QUEUES) hints.clear();
    partitions = new Map();
    hints.set(queue.id, partitions);
  }
  partitions.set(partition, until);
}

function spreadOf(queue: Queue, now: Date): Spread {
  const spread = spreads.get(queue.id);
  if (!spread) return CALM;
  const current = spreadAt(spread, now.getTime(), CONTENTION_HINT_MS);
  if (current === CALM) spreads.delete(queue.id);
  else if (current !== spread) spreads.set(queue.id, current);
  return current;
}

/** Another instance took what a receive here chose: spread wider from a new lane, and try that partition last for a while. */
function lostRace(queue: Queue, partition: number, now: Date, random: () => number): void {
  const at = now.getTime();
  if (spreads.size >= MAX_HINTED_QUEUES) spreads.clear();
  spreads.set(queue.id, afterLoss(spreadOf(queue, now), at, CONTENTION_HINT_MS, random));
  hint(lostUntil, queue, partition, at + LOST_HINT_MS);
}
