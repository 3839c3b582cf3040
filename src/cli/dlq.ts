import type { Command } from "commander";
import type { MessageView } from "../client/index.js";
import { CliError, client, EXIT, integer, pause, printOne, printRows, progress, requireYes } from "./io.js";

export function addDeadLetterCommands(program: Command): void {
  const dlq = program.command("dlq").description("browse, redrive and purge dead letters");
  dlq
    .command("list <queue>")
    .description("dead letters, oldest first")
    .option("--limit <n>", "at most this many", integer("--limit", 1), 100)
    .action(async (queue: string, options: { limit: number }, command: Command) => {
      const api = client(command);
      const all: MessageView[] = [];
      let cursor: string | undefined;
      do {
        const page = await api.deadLetters(queue, {
          limit: Math.min(1000, options.limit - all.length),
          cursor,
        });
        all.push(...page.messages);
        cursor = page.nextCursor;
      } while (cursor && all.length < options.limit);
      printRows(
        command,
        all,
        ["messageId", "deadLetteredAt", "reason", "deliveryCount", "lastError"],
        `no dead letters in ${queue}`,
      );
    });
  dlq
    .command("redrive <queue> [ids...]")
    .description("return dead letters to the queue: the given ids, or --all")
    .option("--all", "every dead letter")
    .action(async (queue: string, ids: string[], options: { all?: boolean }, command: Command) => {
      if (!options.all && ids.length === 0) throw new CliError("give message ids, or --all", EXIT.usage);
      const api = client(command);
      let result = await api.redrive(queue, options.all ? { all: true } : { messageIds: ids });
      if (result.taskId) {
        const bar = progress(`redriven in ${queue}`, result.redriven + result.remaining);
        while (result.status === "running") {
          bar.update(result.redriven);
          await pause(500);
          result = await api.redriveTask(queue, result.taskId as string);
        }
        bar.finish(result.redriven);
      }
      printOne(command, result);
    });
  dlq
    .command("purge <queue>")
    .description("delete every dead letter of the queue")
    .option("--yes", "really delete them")
    .action(async (queue: string, options: { yes?: boolean }, command: Command) => {
      requireYes(options, `purging deletes every dead letter of "${queue}"`);
      printOne(command, await client(command).purgeDeadLetters(queue));
    });
}
