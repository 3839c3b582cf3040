import { app, type InvocationContext } from "@azure/functions";
import { messageFromDocument } from "../adapters/cosmos/documents.js";
import type { Message } from "../domain/message.js";
import { conveyor } from "./runtime.js";

/**
 * The Cosmos DB change feed of `messages`, this host's change source (the
 * SQLite store streams its own on the local host): schedules push jobs (new
 * and nacked messages of push queues), publishes dead-letter events and
 * metrics.
 */
export async function messageChanges(documents: unknown[], context: InvocationContext): Promise<void> {
  const messages = documents
    .map(messageFromDocument)
    .filter((message): message is Message => message !== undefined);
  await (await conveyor()).changes.handle(messages);
  context.log(`handled ${messages.length} message changes of ${documents.length} documents`);
}

/** The lease container is created by the infrastructure, not by the trigger. */
app.cosmosDB("messageChanges", {
  connection: "COSMOS",
  databaseName: "%COSMOS_DATABASE%",
  containerName: "messages",
  leaseContainerName: "leases",
  createLeaseContainerIfNotExists: false,
  handler: messageChanges,
});
