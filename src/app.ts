import { createHmac } from "node:crypto";
import type { TokenCredential } from "@azure/identity";
import { fileSecrets, loadOrCreateSigningKey } from "./adapters/files/local-secrets.js";
import { consoleDirectory, staticFiles } from "./adapters/files/static-files.js";
import { resolveHost, sendWebhook } from "./adapters/http/webhook-sender.js";
import { EventHub } from "./adapters/memory/event-hub.js";
import { SqliteDispatcher } from "./adapters/sqlite/dispatcher.js";
import { SqliteStore } from "./adapters/sqlite/store.js";
import { SqliteTopicStore } from "./adapters/sqlite/topics.js";
import { systemClock } from "./adapters/system/clock.js";
import { jwtVerifier } from "./api/auth.js";
import type { ApiRequest, ApiResponse } from "./api/http.js";
import { buildOpenApiDocument } from "./api/openapi.js";
import { createPipeline } from "./api/pipeline.js";
import { RateLimiter } from "./api/rate-limit.js";
import { type AnyRoute, routes, type Services } from "./api/routes.js";
import { type Config, ConfigError } from "./config.js";
import type { Logger } from "./logger.js";
import { ChangeHandler, reschedulePushBacklog } from "./service/changes.js";
import type { ServiceContext } from "./service/context.js";
import { Redriver } from "./service/dead-letters.js";
import type {
  ChangeSource,
  Clock,
  Dispatcher,
  KeyStore,
  LiveEvents,
  MetricsSink,
  QueueStore,
} from "./service/ports.js";
import { PushJobRunner } from "./service/push-jobs.js";
import { InProcessSignals } from "./service/signals.js";
import type { TopicStore } from "./service/topic-ports.js";
import type { TopicContext } from "./service/topics.js";

export const VERSION = "0.1.0";

/** Everything a host serves, built once from the configuration. */
export interface Conveyor<D extends Dispatcher = Dispatcher> {
  routes: readonly AnyRoute[];
  /** Live queue events: this process's own streams, or Web PubSub on Azure. */
  events: LiveEvents;
  handle(route: AnyRoute, request: ApiRequest): Promise<ApiResponse>;
  context: ServiceContext;
  /** What follows a committed change: push jobs, live events, metrics, stats samples. */
  changes: ChangeHandler;
  /** Where push jobs are scheduled: Service Bus on Azure, a SQLite table on the local host. */
  dispatcher: D;
  /** Runs one push job the dispatcher hands over, and schedules again what must run later. */
  pushJobs: PushJobRunner;
  /** The push safety net: gives every due message of every push queue a job; how many. */
  reschedulePushBacklog(): Promise<number>;
  /** Topics: their store and use cases (the change feed and the safety net make pending copies with it). */
  topics: TopicContext;
  /** Removes acked tombstones and topic messages whose dedup window has passed. */
  housekeeping(): Promise<number>;
  /** Continues redrive tasks whose instance stopped, for at most `budgetMs`; how many it took up. */
  resumeRedrives(budgetMs: number): Promise<number>;
  /** Closes what it opened: the store, the dispatcher and the clients. */
  close(): Promise<void>;
}

/** The local host's: its job table runs the push jobs, and the store may stream its own changes. */
export interface LocalConveyor extends Conveyor<SqliteDispatcher> {
  /** The SQLite store's committed changes; undefined on a Cosmos store, which the safety net covers locally. */
  changeSource: ChangeSource | undefined;
}

/** A store as the root opens it; `changeSource` where the store streams its own commits. */
export interface OpenedStore {
  store: QueueStore & KeyStore;
  topics: TopicStore;
  changeSource?: ChangeSource;
}

export interface ConveyorOptions {
  config: Config;
  logger: Logger;
  /** Tests inject a controllable clock; hosts use the system clock. */
  clock?: Clock;
  /** Opens the store instead of the configuration's choice: the crash harness opens a faulty one. */
  openStore?: (config: Config) => OpenedStore | Promise<OpenedStore>;
}

/** The local host's Conveyor: push jobs in the data directory's SQLite job table. */
export function createLocalConveyor(options: ConveyorOptions): Promise<LocalConveyor> {
  return compose(options, async ({ config, logger }) => {
    const dispatcher = new SqliteDispatcher(config.dataDir, logger);
    return { dispatcher, close: () => dispatcher.stop() };
  });
}

