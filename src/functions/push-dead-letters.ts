import { app } from "@azure/functions";
import { DELIVERIES_QUEUE, parseJob } from "../adapters/servicebus/dispatcher.js";
import { abandonPushJob } from "../service/push.js";
import { pushRuntime } from "./runtime.js";

/**
 * A push job Service Bus dead-lettered (its handler kept failing): the
 * message is dead-lettered in the store with the broker's reason, so nothing
 * is left behind in the broker.
 */
app.serviceBusQueue("deadLetterPush", {
  connection: "ServiceBusConnection",
  queueName: `${DELIVERIES_QUEUE}/$DeadLetterQueue`,
  handler: async (message, context) => {
    const runtime = await pushRuntime();
    const job = parseJob(message);
    const metadata = context.triggerMetadata ?? {};
    const reason = [metadata.deadLetterReason, metadata.deadLetterErrorDescription]
      .filter(Boolean)
      .join(": ");
    const deadLettered = await abandonPushJob(runtime.conveyor.context, job, reason || "unknown");
    context.log(`push job ${job.messageId} abandoned by the broker; message dead-lettered: ${deadLettered}`);
  },
});
