import type { Command } from "commander";
import { allPages, CliError, client, EXIT, note, printOne, printRows, requireYes } from "./io.js";
import { addSendCommand } from "./messages.js";

/** `conveyor topics ...`, `conveyor subscribe` and `conveyor publish` (docs/api.md "Topics and subscriptions"). */
export function addTopicCommands(program: Command): void {
  const topics = program.command("topics").description("create, list, show and delete topics");
  topics
    .command("create <name>")
    .description("create a topic (admin)")
    .option("--dedup-window <seconds>", "how long a deduplicationId or Idempotency-Key deduplicates")
    .action(async (name: string, options: { dedupWindow?: string }, command: Command) => {
      const window = options.dedupWindow === undefined ? undefined : Number(options.dedupWindow);
      if (window !== undefined && !Number.isInteger(window)) {
        throw new CliError("--dedup-window must be a whole number of seconds", EXIT.usage);
      }
      printOne(
        command,
        await client(command).topics.create({
          name,
          ...(window !== undefined ? { deduplicationWindowSeconds: window } : {}),
        }),
      );
    });
  topics
    .command("list")
    .description("the topics you hold a grant on")
    .action(async (_options: unknown, command: Command) => {
      const api = client(command);
      const all = await allPages((page) => api.topics.list(page));
      printRows(command, all, ["name", "deduplicationWindowSeconds", "createdAt"], "no topics");
    });
  topics
    .command("show <name>")
    .description("a topic with its stats, and its subscriptions with their filters and counts")
    .action(async (name: string, _options: unknown, command: Command) => {
      const { subscriptions, ...topic } = await client(command).topics.get(name);
      printOne(command, topic);
      printRows(
        command,
        subscriptions.map((sub) => ({
          subscription: sub.name,
          queue: sub.queue,
          filter: sub.filter === null ? "(all)" : JSON.stringify(sub.filter),
          delivered: sub.stats.deliveredTotal,
          undeliverable: sub.stats.undeliverableTotal,
          lastError: sub.stats.lastError ?? "",
        })),
        ["subscription", "queue", "filter", "delivered", "undeliverable", "lastError"],
        "no subscriptions",
      );
    });
  topics
    .command("delete <name>")
    .description("delete a topic and its subscriptions (the queues keep what they hold)")
    .option("--yes", "really delete it")
    .action(async (name: string, options: { yes?: boolean }, command: Command) => {
      requireYes(options, `deleting topic "${name}" removes its subscriptions`);
      await client(command).topics.delete(name);
      note(`deleted topic ${name}`);
    });

  program
    .command("subscribe <topic> <name>")
    .description("create or replace a subscription: copies of the topic's matching messages go to --queue")
    .requiredOption("--queue <queue>", "the queue that receives the copies")
    .option("--filter <json>", 'e.g. {"attributes":{"type":["order.created"]}}; none matches every message')
    .action(
      async (topic: string, name: string, options: { queue: string; filter?: string }, command: Command) => {
        let filter: unknown;
        if (options.filter !== undefined) {
          try {
            filter = JSON.parse(options.filter);
          } catch (error) {
            throw new CliError(`--filter is not JSON: ${(error as Error).message}`, EXIT.usage);
          }
        }
        const { created, ...subscription } = await client(command).topics.subscribe(topic, name, {
          queue: options.queue,
          ...(filter !== undefined ? { filter } : {}),
        });
        note(created ? `subscribed ${name}` : `replaced ${name}`);
        printOne(command, subscription);
      },
    );
  program
    .command("unsubscribe <topic> <name>")
    .description("delete a subscription: later messages no longer reach its queue")
    .action(async (topic: string, name: string, _options: unknown, command: Command) => {
      await client(command).topics.unsubscribe(topic, name);
      note(`unsubscribed ${name}`);
    });

  addSendCommand(program, {
    usage: "publish <topic> [body]",
    description:
      "publish a message to every matching subscription: the body argument, a --file, or stdin; " +
      "with --lines one message per line",
    one: (api, topic, message) => api.topics.publish(topic, message),
    batch: (api, topic, messages) => api.topics.publishBatch(topic, messages),
  });
}
