import type { Command } from "commander";
import type { CreateQueueRequest, UpdateQueueRequest } from "../client/index.js";
import { allPages, CliError, client, EXIT, integer, note, printOne, printRows, requireYes } from "./io.js";

function settingsFrom(options: Record<string, unknown>): UpdateQueueRequest {
  let settings: Record<string, unknown> = {};
  if (options.settings !== undefined) {
    try {
      settings = JSON.parse(String(options.settings)) as Record<string, unknown>;
    } catch (error) {
      throw new CliError(`--settings is not JSON: ${(error as Error).message}`, EXIT.usage);
    }
    if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
      throw new CliError("--settings must be a JSON object of queue settings", EXIT.usage);
    }
  }
  if (options.visibilityTimeout !== undefined) settings.visibilityTimeoutSeconds = options.visibilityTimeout;
  if (options.maxDeliveries !== undefined) settings.maxDeliveries = options.maxDeliveries;
  if (options.ttl !== undefined) settings.messageTtlSeconds = options.ttl;
  if (options.pushUrl !== undefined) settings.push = { url: options.pushUrl };
  return settings as UpdateQueueRequest;
}

const withSettings = (command: Command) =>
  command
    .option("--visibility-timeout <seconds>", "the lease length", integer("--visibility-timeout", 1))
    .option("--max-deliveries <n>", "deliveries before dead-lettering", integer("--max-deliveries", 1))
    .option("--ttl <seconds>", "message time to live", integer("--ttl", 1))
    .option("--push-url <url>", "deliver messages to this webhook")
    .option("--settings <json>", "any other settings, as the API's JSON object");

export function addQueueCommands(program: Command): void {
  const queues = program.command("queues").description("create, list, show, update and delete queues");
  withSettings(
    queues
      .command("create <name>")
      .description("create a queue (prints it, with the push signing secret once)")
      .option("--fifo", "strict order per group"),
  ).action(async (name: string, options: Record<string, unknown>, command: Command) => {
    const request = { name, ordering: options.fifo ? "fifo" : "standard", ...settingsFrom(options) };
    printOne(command, await client(command).createQueue(request as CreateQueueRequest));
  });
  queues
    .command("list")
    .description("the queues you hold a grant on")
    .action(async (_options: unknown, command: Command) => {
      const api = client(command);
      const all = await allPages((page) => api.listQueues(page));
      printRows(command, all, ["name", "ordering", "visibilityTimeoutSeconds", "maxDeliveries"], "no queues");
    });
  queues
    .command("show <name>")
    .description("a queue with its stats")
    .action(async (name: string, _options: unknown, command: Command) =>
      printOne(command, await client(command).getQueue(name)),
    );
  withSettings(queues.command("update <name>").description("change a queue's settings")).action(
    async (name: string, options: Record<string, unknown>, command: Command) => {
      printOne(command, await client(command).updateQueue(name, settingsFrom(options)));
    },
  );
  queues
    .command("delete <name>")
    .description("delete a queue with its messages and dead letters")
    .option("--yes", "really delete it")
    .action(async (name: string, options: { yes?: boolean }, command: Command) => {
      requireYes(options, `deleting "${name}" removes all its messages`);
      await client(command).deleteQueue(name);
      note(`deleted ${name}`);
    });

  program
    .command("stats <queue>")
    .description("a queue's counts and totals")
    .action(async (queue: string, _options: unknown, command: Command) =>
      printOne(command, await client(command).stats(queue)),
    );
}
