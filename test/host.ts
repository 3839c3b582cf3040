import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { loadOrCreateSigningKey, signDevToken } from "../src/adapters/files/local-secrets.js";
import { createLocalConveyor, type LocalConveyor } from "../src/app.js";
import { ConveyorApiError, ConveyorClient } from "../src/client/index.js";
import { loadConfig } from "../src/config.js";
import { startLocalPush } from "../src/local/push.js";
import { startLocalHost } from "../src/local/server.js";
import { createLogger } from "../src/logger.js";
import type { Clock } from "../src/service/ports.js";
import { checkAnswers } from "./contract-check.js";
import { cosmosHostEnv } from "./cosmos-server.js";

/** Real time plus an offset that a test can move forward, for TTLs and lease expiry without sleeping. */
export class OffsetClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

export interface TestHost {
  url: string;
  routeTable: { method: string; path: string }[];
  dataDir: string;
  conveyor: LocalConveyor;
  clock: OffsetClock;
  /** A development token for a tenant, signed as `conveyor token` signs it. */
  token(tenant: string, options?: { roles?: string[]; sub?: string; ttlSeconds?: number }): Promise<string>;
  client(token?: string): ConveyorClient;
  /** An admin client of a fresh tenant. */
  admin(tenant?: string): Promise<ConveyorClient>;
  /** A development token of an admin of `tenant`, and a client that sends it. */
  adminSession(tenant: string): Promise<{ token: string; client: ConveyorClient }>;
  close(): Promise<void>;
}

let tenants = 0;

/** The real local host on a free loopback port with its own data directory. */
export async function startTestHost(env: Record<string, string> = {}): Promise<TestHost> {
  const dataDir = mkdtempSync(join(tmpdir(), "conveyor-e2e-"));
  const config = loadConfig({
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_LOG_LEVEL: "warn",
    ...env,
  });
  const logger = createLogger(config.logLevel);
  const clock = new OffsetClock();
  const conveyor = await createLocalConveyor({ config, logger, clock });
  const answers = checkAnswers(conveyor);
  const push = startLocalPush(conveyor, { logger });
  const host = await startLocalHost(conveyor, {
    host: "127.0.0.1",
    port: 0,
    logger,
    connections: config.connections,
    beforeClose: () => push.stop(),
  });
  const key = await loadOrCreateSigningKey(dataDir);
  const token: TestHost["token"] = (tenant, options = {}) =>
    signDevToken(key, {
      tenant,
      subject: options.sub ?? `user:${tenant}`,
      roles: options.roles ?? [],
      ttlSeconds: options.ttlSeconds ?? 600,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
    });
  const client = (bearer?: string) => new ConveyorClient({ baseUrl: host.url, token: bearer });
  const adminSession: TestHost["adminSession"] = async (tenant) => {
    const bearer = await token(tenant, { roles: ["admin"] });
    return { token: bearer, client: client(bearer) };
  };
  return {
    url: host.url,
    routeTable: host.routeTable,
    dataDir,
    conveyor,
    clock,
    token,
    client,
    async admin(tenant = `tenant-${++tenants}-${process.pid}`) {
      return (await adminSession(tenant)).client;
    },
    adminSession,
    async close() {
      await host.close();
      if (answers.violations.length > 0) {
        throw new Error(
          `answers that break their routes' contract:\n${[...new Set(answers.violations)].join("\n")}`,
        );
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A test host on SQLite or on the Cosmos DB test server, with an admin client of a fresh tenant. */
export async function startHostOn(
  store: "sqlite" | "cosmos",
): Promise<{ host: TestHost; client: ConveyorClient }> {
  const host = await startTestHost(store === "cosmos" ? await cosmosHostEnv() : {});
  return { host, client: await host.admin() };
}

/**
 * A test host on `store` for the tests of the `describe` block that calls
 * this: started before them, with an admin client of a fresh tenant, and
 * closed after. Its fields are set once the tests run.
 */
export function hostForSuite(store: "sqlite" | "cosmos"): { host: TestHost; client: ConveyorClient } {
  const suite = {} as { host: TestHost; client: ConveyorClient };
  beforeAll(async () => {
    Object.assign(suite, await startHostOn(store));
  });
  afterAll(() => suite.host.close());
  return suite;
}

/** The `ConveyorApiError` a client call fails with; the test fails if it succeeds or throws anything else. */
export async function apiError(call: Promise<unknown>): Promise<ConveyorApiError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ConveyorApiError);
  return error as ConveyorApiError;
}
