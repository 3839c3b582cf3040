import { resolve } from "node:path";
import { z } from "zod";

export const DEFAULT_DATA_DIR = ".conveyor";

const flag = z.enum(["on", "off", "true", "false"]).transform((value) => value === "on" || value === "true");
/** A comma-separated list: one setting can name an Entra API's client id and its App ID URI, say. */
const commaList = (item: z.ZodString | z.ZodURL) =>
  z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part !== ""),
    )
    .pipe(z.array(item).min(1));

/**
 * Every setting Conveyor reads, validated once at start-up. A missing or
 * malformed setting stops start-up with a message naming it.
 */
const settings = z.object({
  CONVEYOR_STORE: z.enum(["sqlite", "cosmos"]).default("sqlite"),
  CONVEYOR_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  CONVEYOR_HOST: z.string().min(1).default("127.0.0.1"),
  CONVEYOR_PORT: z.coerce.number().int().min(0).max(65_535).default(7071),
  CONVEYOR_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  CONVEYOR_RATE_LIMIT: flag.default(true),
  CONVEYOR_RATE_LIMIT_RPS: z.coerce.number().positive().default(1000),
  CONVEYOR_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(2000),
  // Entra ID: the v2.0 and v1.0 issuers, `{tenantid}` standing for the token's `tid` (docs/deploy.md).
  CONVEYOR_JWT_ISSUER: commaList(z.string().min(1)).default(["conveyor-local"]),
  CONVEYOR_JWT_AUDIENCE: commaList(z.string().min(1)).default(["conveyor"]),
  CONVEYOR_JWT_JWKS_URI: commaList(z.url()).optional(),
  CONVEYOR_JWT_TENANT_CLAIM: z.string().min(1).default("tid"),
  /** Only these tenants' tokens pass; unset admits every tenant the issuers do. */
  CONVEYOR_JWT_TENANTS: commaList(z.string().min(1)).optional(),
  /** The local host's connection caps: in all, and from one client address. */
  CONVEYOR_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(4096),
  CONVEYOR_MAX_CONNECTIONS_PER_CLIENT: z.coerce.number().int().min(1).default(512),
  CONVEYOR_LONG_POLL_FALLBACK_MS: z.coerce.number().int().min(50).max(20_000).default(5000),
  // Identity-based names, as the Functions Cosmos DB trigger reads them.
  COSMOS__accountEndpoint: z.url().optional(),
  COSMOS_DATABASE: z.string().min(1).default("conveyor"),
  /** Only for an emulator or local test server: production uses the managed identity. */
  COSMOS_EMULATOR_KEY: z.string().min(1).optional(),
  COSMOS_CREATE_CONTAINERS: flag.default(false),
  KEY_VAULT_URI: z.url().optional(),
  CONVEYOR_ALLOW_PRIVATE_PUSH: flag.default(false),
  // Identity-based, as the Functions Service Bus trigger reads it; where push jobs go on Azure.
  ServiceBusConnection__fullyQualifiedNamespace: z.string().min(1).optional(),
  /** Only for the Service Bus emulator, which takes a connection string; Azure uses the namespace and the identity. */
  ServiceBusConnection: z.string().min(1).optional(),
  APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().min(1).optional(),
  /** Live events through Azure Web PubSub (managed identity); the local host streams them itself when unset. */
  WEB_PUBSUB_ENDPOINT: z.url().optional(),
  /** A queue whose oldest available message is older than this raises a queue.backlog event. */
  CONVEYOR_BACKLOG_ALERT_SECONDS: z.coerce.number().int().min(1).default(300),
});

/** The name of every environment setting Conveyor reads (the infrastructure tests check the templates set them). */
export const SETTING_NAMES: readonly string[] = Object.keys(settings.shape);

