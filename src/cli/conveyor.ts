#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { ConveyorApiError, ConveyorError } from "../client/index.js";
import { ConfigError } from "../config.js";
import { addCompletionCommand } from "./completion.js";
import { addDeadLetterCommands } from "./dlq.js";
import { CliError, EXIT, note } from "./io.js";
import { addMessageCommands } from "./messages.js";
import { addQueueCommands } from "./queues.js";
import { addTokenCommand } from "./token.js";
import { addTopicCommands } from "./topics.js";

/**
 * The `conveyor` command line: local development tokens, and every queue
 * operation against any Conveyor (local or Azure) through the typed client.
 * Exit codes are `EXIT` in io.ts.
 */

/** The version in Conveyor's package.json, found upward from this file (built or not). */
function packageVersion(): string {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    const file = new URL("package.json", dir);
    if (!existsSync(file)) continue;
    const found = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (found.name === "conveyor" && found.version) return found.version;
  }
  return "unknown";
}

export function buildProgram(): Command {
  const program = new Command("conveyor")
    .description(
      "Conveyor's command line: queues, messages, dead letters, topics and local development tokens",
    )
    .version(packageVersion())
    .addOption(
      new Option("--url <url>", "the Conveyor to talk to")
        .env("CONVEYOR_URL")
        .default("http://127.0.0.1:7071"),
    )
    .addOption(new Option("--token <token>", "a bearer token or API key").env("CONVEYOR_TOKEN"))
    .option("--json", "JSON lines, as when stdout is not a terminal (default on a terminal: tables)")
    .showHelpAfterError()
    .exitOverride();
  addTokenCommand(program);
  addQueueCommands(program);
  addMessageCommands(program);
  addDeadLetterCommands(program);
  addTopicCommands(program);
  addCompletionCommand(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the problem (or the help) already.
      return error.code === "commander.helpDisplayed" ||
        error.code === "commander.help" ||
        error.exitCode === 0
        ? 0
        : EXIT.usage;
    }
    if (error instanceof CliError) {
      note(`conveyor: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof ConveyorApiError) {
      note(`conveyor: ${error.code} (HTTP ${error.status}): ${error.problem?.detail ?? error.message}`);
      return EXIT.refused;
    }
    if (error instanceof ConfigError) {
      note(`conveyor: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof ConveyorError) {
      // No answer at all; the message names the URL and why (ECONNREFUSED, a timeout).
      note(`conveyor: ${error.message}`);
      return EXIT.unreachable;
    }
    note(`conveyor: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.refused;
  }
}

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
