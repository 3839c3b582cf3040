import type { Command } from "commander";
import { loadSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { loadConfig } from "../config.js";
import { CliError, EXIT, integer } from "./io.js";

export function addTokenCommand(program: Command): void {
  program
    .command("token")
    .description("print one development token for the local host, signed with the key in CONVEYOR_DATA_DIR")
    .requiredOption("--tenant <tenant>", "the tenant the token is for")
    .option("--roles <roles>", "comma-separated app roles, e.g. admin", "")
    .option("--sub <subject>", "the subject (default dev:<tenant>)")
    .option("--ttl <seconds>", "how long it is valid", integer("--ttl", 1), 3600)
    .action(async (options: { tenant: string; roles: string; sub?: string; ttl: number }) => {
      const config = loadConfig();
      // A token signed with a key the server does not use only fails later, with a bare signature error.
      const key = await loadSigningKey(config.dataDir);
      if (!key) {
        throw new CliError(
          `no signing key in ${config.dataDir}: start Conveyor there first (npm start), ` +
            "or set CONVEYOR_DATA_DIR to the data directory of the server the token is for",
          EXIT.usage,
        );
      }
      const token = await signDevToken(key, {
        tenant: options.tenant,
        subject: options.sub ?? `dev:${options.tenant}`,
        roles: options.roles
          .split(",")
          .map((role) => role.trim())
          .filter(Boolean),
        ttlSeconds: options.ttl,
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
      });
      process.stdout.write(`${token}\n`);
    });
}