/**
 * The Functions app's Conveyor: push jobs as scheduled Service Bus messages.
 * Its change source is the Cosmos DB change feed trigger, not the store.
 */
export function createFunctionsConveyor(options: ConveyorOptions): Promise<Conveyor> {
  return compose(options, async ({ config }) => {
    if (!config.serviceBus) {
      throw new ConfigError(
        "invalid configuration: ServiceBusConnection__fullyQualifiedNamespace is required for push",
      );
    }
    const [{ ServiceBusClient }, { DELIVERIES_QUEUE, ServiceBusDispatcher }] = await Promise.all([
      import("@azure/service-bus"),
      import("./adapters/servicebus/dispatcher.js"),
    ]);
    const client =
      "namespace" in config.serviceBus
        ? new ServiceBusClient(config.serviceBus.namespace, await azureCredential())
        : new ServiceBusClient(config.serviceBus.emulatorConnectionString);
    return {
      dispatcher: new ServiceBusDispatcher(client.createSender(DELIVERIES_QUEUE)),
      close: () => client.close(),
    };
  });
}

type OpenDispatcher<D extends Dispatcher> = (
  options: ConveyorOptions,
) => Promise<{ dispatcher: D; close: () => Promise<void> }>;

/**
 * The composition root: adapters are chosen here, once, from configuration,
 * and wired into the service layer and the HTTP pipeline both hosts share.
 * Only the dispatcher differs by host.
 */
async function compose<D extends Dispatcher>(
  options: ConveyorOptions,
  openDispatcher: OpenDispatcher<D>,
): Promise<Conveyor<D> & { changeSource: ChangeSource | undefined }> {
  const opened = await (options.openStore ?? openStore)(options.config);
  let pushSide: Awaited<ReturnType<OpenDispatcher<D>>> | undefined;
  try {
    pushSide = await openDispatcher(options);
    const conveyor = await assemble(opened, pushSide.dispatcher, options);
    const closeDispatcher = pushSide.close;
    return {
      ...conveyor,
      changeSource: opened.changeSource,
      async close() {
        await conveyor.close();
        await closeDispatcher();
      },
    };
  } catch (error) {
    // A failed start-up is tried again (src/functions/runtime.ts): the next one must find the store free.
    await pushSide?.close();
    await opened.topics.close();
    await opened.store.close();
    throw error;
  }
}

async function assemble<D extends Dispatcher>(
  { store, topics: topicStore }: OpenedStore,
  dispatcher: D,
  { config, logger, clock = systemClock }: ConveyorOptions,
): Promise<Conveyor<D>> {
  // Azure's SDKs load only where they are configured: the local host does without their memory.
  const secrets = config.keyVaultUri
    ? (await import("./adapters/keyvault/secrets.js")).keyVaultSecrets(
        config.keyVaultUri,
        await azureCredential(),
      )
    : fileSecrets(config.dataDir);
  const [pepper, signingMaster] = await Promise.all([secrets.apiKeyPepper(), secrets.pushSigningMaster()]);
  const context: ServiceContext = {
    store,
    keys: store,
    clock,
    signals: new InProcessSignals(),
    random: Math.random,
    hashKeySecret: (secret) => createHmac("sha256", pepper).update(secret).digest("base64url"),
    longPollFallbackMs: config.longPollFallbackMs,
    push: { allowPrivate: config.allowPrivatePush, resolveHost, signingMaster },
  };
  const verifyToken = jwtVerifier({
    issuer: config.jwt.issuers,
    audience: config.jwt.audiences,
    tenantClaim: config.jwt.tenantClaim,
    tenants: config.jwt.tenants,
    key: config.jwt.jwksUri
      ? { jwksUri: config.jwt.jwksUri }
      : { publicKey: (await loadOrCreateSigningKey(config.dataDir)).publicKey },
  });
  const events: LiveEvents = config.webPubSubEndpoint
    ? (await import("./adapters/webpubsub/events.js")).webPubSubEvents(
        config.webPubSubEndpoint,
        await azureCredential(),
        logger,
      )
    : new EventHub();
  const metrics: MetricsSink = config.applicationInsightsConnectionString
    ? (await import("./adapters/appinsights/metrics.js")).applicationInsightsMetrics(
        config.applicationInsightsConnectionString,
        await azureCredential(),
      )
    : { track: (name, value, dimensions) => logger.debug("metric", { name, value, ...dimensions }) };
  let openApi: unknown;
  const redriver = new Redriver(context);
  const topics: TopicContext = { service: context, topics: topicStore, events };
  const services: Services = {
    context,
    events,
    consoleFiles: staticFiles(consoleDirectory()),
    redriver,
    topics,
    async health() {
      try {
        await store.ping();
        return { status: "ok", store: store.kind, version: VERSION };
      } catch {
        return { status: "unavailable", store: store.kind, version: VERSION };
      }
    },
    openApiDocument: () => {
      openApi ??= buildOpenApiDocument(routes);
      return openApi;
    },
  };
  const handle = createPipeline({
    services,
    verifyToken,
    rateLimiter: config.rateLimit ? new RateLimiter(config.rateLimit) : undefined,
    isUnavailable: (error) => store.isUnavailable(error),
    logger,
  });
  return {
    routes,
    events,
    handle,
    context,
    changes: new ChangeHandler(context, {
      dispatcher,
      metrics,
      events,
      backlogAlertSeconds: config.backlogAlertSeconds,
    }),
    dispatcher,
    pushJobs: new PushJobRunner(context, sendWebhook, dispatcher),
    reschedulePushBacklog: () => reschedulePushBacklog(context, dispatcher),
    topics,
    housekeeping: async () =>
      (await store.removeExpiredTombstones(clock.now())) +
      (await topicStore.removeExpiredTopicMessages(clock.now())),
    resumeRedrives: (budgetMs) => redriver.resume(budgetMs),
    async close() {
      await redriver.close();
      await topicStore.close();
      await store.close();
    },
  };
}

