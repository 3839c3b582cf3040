import { app, type InvocationContext } from "@azure/functions";
import { messageFromDocument } from "../adapters/cosmos/documents.js";
import type { Message } from "../domain/message.js";
import { pushRuntime } from "./runtime.js";

/**
 * The Cosmos DB change feed of `messages`: schedules push jobs (new and
 * nacked messages of push queues), publishes dead-letter events and metrics.
 * The lease container is created by the infrastructure, not by the trigger.
 */
app.cosmosDB("messageChanges", {
  connection: "COSMOS",
  databaseName: "%COSMOS_DATABASE%",
  containerName: "messages",
  leaseContainerName: "leases",
  createLeaseContainerIfNotExists: false,
  handler: async (documents: unknown[], context: InvocationContext) => {
    const runtime = await pushRuntime();
    const messages = documents
      .map(messageFromDocument)
      .filter((message): message is Message => message !== undefined);
    await runtime.changes.handle(messages);
    context.log(`handled ${messages.length} message changes of ${documents.length} documents`);
  },
});
