import type { Conveyor } from "../app.js";
import type { Logger } from "../logger.js";

const EVERY_MS = 5000;

/**
 * The local host's equivalent of the `redriveResume` timer function: every
 * few seconds, continue the redrive tasks whose owner stopped (after a
 * restart, the ones the previous process left unfinished, once their lease
 * lapses). A run still under way when the next is due is not doubled.
 */
export function startLocalRedriveResume(conveyor: Conveyor, options: { logger: Logger }): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    conveyor
      .resumeRedrives(6 * EVERY_MS)
      .catch((error: unknown) => options.logger.warn("redrive resume failed", { error: String(error) }))
      .finally(() => {
        running = false;
      });
  }, EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