let credential: Promise<TokenCredential> | undefined;

/** The app's managed identity on Azure; the developer's az/azd login elsewhere. */
export function azureCredential(): Promise<TokenCredential> {
  credential ??= import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
  return credential;
}

/**
 * How long a request waits on Cosmos DB before the API answers 429 or 503.
 * The SDK's defaults (@azure/cosmos ConnectionPolicy and RetryOptions,
 * https://learn.microsoft.com/javascript/api/@azure/cosmos/connectionpolicy
 * and https://learn.microsoft.com/javascript/api/@azure/cosmos/retryoptions:
 * `maxRetryAttemptCount`, "Max number of retries to be performed for a
 * request. Default value 9") wait 60 s for a silent network peer and retry
 * throttled requests for up to 30 s. The store's own helpers
 * (src/adapters/cosmos/resilience.ts) retry 429s within a budget of about
 * 5 s and then answer with the server's Retry-After, so the SDK's 429
 * retries are off: two retry loops nested would multiply the wait and hide
 * the hint. A point operation takes milliseconds, so 10 s is generous.
 */
const COSMOS_CONNECTION_POLICY = {
  requestTimeout: 10_000,
  retryOptions: { maxRetryAttemptCount: 0 },
};

/**
 * The SQLite store streams its own commits (that stream is its change
 * source), and its topics live in the same file and commit with it.
 */
export const sqliteStore = (store: SqliteStore): OpenedStore => ({
  store,
  topics: new SqliteTopicStore(store),
  changeSource: store,
});

async function cosmosClient(cosmos: NonNullable<Config["cosmos"]>) {
  const { CosmosClient } = await import("@azure/cosmos");
  return new CosmosClient({
    endpoint: cosmos.endpoint,
    connectionPolicy: { ...COSMOS_CONNECTION_POLICY, enableEndpointDiscovery: !cosmos.emulatorKey },
    ...(cosmos.emulatorKey ? { key: cosmos.emulatorKey } : { aadCredentials: await azureCredential() }),
  });
}

/** Queues and topics in one Cosmos DB database, through one client (both stores retry through resilience.ts). */
async function openStore(config: Config): Promise<OpenedStore> {
  if (config.store === "sqlite") return sqliteStore(new SqliteStore({ dataDir: config.dataDir }));
  const cosmos = config.cosmos as NonNullable<Config["cosmos"]>;
  const [{ CosmosStore }, { CosmosTopicStore }] = await Promise.all([
    import("./adapters/cosmos/store.js"),
    import("./adapters/cosmos/topics.js"),
  ]);
  const client = await cosmosClient(cosmos);
  if (cosmos.createContainers) await CosmosStore.ensureContainers(client, cosmos.databaseId);
  return {
    store: new CosmosStore({ client, databaseId: cosmos.databaseId }),
    topics: new CosmosTopicStore({ client, databaseId: cosmos.databaseId }),
  };
}
