import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { type Command, Option } from "commander";
import type { ConveyorClient, MessageRequest, NackRequest } from "../client/index.js";
import { LIMITS } from "../domain/limits.js";
import {
  CliError,
  client,
  EXIT,
  integer,
  note,
  parseBody,
  pause,
  printOne,
  printRows,
  progress,
} from "./io.js";

async function* lines(file: string | undefined): AsyncGenerator<string> {
  const input = file ? createReadStream(file) : process.stdin;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== "") yield line;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Lines in batches of 100, four batches in flight, with progress; the counts at the end. */
async function sendLines(
  api: ConveyorClient,
  destination: Destination,
  queue: string,
  file: string | undefined,
  template: MessageRequest,
) {
  const total = file
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.trim() !== "").length
    : undefined;
  const bar = progress(`sent to ${queue}`, total);
  const counts = { sent: 0, duplicates: 0, failed: 0 };
  const inFlight = new Set<Promise<void>>();
  let batch: { line: number; text: string }[] = [];
  let lineNumber = 0;
  const flush = (items: { line: number; text: string }[]) => {
    const work = destination
      .batch(
        api,
        queue,
        items.map((item) => ({ ...template, body: parseBody(item.text) })),
      )
      .then((result) => {
        for (const item of result.results) {
          if (item.status === 201) counts.sent++;
          else if (item.status === 200) counts.duplicates++;
          else {
            counts.failed++;
            note(`line ${items[item.index]?.line}: ${item.error?.code}: ${item.error?.detail}`);
          }
        }
        bar.update(counts.sent + counts.duplicates + counts.failed);
      });
    const tracked = work.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  for await (const text of lines(file)) {
    batch.push({ line: ++lineNumber, text });
    if (batch.length === LIMITS.batchSize) {
      void flush(batch).catch(() => undefined);
      batch = [];
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
  }
  if (batch.length > 0) void flush(batch).catch(() => undefined);
  const settled = await Promise.allSettled([...inFlight]);
  const rejected = settled.find((result) => result.status === "rejected");
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
  bar.finish(counts.sent + counts.duplicates + counts.failed);
  return counts;
}

/** An option rather than an argument: a lease token may begin with "-", which would read as an option. */
const LEASE = new Option("--lease <token>", "the lease token receive printed").makeOptionMandatory();

/** Where `send` (a queue) and `publish` (a topic, src/cli/topics.ts) put messages, with the same options. */
export interface Destination {
  /** The command with its arguments, as `send <queue> [body]`. */
  usage: string;
  description: string;
  one(api: ConveyorClient, target: string, message: MessageRequest): Promise<object>;
  batch(
    api: ConveyorClient,
    target: string,
    messages: MessageRequest[],
  ): Promise<{ results: { index: number; status: number; error?: { code: string; detail: string } }[] }>;
}

export function addMessageCommands(program: Command): void {
  addSendCommand(program, {
    usage: "send <queue> [body]",
    description:
      "send a message: the body argument, a --file, or stdin; with --lines one message per line. " +
      "A body that parses as JSON is sent as JSON, anything else as text",
    one: (api, queue, message) => api.send(queue, message),
    batch: (api, queue, messages) => api.sendBatch(queue, messages),
  });
  addReceiveCommands(program);
}

export function addSendCommand(program: Command, destination: Destination): void {
  program
    .command(destination.usage)
    .description(destination.description)
    .option("--file <path>", "read the body (or, with --lines, the lines) from a file")
    .option("--lines", "send each non-empty line as one message, in batches of 100")
    .option(
      "--priority <n>",
      "0..9, standard queues",
      integer("--priority", LIMITS.priority.min, LIMITS.priority.max),
    )
    .option("--delay <seconds>", "hold the message back", integer("--delay", 0, LIMITS.delaySeconds.max))
    .option("--group <id>", "the fifo group")
    .option("--dedup-id <id>", "deduplicate on this id")
    .action(
      async (queue: string, body: string | undefined, options: Record<string, unknown>, command: Command) => {
        const api = client(command);
        const template: MessageRequest = {
          body: undefined,
          ...(options.priority !== undefined ? { priority: options.priority as number } : {}),
          ...(options.delay !== undefined ? { delaySeconds: options.delay as number } : {}),
          ...(options.group !== undefined ? { groupId: options.group as string } : {}),
        };
        const file = options.file as string | undefined;
        if (body !== undefined && (file || options.lines)) {
          throw new CliError("give a body argument, or --file / --lines, not both", EXIT.usage);
        }
        if (options.lines) {
          if (!file && process.stdin.isTTY)
            throw new CliError("--lines reads --file or piped stdin", EXIT.usage);
          return printOne(command, await sendLines(api, destination, queue, file, template));
        }
        let text = file ? readFileSync(file, "utf8") : body;
        if (text === undefined) {
          if (process.stdin.isTTY)
            throw new CliError("give a body, --file, --lines, or pipe the body to stdin", EXIT.usage);
          text = await readStdin();
          if (text === "") {
            throw new CliError(
              "nothing on stdin: give a body, --file, --lines, or pipe the body in",
              EXIT.usage,
            );
          }
        }
        const message = {
          ...template,
          body: parseBody(text),
          ...(options.dedupId !== undefined ? { deduplicationId: options.dedupId as string } : {}),
        };
        printOne(command, await destination.one(api, queue, message));
      },
    );
}

function addReceiveCommands(program: Command): void {
  program
    .command("receive <queue>")
    .description("receive (lease) messages; settle them with ack or nack, or pass --ack")
    .option("--max <n>", "how many messages in all", integer("--max", 1), 1)
    .option(
      "--wait <seconds>",
      "long-poll this long for the first message",
      integer("--wait", 0, LIMITS.waitSeconds.max),
      0,
    )
    .option(
      "--visibility-timeout <seconds>",
      "the lease length",
      integer(
        "--visibility-timeout",
        LIMITS.visibilityTimeoutSeconds.min,
        LIMITS.visibilityTimeoutSeconds.max,
      ),
    )
    .option("--ack", "ack each message once it is printed")
    .action(
      async (
        queue: string,
        options: { max: number; wait: number; visibilityTimeout?: number; ack?: boolean },
        command: Command,
      ) => {
        const api = client(command);
        const columns = ["messageId", "deliveryCount", "body"] as const;
        let received = 0;
        while (received < options.max) {
          const messages = await api.receive(queue, {
            max: Math.min(LIMITS.receiveMax.max, options.max - received),
            wait: received === 0 ? options.wait : 0,
            visibilityTimeout: options.visibilityTimeout,
          });
          if (messages.length === 0) break;
          received += messages.length;
          // Printed before they are acked: a message acked is gone, so it must have been shown.
          if (options.ack) {
            const shown = messages.map(({ leaseToken: _settledHere, ...message }) => message);
            printRows(command, shown, columns, "");
            const settled = await api.settle(queue, {
              acks: messages.map(({ messageId, leaseToken }) => ({ messageId, leaseToken })),
            });
            const failed = settled.results.filter((result) => result.status !== 204);
            for (const item of failed) note(`ack of ${item.messageId} failed: ${item.error?.code}`);
            if (failed.length > 0) throw new CliError(`${failed.length} acks were refused`, EXIT.refused);
          } else printRows(command, messages, ["messageId", "leaseToken", ...columns.slice(1)], "");
        }
        if (received === 0) note(`no messages available in ${queue}`);
      },
    );

  program
    .command("ack <queue> <messageId>")
    .description("acknowledge a received message: it is done and removed")
    .addOption(LEASE)
    .action(async (queue: string, messageId: string, { lease }: { lease: string }, command: Command) => {
      await client(command).ack(queue, messageId, lease);
      note(`acked ${messageId}`);
    });

  program
    .command("nack <queue> <messageId>")
    .description("give a received message back: retried after the queue's backoff, or dead-lettered")
    .addOption(LEASE)
    .option(
      "--delay <seconds>",
      "retry after this long instead of the backoff",
      integer("--delay", 0, LIMITS.delaySeconds.max),
    )
    .option("--dead-letter", "dead-letter it now")
    .option("--reason <reason>", "the dead-letter reason: max_deliveries, expired or rejected (default)")
    .option("--error <text>", "recorded as the message's lastError")
    .action(
      async (
        queue: string,
        messageId: string,
        options: { lease: string; delay?: number; deadLetter?: boolean; reason?: string; error?: string },
        command: Command,
      ) => {
        const request: NackRequest = {
          ...(options.delay !== undefined ? { delaySeconds: options.delay } : {}),
          ...(options.deadLetter ? { deadLetter: true } : {}),
          ...(options.reason !== undefined ? { reason: options.reason as NackRequest["reason"] } : {}),
          ...(options.error !== undefined ? { error: options.error } : {}),
        };
        await client(command).nack(queue, messageId, options.lease, request);
        note(`${options.deadLetter ? "dead-lettered" : "released"} ${messageId}`);
      },
    );

  program
    .command("peek <queue> <messageId>")
    .description("show one message in any state, without leasing it")
    .action(async (queue: string, messageId: string, _options: unknown, command: Command) =>
      printOne(command, await client(command).peek(queue, messageId)),
    );

  program
    .command("tail <queue>")
    .description(
      "follow a queue's live events (stats, dead letters, backlog), one JSON line each, until Ctrl+C",
    )
    .action(async (queue: string, _options: unknown, command: Command) => {
      const api = client(command);
      const { transport } = await api.negotiateEvents(queue);
      const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
      if (transport !== "sse") {
        // Web PubSub needs a WebSocket client; polling the stats keeps the command dependency-free.
        note("this Conveyor carries live events through Web PubSub; following its stats every 2 s instead");
        for (;;) {
          line({ event: "queue.stats", data: { queue, ...(await api.stats(queue)) } });
          await pause(2000);
        }
      }
      for await (const event of api.events(queue)) line(event);
    });
}
