import { stableHash } from "./partition.js";

/**
 * How a receive spreads over a queue's partitions and candidates so that
 * receivers on different instances, which share nothing but the store, rarely
 * take the same message at once (issue 11). Pure: the service keeps what a
 * process has seen (src/service/receive.ts) and asks these functions what to
 * read and take.
 *
 * Lanes: every message id hashes to one of `LANES` lanes. A receiver that
 * lost races lately reads more candidates than it wants (`candidatesToRead`),
 * takes no more than its part of what it found (`shareOf`) and, within the
 * first priority level that does not fit whole, takes those whose lanes come
 * first going round from its own lane. Two receivers whose
 * lanes are far apart then take different messages from the same leading
 * candidates, whenever each of them read: a message's lane is its own, not
 * its place in a read, so it does not move as others lease. A receiver that
 * loses again draws a new lane, at random, until it finds one nobody near it
 * uses. No message is left behind for want of a receiver on its lane: what
 * nobody takes stays at the head of the delivery order, fills every read, and
 * the nearest lane reaches it.
 */
export const LANES = 64;

/**
 * How far a receiver that keeps losing races widens its reads: as many
 * candidates as this many times what it wants. Each candidate read costs
 * about 1 RU on Cosmos DB, so a wider read buys fewer races with request
 * units the budget would spend on messages (docs/performance.md, "Leases
 * that give way to throttling": 2 ran faster than 4 and raced less on 2 and 4
 * partitions; 1, no spread, raced twice as often on 8).
 */
export const MAX_SPREAD = 2;

export const laneOf = (messageId: string): number => stableHash(messageId) % LANES;

/** A process's view of the receivers it races on one queue: none seen lately is `CALM`. */
export interface Spread {
  /** Candidates read per message wanted: 1 when calm, up to `MAX_SPREAD`. */
  factor: number;
  /** Where this process's receivers start taking within a priority level. */
  lane: number;
  /** Until when the factor holds; each calm period after it halves it. */
  holdsUntil: number;
}

export const CALM: Spread = { factor: 1, lane: 0, holdsUntil: 0 };

/** After a race lost at `now`: reads twice as wide (up to `MAX_SPREAD`) from a new lane, held for `holdMs`. */
export function afterLoss(spread: Spread, now: number, holdMs: number, random: () => number): Spread {
  return {
    factor: Math.min(MAX_SPREAD, spread.factor * 2),
    lane: Math.min(LANES - 1, Math.floor(random() * LANES)),
    holdsUntil: now + holdMs,
  };
}

/** The spread at `now`: halved for every `holdMs` passed without a loss since it was set, down to calm. */
export function spreadAt(spread: Spread, now: number, holdMs: number): Spread {
  if (now < spread.holdsUntil) return spread;
  const halvings = 1 + Math.floor((now - spread.holdsUntil) / holdMs);
  const factor = Math.floor(spread.factor / 2 ** Math.min(halvings, 30));
  if (factor <= 1) return CALM;
  return { ...spread, factor, holdsUntil: spread.holdsUntil + halvings * holdMs };
}

export const candidatesToRead = (spread: Spread, want: number): number => want * spread.factor;

interface Candidate {
  message: { id: string; priority: number };
}

/**
 * Up to `want` of the candidates (given in delivery order), returned in
 * delivery order. Priority stays strict: every level that fits whole is taken
 * whole. Calm, the rest is the oldest of the next level; spread, it is that
 * level's candidates nearest the spread's lane going round the lanes (oldest
 * first within a lane), so oldest-first within a priority is then best effort.
 */
export function chooseCandidates<T extends Candidate>(found: T[], want: number, spread: Spread): T[] {
  const share = shareOf(found.length, want, spread);
  if (spread.factor <= 1 || found.length <= share) return found.slice(0, share);
  const chosen = new Set<T>();
  let start = 0;
  while (start < found.length && chosen.size < share) {
    const level = (found[start] as T).message.priority;
    let end = start;
    while (end < found.length && (found[end] as T).message.priority === level) end++;
    const band = found.slice(start, end);
    const room = share - chosen.size;
    const taken = band.length <= room ? band : nearestLanes(band, room, spread.lane);
    for (const candidate of taken) chosen.add(candidate);
    start = end;
  }
  return found.filter((candidate) => chosen.has(candidate));
}

/**
 * How many of `found` candidates a receive takes: what it wants, but spread,
 * no more than its part of them. Where fewer candidates are visible than
 * receivers want (a drained partition, where every receiver takes all it
 * sees), that part is what keeps receivers on different lanes from racing
 * for the same few; each still takes at least one, so a lone receiver with a
 * stale spread is slower for a moment, never stuck.
 */
const shareOf = (found: number, want: number, spread: Spread) =>
  spread.factor <= 1 ? want : Math.min(want, Math.max(1, Math.ceil(found / spread.factor)));

function nearestLanes<T extends Candidate>(band: T[], count: number, lane: number): T[] {
  const distance = (candidate: T) => (laneOf(candidate.message.id) - lane + LANES) % LANES;
  return band
    .map((candidate, index) => ({ candidate, index, distance: distance(candidate) }))
    .sort((a, b) => a.distance - b.distance || a.index - b.index)
    .slice(0, count)
    .map(({ candidate }) => candidate);
}

/**
 * Every partition once, starting from `start`, those set aside (came back
 * empty, or a race was lost there, lately) after the rest: tried last, not
 * never.
 */
export function partitionOrder(
  count: number,
  start: number,
  setAside: (partition: number) => boolean,
): number[] {
  if (count <= 1) return [0];
  const rotated = Array.from({ length: count }, (_, offset) => (start + offset) % count);
  return [...rotated.filter((p) => !setAside(p)), ...rotated.filter(setAside)];
}
