import { app, type InvocationContext } from "@azure/functions";
import { DELIVERIES_QUEUE, parseJob } from "../adapters/servicebus/dispatcher.js";
import { abandonPushJob } from "../service/push.js";
import { conveyor } from "./runtime.js";

/**
 * The broker's reason for dead-lettering, which Service Bus keeps in the
 * message's application properties (`DeadLetterReason`,
 * `DeadLetterErrorDescription`: azure-sdk-for-net
 * sdk/servicebus/Azure.Messaging.ServiceBus/src/Amqp/AmqpMessageConstants.cs).
 * The extension (v5) passes them as binding data `ApplicationProperties`
 * (ServiceBusTriggerBindingStrategy.cs), and @azure/functions lower-cases the
 * first letter of every key, nested ones too (src/converters/toCamelCase.ts).
 */
function brokerReason(metadata: InvocationContext["triggerMetadata"]): string {
  const properties = metadata?.applicationProperties as Record<string, unknown> | undefined;
  const parts = [properties?.deadLetterReason, properties?.deadLetterErrorDescription];
  return parts.filter((part): part is string => typeof part === "string" && part !== "").join(": ");
}

/**
 * A push job Service Bus dead-lettered (its handler kept failing): the
 * message is dead-lettered in the store with the broker's reason, so nothing
 * is left behind in the broker.
 */
export async function deadLetterPush(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseJob(message);
  const reason = brokerReason(context.triggerMetadata);
  const deadLettered = await abandonPushJob((await conveyor()).context, job, reason || "unknown");
  context.log(`push job ${job.messageId} abandoned by the broker; message dead-lettered: ${deadLettered}`);
}

app.serviceBusQueue("deadLetterPush", {
  connection: "ServiceBusConnection",
  queueName: `${DELIVERIES_QUEUE}/$DeadLetterQueue`,
  handler: deadLetterPush,
});
