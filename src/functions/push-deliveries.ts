import { app, type InvocationContext } from "@azure/functions";
import { DELIVERIES_QUEUE, parseJob } from "../adapters/servicebus/dispatcher.js";
import { conveyor } from "./runtime.js";

/**
 * One push attempt per `deliveries` message. A deferred job, and one the
 * store failed as unavailable, are scheduled again (`PushJobRunner`). Any
 * other failure throws, which leaves the job to Service Bus's retries, and
 * after `maxDeliveryCount` to its dead-letter queue (push-dead-letters.ts).
 */
export async function deliverPush(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseJob(message);
  const report = await (await conveyor()).pushJobs.run(job);
  if (report.kind === "storeUnavailable") {
    context.warn(
      `push job ${job.messageId}: the store is unavailable (${String(report.error)}); again at ${report.retry.dueAt.toISOString()}`,
    );
    return;
  }
  context.log(
    `push job ${job.messageId}: ${report.kind === "delivered" ? report.outcome.kind : report.kind}`,
  );
}

app.serviceBusQueue("deliverPush", {
  connection: "ServiceBusConnection",
  queueName: DELIVERIES_QUEUE,
  handler: deliverPush,
});
