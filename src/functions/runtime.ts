import { ServiceBusClient } from "@azure/service-bus";
import { applicationInsightsMetrics } from "../adapters/appinsights/metrics.js";
import { sendWebhook } from "../adapters/http/webhook-sender.js";
import { DELIVERIES_QUEUE, ServiceBusDispatcher } from "../adapters/servicebus/dispatcher.js";
import { azureCredential, type Conveyor, createConveyor } from "../app.js";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { createLogger, type Logger } from "../logger.js";
import { ChangeHandler } from "../service/changes.js";
import type { Dispatcher, MetricsSink, SendWebhook } from "../service/ports.js";

let instance: Promise<{ conveyor: Conveyor; config: Config; logger: Logger }> | undefined;

async function build() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  return { conveyor: await createConveyor({ config, logger }), config, logger };
}

/** One Conveyor per Functions worker, built on first use from the app settings. */
export async function conveyor(): Promise<Conveyor> {
  instance ??= build();
  return (await instance).conveyor;
}

export interface PushRuntime {
  conveyor: Conveyor;
  dispatcher: Dispatcher;
  changes: ChangeHandler;
  send: SendWebhook;
}

let push: Promise<PushRuntime> | undefined;

/** What the push, change-feed and timer functions need: the store, Service Bus, metrics. */
export function pushRuntime(): Promise<PushRuntime> {
  push ??= (async () => {
    instance ??= build();
    const { conveyor, config, logger } = await instance;
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
  })();
  return push;
}
