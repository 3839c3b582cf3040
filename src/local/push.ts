import type { LocalConveyor } from "../app.js";
import type { Logger } from "../logger.js";
import { startLocalRedriveResume } from "./redrive.js";

export interface LocalPush {
  stop(): Promise<void>;
}

/**
 * The local host's equivalents of the Azure triggers: the store's committed
 * changes (the SQLite store's own stream; the Cosmos DB change feed on Azure)
 * feed the change handler, which schedules push jobs on the SQLite job table
 * (Service Bus on Azure), which runs them as the Service Bus function does.
 * The safety net runs at start-up (jobs a crash kept from being scheduled)
 * and then periodically; on a Cosmos store, which streams no changes to this
 * host, it is what schedules. Redrive tasks an earlier process left
 * unfinished resume as the `redriveResume` timer resumes them on Azure.
 */
export function startLocalPush(
  conveyor: LocalConveyor,
  options: { logger: Logger; safetyNetMs?: number },
): LocalPush {
  const { logger } = options;
  const unsubscribe = conveyor.changeSource?.onCommittedChanges((committed) => {
    conveyor.changes.handle(committed).catch((error: unknown) => {
      logger.warn("change handler failed; the safety net will catch up", { error: String(error) });
    });
  });
  const safetyNet = () =>
    conveyor
      .reschedulePushBacklog()
      .catch((error: unknown) => logger.warn("push safety net failed", { error: String(error) }));
  void safetyNet();
  const timer = setInterval(safetyNet, options.safetyNetMs ?? (unsubscribe ? 30_000 : 1000));
  timer.unref();
  const redrives = startLocalRedriveResume(conveyor, { logger });

  conveyor.dispatcher.start(async (job) => {
    const report = await conveyor.pushJobs.run(job);
    if (report.kind === "storeUnavailable") {
      logger.warn("push job: the store is unavailable; scheduled again", {
        messageId: job.messageId,
        at: report.retry.dueAt.toISOString(),
        error: String(report.error),
      });
    } else if (report.kind === "delivered" && report.outcome.kind !== "acked") {
      const result = report.outcome;
      logger[result.kind === "deadLettered" ? "warn" : "info"]("push delivery failed", {
        messageId: job.messageId,
        outcome: result.kind,
        ...("error" in result ? { error: result.error } : {}),
      });
    }
  });

  return {
    async stop() {
      clearInterval(timer);
      redrives.stop();
      unsubscribe?.();
      await conveyor.dispatcher.stop();
    },
  };
}
