import { app, type InvocationContext } from "@azure/functions";
import { owingMessageFromDocument } from "../adapters/cosmos/topic-documents.js";
import { makePendingCopies, type TopicContext } from "../service/topics.js";
import { conveyor } from "./runtime.js";

/**
 * Makes the copies of every topic that has a message owing copies in the
 * batch. Per topic, not per document: `makePendingCopies` takes the topic's
 * owing messages lowest sequence first, so a fifo subscription queue gets a
 * group's copies in publish order even when the batch holds them out of
 * order. A message the inline attempt already settled arrives with `owing`
 * false and is skipped; a replayed batch finds its copies no longer pending.
 */
async function makeCopiesOfChanges(runtime: TopicContext, documents: unknown[]): Promise<number> {
  const topicIds = new Map<string, string>();
  for (const message of documents.map(owingMessageFromDocument)) {
    if (message) topicIds.set(message.topicId, message.tenantId);
  }
  let settled = 0;
  for (const [topicId, tenantId] of topicIds) {
    // A deleted topic's messages are deleted with it; none is owed a copy any more.
    const topic = await runtime.topics.getTopicById(tenantId, topicId);
    if (topic) settled += await makePendingCopies(runtime, topic);
  }
  return settled;
}

/**
 * The Cosmos DB change feed of `topicMessages` (trigger options:
 * https://learn.microsoft.com/javascript/api/@azure/functions/cosmosdbv4triggeroptions).
 * It shares the `leases` container with `messageChanges` under its own
 * `leaseContainerPrefix` ("allows two separate Azure Functions to share the
 * same Lease container"); the processor also keys every lease by the
 * monitored container's resource id (azure-cosmos-dotnet-v3
 * ChangeFeedProcessorCore.cs, GetLeasePrefix), so the two never take each
 * other's leases. `startFromBeginning` applies only while no lease exists:
 * the first deployment reads the messages published before the trigger
 * first ran, later starts resume from their checkpoints. `connection` is the
 * identity-based `COSMOS__accountEndpoint`/`__credential`/`__clientId`
 * (infra/app/function.bicep). A failed batch is checkpointed anyway
 * (azure-webjobs-sdk-extensions CosmosDBTriggerListener.cs,
 * ProcessChangesAsync only reports the error), which is why the
 * `topicSafetyNet` timer exists.
 */
app.cosmosDB("topicChanges", {
  connection: "COSMOS",
  databaseName: "%COSMOS_DATABASE%",
  containerName: "topicMessages",
  leaseContainerName: "leases",
  leaseContainerPrefix: "topicChanges-",
  createLeaseContainerIfNotExists: false,
  startFromBeginning: true,
  handler: async (documents: unknown[], context: InvocationContext) => {
    const settled = await makeCopiesOfChanges((await conveyor()).topics, documents);
    context.log(`topic changes: ${settled} topic messages settled from ${documents.length} documents`);
  },
});
