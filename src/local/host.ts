import { resolve } from "node:path";
import { type ConveyorOptions, createLocalConveyor } from "../app.js";
import { ConfigError, DEFAULT_DATA_DIR, loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { startLocalPush } from "./push.js";
import { startLocalHost } from "./server.js";

/** Starts the local host with its banner and signal handling; `openStore` only from the crash harness. */
export async function runLocalHost(options: Pick<ConveyorOptions, "openStore"> = {}): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const conveyor = await createLocalConveyor({ config, logger, ...options });
  const push = startLocalPush(conveyor, { logger });
  const host = await startLocalHost(conveyor, {
    host: config.host,
    port: config.port,
    logger,
    connections: config.connections,
    beforeClose: () => push.stop(),
  });
  const housekeeping = setInterval(() => {
    conveyor
      .housekeeping()
      .catch((error: unknown) => logger.warn("housekeeping failed", { error: String(error) }));
  }, 60_000);
  housekeeping.unref();

  process.stdout.write(
    [
      "",
      `Conveyor is listening on ${host.url}`,
      `  data directory  ${config.dataDir} (SQLite, WAL, synchronous=FULL)`,
      `  API document    ${host.url}/v1/openapi.json`,
      `  get a token     ${tokenCommand(config.dataDir)}`,
      "  stop            Ctrl+C",
      "",
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    clearInterval(housekeeping);
    host
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error("shutdown failed", { error: String(error) });
        process.exit(1);
      });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/** The token command for this server: a token signed with another data directory's key would be refused. */
function tokenCommand(dataDir: string): string {
  const command = "npm run --silent token -- --tenant demo --roles admin";
  return dataDir === resolve(DEFAULT_DATA_DIR)
    ? command
    : `CONVEYOR_DATA_DIR=${JSON.stringify(dataDir)} ${command}`;
}

/** Runs `start` and turns a start-up failure into one plain line and exit code 1. */
export function startOrExit(start: () => Promise<void>): void {
  start().catch((error: unknown) => {
    const message =
      error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
    process.stderr.write(`conveyor: could not start: ${message}\n`);
    process.exit(1);
  });
}