export interface Config {
  store: "sqlite" | "cosmos";
  dataDir: string;
  host: string;
  port: number;
  logLevel: "debug" | "info" | "warn" | "error";
  rateLimit: { ratePerSecond: number; burst: number } | undefined;
  jwt: {
    /** What the local host's own tokens carry: the first accepted issuer and audience. */
    issuer: string;
    audience: string;
    issuers: string[];
    audiences: string[];
    jwksUri: string[] | undefined;
    tenantClaim: string;
    tenants: string[] | undefined;
  };
  longPollFallbackMs: number;
  connections: { total: number; perClient: number };
  cosmos:
    | { endpoint: string; databaseId: string; emulatorKey: string | undefined; createContainers: boolean }
    | undefined;
  /** Secrets from this vault; from the data directory when unset. */
  keyVaultUri: string | undefined;
  /** Push to private and loopback addresses too (a local host only; never link-local or metadata). */
  allowPrivatePush: boolean;
  /** Where push jobs go: a namespace (identity) on Azure, or an emulator's connection string. */
  serviceBus: { namespace: string } | { emulatorConnectionString: string } | undefined;
  applicationInsightsConnectionString: string | undefined;
  webPubSubEndpoint: string | undefined;
  backlogAlertSeconds: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = settings.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== "")),
  );
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
      .join("; ");
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const v = parsed.data;
  if (v.CONVEYOR_STORE === "cosmos" && !v.COSMOS__accountEndpoint) {
    throw new ConfigError(
      "invalid configuration: COSMOS__accountEndpoint is required when CONVEYOR_STORE=cosmos",
    );
  }
  return {
    store: v.CONVEYOR_STORE,
    dataDir: resolve(v.CONVEYOR_DATA_DIR),
    host: v.CONVEYOR_HOST,
    port: v.CONVEYOR_PORT,
    logLevel: v.CONVEYOR_LOG_LEVEL,
    rateLimit: v.CONVEYOR_RATE_LIMIT
      ? { ratePerSecond: v.CONVEYOR_RATE_LIMIT_RPS, burst: v.CONVEYOR_RATE_LIMIT_BURST }
      : undefined,
    jwt: {
      issuer: v.CONVEYOR_JWT_ISSUER[0] as string,
      audience: v.CONVEYOR_JWT_AUDIENCE[0] as string,
      issuers: v.CONVEYOR_JWT_ISSUER,
      audiences: v.CONVEYOR_JWT_AUDIENCE,
      jwksUri: v.CONVEYOR_JWT_JWKS_URI,
      tenantClaim: v.CONVEYOR_JWT_TENANT_CLAIM,
      tenants: v.CONVEYOR_JWT_TENANTS,
    },
    longPollFallbackMs: v.CONVEYOR_LONG_POLL_FALLBACK_MS,
    connections: { total: v.CONVEYOR_MAX_CONNECTIONS, perClient: v.CONVEYOR_MAX_CONNECTIONS_PER_CLIENT },
    cosmos: v.COSMOS__accountEndpoint
      ? {
          endpoint: v.COSMOS__accountEndpoint,
          databaseId: v.COSMOS_DATABASE,
          emulatorKey: v.COSMOS_EMULATOR_KEY,
          createContainers: v.COSMOS_CREATE_CONTAINERS,
        }
      : undefined,
    keyVaultUri: v.KEY_VAULT_URI,
    allowPrivatePush: v.CONVEYOR_ALLOW_PRIVATE_PUSH,
    serviceBus: v.ServiceBusConnection
      ? { emulatorConnectionString: v.ServiceBusConnection }
      : v.ServiceBusConnection__fullyQualifiedNamespace
        ? { namespace: v.ServiceBusConnection__fullyQualifiedNamespace }
        : undefined,
    applicationInsightsConnectionString: v.APPLICATIONINSIGHTS_CONNECTION_STRING,
    webPubSubEndpoint: v.WEB_PUBSUB_ENDPOINT,
    backlogAlertSeconds: v.CONVEYOR_BACKLOG_ALERT_SECONDS,
  };
}
