#!/usr/bin/env node
import { parseArgs } from "node:util";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { ConfigError, loadConfig } from "../config.js";

const USAGE = `Usage: conveyor token --tenant <tenant> [--roles admin[,role...]] [--sub <subject>] [--ttl <seconds>]

Prints one development token for the local host, signed with the key in
CONVEYOR_DATA_DIR (default ./.conveyor), and nothing else on stdout.
`;

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      tenant: { type: "string" },
      roles: { type: "string", default: "" },
      sub: { type: "string" },
      ttl: { type: "string", default: "3600" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const ttlSeconds = Number(values.ttl);
  if (!values.tenant) return usageError("--tenant is required");
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
    return usageError("--ttl must be a positive whole number of seconds");
  const config = loadConfig();
  const key = await loadOrCreateSigningKey(config.dataDir);
  const roles = values.roles
    .split(",")
    .map((role) => role.trim())
    .filter(Boolean);
  const jwt = await signDevToken(key, {
    tenant: values.tenant,
    subject: values.sub ?? `dev:${values.tenant}`,
    roles,
    ttlSeconds,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
  });
  process.stdout.write(`${jwt}\n`);
  return 0;
}

function usageError(message: string): number {
  process.stderr.write(`conveyor: ${message}\n\n${USAGE}`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "token":
      return token(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return usageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`conveyor: ${message}\n`);
    process.exitCode = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
  },
);
