import { createHmac } from "node:crypto";
import type { TokenCredential } from "@azure/identity";
import { fileSecrets, loadOrCreateSigningKey } from "./adapters/files/local-secrets.js";
import { consoleDirectory, staticFiles } from "./adapters/files/static-files.js";
import { resolveHost } from "./adapters/http/webhook-sender.js";
import { EventHub } from "./adapters/memory/event-hub.js";
import type { CommitFaults } from "./adapters/sqlite/group-commit.js";
import { SqliteStore } from "./adapters/sqlite/store.js";
import { SqliteTopicStore } from "./adapters/sqlite/topics.js";
import { systemClock } from "./adapters/system/clock.js";
import { jwtVerifier } from "./api/auth.js";
import type { ApiRequest, ApiResponse } from "./api/http.js";
import { buildOpenApiDocument } from "./api/openapi.js";
import { createPipeline } from "./api/pipeline.js";
import { RateLimiter } from "./api/rate-limit.js";
import { type AnyRoute, routes, type Services } from "./api/routes.js";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import type { ServiceContext } from "./service/context.js";
import { Redriver } from "./service/dead-letters.js";
import type { Clock, KeyStore, LiveEvents, QueueStore } from "./service/ports.js";
import { InProcessSignals } from "./service/signals.js";
import type { TopicStore } from "./service/topic-ports.js";
import type { TopicContext } from "./service/topics.js";

export const VERSION = "0.1.0";

export interface Conveyor {
  routes: readonly AnyRoute[];
  /** Live queue events: this process's own streams, or Web PubSub on Azure. */
  events: LiveEvents;
  /** The age of the oldest available message above which a queue.backlog event is raised. */
  backlogAlertSeconds: number;
  handle(route: AnyRoute, request: ApiRequest): Promise<ApiResponse>;
  context: ServiceContext;
  /** Removes acked tombstones and topic messages whose dedup window has passed. */
  housekeeping(): Promise<number>;
  /** Continues redrive tasks whose instance stopped, for at most `budgetMs`; how many it took up. */
  resumeRedrives(budgetMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface ConveyorOptions {
  config: Config;
  logger: Logger;
  /** Tests inject a controllable clock; hosts use the system clock. */
  clock?: Clock;
  /** The crash harness injects store faults; hosts never do. */
  storeFaults?: CommitFaults;
}

/**
 * The composition root: adapters are chosen here, once, from configuration,
 * and wired into the service layer and the HTTP pipeline both hosts share.
 */
export async function createConveyor(options: ConveyorOptions): Promise<Conveyor> {
  const store = await openStore(options.config, options.storeFaults);
  try {
    return await assemble(store, options);
  } catch (error) {
    // A failed start-up is tried again (src/functions/runtime.ts): the next one must find the store free.
    await store.close();
    throw error;
  }
}

async function assemble(
  store: QueueStore & KeyStore,
  { config, logger, clock = systemClock }: ConveyorOptions,
): Promise<Conveyor> {
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
  let openApi: unknown;
  const redriver = new Redriver(context);
  const topicStore = await openTopicStore(config, store);
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
    backlogAlertSeconds: config.backlogAlertSeconds,
    handle,
    context,
    housekeeping: async () =>
      (await store.removeExpiredTombstones(clock.now())) +
      (await topicStore.removeExpiredTopicMessages(clock.now())),
    resumeRedrives: (budgetMs) => redriver.resume(budgetMs),
    async close() {
      await redriver.close();
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
 * How long a request waits on Cosmos DB before the API answers 503. The
 * SDK's defaults (@azure/cosmos ConnectionPolicy and RetryOptions,
 * https://learn.microsoft.com/javascript/api/@azure/cosmos/connectionpolicy
 * and .../retryoptions) wait 60 s for a silent network peer and retry
 * throttled requests for up to 30 s; a client is better served by a 503
 * with Retry-After well before its own timeout. A point operation takes
 * milliseconds, so 10 s is generous.
 */
const COSMOS_CONNECTION_POLICY = {
  requestTimeout: 10_000,
  retryOptions: { maxWaitTimeInSeconds: 10 },
};

/** Topics live beside the queues: in the same SQLite file, or in the same Cosmos DB database. */
async function openTopicStore(config: Config, store: QueueStore): Promise<TopicStore> {
  if (store instanceof SqliteStore) return new SqliteTopicStore(store);
  const cosmos = config.cosmos as NonNullable<Config["cosmos"]>;
  const { CosmosTopicStore } = await import("./adapters/cosmos/topics.js");
  return new CosmosTopicStore({ client: await cosmosClient(cosmos), databaseId: cosmos.databaseId });
}

async function cosmosClient(cosmos: NonNullable<Config["cosmos"]>) {
  const { CosmosClient } = await import("@azure/cosmos");
  return new CosmosClient({
    endpoint: cosmos.endpoint,
    connectionPolicy: { ...COSMOS_CONNECTION_POLICY, enableEndpointDiscovery: !cosmos.emulatorKey },
    ...(cosmos.emulatorKey ? { key: cosmos.emulatorKey } : { aadCredentials: await azureCredential() }),
  });
}

async function openStore(config: Config, faults: CommitFaults | undefined): Promise<QueueStore & KeyStore> {
  if (config.store === "sqlite")
    return new SqliteStore({ dataDir: config.dataDir, ...(faults ? { faults } : {}) });
  const cosmos = config.cosmos as NonNullable<Config["cosmos"]>;
  const { CosmosStore } = await import("./adapters/cosmos/store.js");
  const client = await cosmosClient(cosmos);
  if (cosmos.createContainers) await CosmosStore.ensureContainers(client, cosmos.databaseId);
  return new CosmosStore({ client, databaseId: cosmos.databaseId });
}
