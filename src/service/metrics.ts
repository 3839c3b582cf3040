import { ok, type Result } from "../domain/errors.js";
import { SAMPLE_EVERY_MS } from "./changes.js";
import { queueUseCase } from "./context.js";
import type { StatsSample } from "./ports.js";

export interface StatsHistory {
  sampleEverySeconds: number;
  /** Oldest first; the last point is the queue's stats now, so a quiet queue's line reaches the present. */
  points: StatsSample[];
}

/**
 * A queue's stats over the last minutes, from the samples the change
 * handler keeps in the store: the same for every viewer and after a reload,
 * on any instance. A queue records samples only while it changes, so a gap
 * between two points means nothing changed in it.
 */
export const statsHistory = queueUseCase(
  "read",
  async (queue, { context }, minutes: number): Promise<Result<StatsHistory>> => {
    const now = context.clock.now();
    const since = new Date(now.getTime() - minutes * 60_000);
    const [kept, current] = await Promise.all([
      context.store.samples(queue, since),
      context.store.stats(queue, now),
    ]);
    return ok({ sampleEverySeconds: SAMPLE_EVERY_MS / 1000, points: [...kept, { at: now, ...current }] });
  },
);
