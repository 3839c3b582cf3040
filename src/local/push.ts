import { sendWebhook } from "../adapters/http/webhook-sender.js";
import { SqliteDispatcher } from "../adapters/sqlite/dispatcher.js";
import { SqliteStore } from "../adapters/sqlite/store.js";
import type { Conveyor } from "../app.js";
import type { Logger } from "../logger.js";
import { ChangeHandler, reschedulePushBacklog } from "../service/changes.js";
import type { EventSink, MetricsSink } from "../service/ports.js";
import { runPushJob } from "../service/push.js";
import { startLocalRedriveResume } from "./redrive.js";

export interface LocalPush {
  dispatcher: SqliteDispatcher;
  stop(): Promise<void>;
}

/**
 * The local host's equivalents of the Azure triggers: the SQLite store's
 * committed-change stream feeds the change handler (the Cosmos DB change feed
 * on Azure), which schedules push jobs on the SQLite dispatcher (Service Bus
 * on Azure), which runs the same push job handler. The safety net runs at
 * start-up (jobs a crash kept from being scheduled) and then periodically;
 * on a Cosmos store, which has no local change stream, it is what schedules.
 * Redrive tasks an earlier process left unfinished resume as the
 * `redriveResume` timer resumes them on Azure.
 */
export function startLocalPush(
  conveyor: Conveyor,
  options: { dataDir: string; logger: Logger; events: EventSink; safetyNetMs?: number },
): LocalPush {
  const { context } = conveyor;
  const { logger } = options;
  const dispatcher = new SqliteDispatcher(options.dataDir, logger);
  const metrics: MetricsSink = {
    track: (name, value, dimensions) => logger.debug("metric", { name, value, ...dimensions }),
  };
  const changes = new ChangeHandler(context, {
    dispatcher,
    metrics,
    events: options.events,
    backlogAlertSeconds: conveyor.backlogAlertSeconds,
  });
  const store = context.store;
  const unsubscribe =
    store instanceof SqliteStore
      ? store.onCommittedChanges((committed) => {
          changes.handle(committed).catch((error: unknown) => {
            logger.warn("change handler failed; the safety net will catch up", { error: String(error) });
          });
        })
      : undefined;
  const safetyNet = () =>
    reschedulePushBacklog(context, dispatcher).catch((error: unknown) =>
      logger.warn("push safety net failed", { error: String(error) }),
    );
  void safetyNet();
  const timer = setInterval(safetyNet, options.safetyNetMs ?? (unsubscribe ? 30_000 : 1000));
  timer.unref();
  const redrives = startLocalRedriveResume(conveyor, { logger });

  dispatcher.start(async (job) => {
    const outcome = await runPushJob(context, sendWebhook, job);
    if (outcome.kind === "delivered" && outcome.outcome.kind !== "acked") {
      const result = outcome.outcome;
      logger[result.kind === "deadLettered" ? "warn" : "info"]("push delivery failed", {
        messageId: job.messageId,
        outcome: result.kind,
        ...("error" in result ? { error: result.error } : {}),
      });
    }
    return outcome;
  });

  return {
    dispatcher,
    async stop() {
      clearInterval(timer);
      redrives.stop();
      unsubscribe?.();
      await dispatcher.stop();
    },
  };
}
