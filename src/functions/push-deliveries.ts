import { app } from "@azure/functions";
import { DELIVERIES_QUEUE, parseJob } from "../adapters/servicebus/dispatcher.js";
import { type PushJobOutcome, runPushJob, storeRetry } from "../service/push.js";
import { pushRuntime } from "./runtime.js";

/** Jobs this instance saw fail on an unavailable store in a row: the backoff grows with it, and a success resets it. */
let storeFailures = 0;

/**
 * One push attempt per `deliveries` message. A deferred job is scheduled
 * again; so is a job the store failed as unavailable, with a backoff. Any
 * other failure throws, which leaves the job to Service Bus's retries, and
 * after `maxDeliveryCount` to its dead-letter queue (push-dead-letters.ts).
 */
app.serviceBusQueue("deliverPush", {
  connection: "ServiceBusConnection",
  queueName: DELIVERIES_QUEUE,
  handler: async (message, context) => {
    const runtime = await pushRuntime();
    const service = runtime.conveyor.context;
    const job = parseJob(message);
    let outcome: PushJobOutcome;
    try {
      outcome = await runPushJob(service, runtime.send, job);
      storeFailures = 0;
    } catch (error) {
      if (!service.store.isUnavailable(error)) throw error;
      storeFailures++;
      const retry = storeRetry(job, service.clock.now(), storeFailures, service.random);
      await runtime.dispatcher.schedule([retry]);
      context.warn(
        `push job ${job.messageId}: the store is unavailable (${String(error)}); again at ${retry.dueAt.toISOString()}`,
      );
      return;
    }
    if (outcome.kind === "deferred") await runtime.dispatcher.schedule([outcome.job]);
    context.log(
      `push job ${job.messageId}: ${outcome.kind === "delivered" ? outcome.outcome.kind : outcome.kind}`,
    );
  },
});
