import { ServiceBusClient } from "@azure/service-bus";
import { applicationInsightsMetrics } from "../adapters/appinsights/metrics.js";
import { sendWebhook } from "../adapters/http/webhook-sender.js";
import { DELIVERIES_QUEUE, ServiceBusDispatcher } from "../adapters/servicebus/dispatcher.js";
import { azureCredential, type Conveyor, createConveyor } from "../app.js";
import { ConfigError, loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { ChangeHandler } from "../service/changes.js";
import type { Dispatcher, MetricsSink, SendWebhook } from "../service/ports.js";
import type { TopicContext } from "../service/topics.js";

/**
 * Runs `start` once and shares its promise with every caller, concurrent ones
 * included, but forgets a rejection, so the next call starts again: right
 * after `azd up` the app's role assignments can take up to 30 minutes to
 * take effect (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting),
 * and Key Vault or Cosmos DB answer 403 until then. Caching the failure
 * would fail every call until the instance is recycled.
 */
function startOnce<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => {
    started ??= start().catch((error: unknown) => {
      started = undefined;
      throw error;
    });
    return started;
  };
}

const base = startOnce(async () => {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  return { conveyor: await createConveyor({ config, logger }), config, logger };
});

/** One Conveyor per Functions worker, built on first use from the app settings. */
export async function conveyor(): Promise<Conveyor> {
  return (await base()).conveyor;
}

export interface PushRuntime {
  conveyor: Conveyor;
  dispatcher: Dispatcher;
  changes: ChangeHandler;
  send: SendWebhook;
}

/** What the push, change-feed and timer functions need: the store, Service Bus, metrics. */
export const pushRuntime: () => Promise<PushRuntime> = startOnce(async () => {
  const { conveyor, config, logger } = await base();
  if (!config.serviceBus) {
    throw new ConfigError(
      "invalid configuration: ServiceBusConnection__fullyQualifiedNamespace is required for push",
    );
  }
  const client =
    "namespace" in config.serviceBus
      ? new ServiceBusClient(config.serviceBus.namespace, await azureCredential())
      : new ServiceBusClient(config.serviceBus.emulatorConnectionString);
  const dispatcher = new ServiceBusDispatcher(client.createSender(DELIVERIES_QUEUE));
  const metrics: MetricsSink = config.applicationInsightsConnectionString
    ? applicationInsightsMetrics(config.applicationInsightsConnectionString, await azureCredential())
    : { track: (name, value, dimensions) => logger.debug("metric", { name, value, ...dimensions }) };
  const changes = new ChangeHandler(conveyor.context, {
    dispatcher,
    metrics,
    events: conveyor.events,
    backlogAlertSeconds: conveyor.backlogAlertSeconds,
  });
  return { conveyor, dispatcher, changes, send: sendWebhook };
});

/**
 * What the topic change-feed and safety-net functions need: the queue
 * service (copies are enqueued through it), the Cosmos DB topic store and
 * the live events. The store gets a client of its own on the same account
 * and database as the queue store's; the composition root (src/app.ts) does
 * not hand its Cosmos DB client out.
 */
export const topicRuntime: () => Promise<TopicContext> = startOnce(async () => {
  const { conveyor, config } = await base();
  if (!config.cosmos) {
    throw new ConfigError(
      "invalid configuration: topics on Azure need CONVEYOR_STORE=cosmos and COSMOS__accountEndpoint",
    );
  }
  const [{ CosmosClient }, { CosmosTopicStore }] = await Promise.all([
    import("@azure/cosmos"),
    import("../adapters/cosmos/topics.js"),
  ]);
  const { endpoint, emulatorKey, databaseId } = config.cosmos;
  const client = new CosmosClient({
    endpoint,
    connectionPolicy: { enableEndpointDiscovery: !emulatorKey },
    ...(emulatorKey ? { key: emulatorKey } : { aadCredentials: await azureCredential() }),
  });
  return {
    service: conveyor.context,
    topics: new CosmosTopicStore({ client, databaseId }),
    events: conveyor.events,
  };
});
