import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { createLocalConveyor } from "../app.js";
import { ConveyorClient } from "../client/index.js";
import { loadConfig } from "../config.js";
import { startLocalHost } from "../local/server.js";
import { createLogger } from "../logger.js";

/**
 * The local host a dev tool measures through, in this process: on a free
 * loopback port, with its own data directory (named by `tenant`), no rate
 * limit and errors only in the log, so the tool's own load is all it sees;
 * `api` holds an admin token of that directory's signing key, and `close`
 * stops the host and removes the directory.
 */
export async function startToolHost(
  tenant: string,
  env: Record<string, string>,
): Promise<{ api: ConveyorClient; close: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), `conveyor-${tenant}-`));
  const config = loadConfig({
    ...env,
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_RATE_LIMIT: "off",
    CONVEYOR_LOG_LEVEL: "error",
  });
  const logger = createLogger(config.logLevel);
  const conveyor = await createLocalConveyor({ config, logger });
  const host = await startLocalHost(conveyor, {
    host: "127.0.0.1",
    port: 0,
    logger,
    connections: config.connections,
  });
  const token = await signDevToken(await loadOrCreateSigningKey(dataDir), {
    tenant,
    subject: tenant,
    roles: ["admin"],
    ttlSeconds: 3600,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
  });
  return {
    api: new ConveyorClient({ baseUrl: host.url, token }),
    close: async () => {
      await host.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
