import { app } from "@azure/functions";
import { DELIVERIES_QUEUE, parseJob } from "../adapters/servicebus/dispatcher.js";
import { runPushJob } from "../service/push.js";
import { pushRuntime } from "./runtime.js";

/**
 * One push attempt per `deliveries` message. A deferred job is scheduled
 * again; a handler that throws leaves the job to Service Bus's retries, and
 * after `maxDeliveryCount` to its dead-letter queue (push-dead-letters.ts).
 */
app.serviceBusQueue("deliverPush", {
  connection: "ServiceBusConnection",
  queueName: DELIVERIES_QUEUE,
  handler: async (message, context) => {
    const runtime = await pushRuntime();
    const job = parseJob(message);
    const outcome = await runPushJob(runtime.conveyor.context, runtime.send, job);
    if (outcome.kind === "deferred") await runtime.dispatcher.schedule([outcome.job]);
    context.log(
      `push job ${job.messageId}: ${outcome.kind === "delivered" ? outcome.outcome.kind : outcome.kind}`,
    );
  },
});
