#!/usr/bin/env node
import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Command, CommanderError, Option } from "commander";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import {
  ConveyorApiError,
  ConveyorClient,
  ConveyorError,
  type CreateQueueRequest,
  type MessageRequest,
  type UpdateQueueRequest,
} from "../client/index.js";
import { ConfigError, loadConfig } from "../config.js";

/**
 * The `conveyor` command line: local development tokens, and every queue
 * operation against any Conveyor (local or Azure) through the typed client.
 *
 * Exit codes: 0 done; 1 the server refused (its problem code is printed);
 * 2 the command line is wrong; 3 the server cannot be reached.
 */
const EXIT = { refused: 1, usage: 2, unreachable: 3 } as const;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const out = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};
const note = (line: string) => process.stderr.write(`${line}\n`);

/** A body given on the command line or in a file: JSON when it parses, else the text itself. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const integer = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed))
    throw new CliError(`${name} must be a whole number, not "${value}"`, EXIT.usage);
  return parsed;
};

function settingsFrom(options: Record<string, unknown>): UpdateQueueRequest {
  const settings: Record<string, unknown> = options.json
    ? (JSON.parse(String(options.json)) as Record<string, unknown>)
    : {};
  if (options.visibilityTimeout !== undefined) settings.visibilityTimeoutSeconds = options.visibilityTimeout;
  if (options.maxDeliveries !== undefined) settings.maxDeliveries = options.maxDeliveries;
  if (options.ttl !== undefined) settings.messageTtlSeconds = options.ttl;
  if (options.pushUrl !== undefined) settings.push = { url: options.pushUrl };
  return settings as UpdateQueueRequest;
}

function client(command: Command): ConveyorClient {
  const { url, token } = command.optsWithGlobals<{ url: string; token?: string }>();
  if (!token) throw new CliError("no credentials: pass --token or set CONVEYOR_TOKEN", EXIT.usage);
  return new ConveyorClient({ baseUrl: url, token });
}

/** Progress for long work on stderr: a live line on a terminal, a plain line every two seconds elsewhere. */
function progress(label: string, total?: number) {
  const started = Date.now();
  let lastPlain = 0;
  const render = (done: number, final = false) => {
    const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
    const share = total ? ` ${Math.floor((done / total) * 100)}% of ${total}` : "";
    const line = `${label}: ${done}${share} (${rate}/s)`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${final ? "\n" : ""}`);
    else if (final || Date.now() - lastPlain >= 2000) {
      lastPlain = Date.now();
      note(line);
    }
  };
  return { update: (done: number) => render(done), finish: (done: number) => render(done, true) };
}

async function* lines(file: string | undefined): AsyncGenerator<string> {
  const input = file ? createReadStream(file) : process.stdin;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== "") yield line;
  }
}

async function sendLines(
  api: ConveyorClient,
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
    const work = api
      .sendBatch(
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
    if (batch.length === 100) {
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
  out(counts);
  if (counts.failed > 0) throw new CliError(`${counts.failed} messages were refused`, EXIT.refused);
}

export function buildProgram(): Command {
  const program = new Command("conveyor")
    .description("Conveyor's command line: queues, messages, dead letters and local development tokens")
    .addOption(
      new Option("--url <url>", "the Conveyor to talk to")
        .env("CONVEYOR_URL")
        .default("http://127.0.0.1:7071"),
    )
    .addOption(new Option("--token <token>", "a bearer token or API key").env("CONVEYOR_TOKEN"))
    .showHelpAfterError()
    .exitOverride();

  program
    .command("token")
    .description("print one development token for the local host, signed with the key in CONVEYOR_DATA_DIR")
    .requiredOption("--tenant <tenant>", "the tenant the token is for")
    .option("--roles <roles>", "comma-separated app roles, e.g. admin", "")
    .option("--sub <subject>", "the subject (default dev:<tenant>)")
    .option("--ttl <seconds>", "how long it is valid", integer("--ttl"), 3600)
    .action(async (options: { tenant: string; roles: string; sub?: string; ttl: number }) => {
      if (options.ttl < 1) throw new CliError("--ttl must be at least 1", EXIT.usage);
      const config = loadConfig();
      const key = await loadOrCreateSigningKey(config.dataDir);
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

  const queues = program.command("queues").description("create, list, show, update and delete queues");
  const settingOptions = (command: Command) =>
    command
      .option("--visibility-timeout <seconds>", "the lease length", integer("--visibility-timeout"))
      .option("--max-deliveries <n>", "deliveries before dead-lettering", integer("--max-deliveries"))
      .option("--ttl <seconds>", "message time to live", integer("--ttl"))
      .option("--push-url <url>", "deliver messages to this webhook")
      .option("--json <settings>", "any other settings, as the API's JSON");
  settingOptions(
    queues
      .command("create <name>")
      .description("create a queue (prints it, with the push signing secret once)")
      .option("--fifo", "strict order per group"),
  ).action(async (name: string, options: Record<string, unknown>, command: Command) => {
    const request = { name, ordering: options.fifo ? "fifo" : "standard", ...settingsFrom(options) };
    out(await client(command).createQueue(request as CreateQueueRequest));
  });
  queues
    .command("list")
    .description("the queues you hold a grant on, one JSON line each")
    .action(async (_options: unknown, command: Command) => {
      const api = client(command);
      let cursor: string | undefined;
      do {
        const page = await api.listQueues({ limit: 1000, cursor });
        for (const queue of page.items) out(queue);
        cursor = page.nextCursor;
      } while (cursor);
    });
  queues
    .command("show <name>")
    .description("a queue with its stats")
    .action(async (name: string, _options: unknown, command: Command) =>
      out(await client(command).getQueue(name)),
    );
  settingOptions(queues.command("update <name>").description("change a queue's settings")).action(
    async (name: string, options: Record<string, unknown>, command: Command) => {
      out(await client(command).updateQueue(name, settingsFrom(options)));
    },
  );
  queues
    .command("delete <name>")
    .description("delete a queue with its messages and dead letters")
    .option("--yes", "really delete it")
    .action(async (name: string, options: { yes?: boolean }, command: Command) => {
      if (!options.yes)
        throw new CliError(`deleting "${name}" removes all its messages: add --yes`, EXIT.usage);
      await client(command).deleteQueue(name);
      note(`deleted ${name}`);
    });

  program
    .command("send <queue> [body]")
    .description(
      "send a message: the body argument, a --file, or with --lines one message per line (stdin or --file)",
    )
    .option("--file <path>", "read the body (or, with --lines, the lines) from a file")
    .option("--lines", "send each non-empty line as one message, in batches of 100")
    .option("--priority <n>", "0..9, standard queues", integer("--priority"))
    .option("--delay <seconds>", "hold the message back", integer("--delay"))
    .option("--group <id>", "the fifo group")
    .option("--dedup-id <id>", "deduplicate on this id")
    .action(
      async (
        queue: string,
        body: string | undefined,
        options: Record<string, string | number | boolean>,
        command: Command,
      ) => {
        const api = client(command);
        const template: MessageRequest = {
          body: undefined,
          ...(options.priority !== undefined ? { priority: options.priority as number } : {}),
          ...(options.delay !== undefined ? { delaySeconds: options.delay as number } : {}),
          ...(options.group !== undefined ? { groupId: options.group as string } : {}),
        };
        if (options.lines) return sendLines(api, queue, options.file as string | undefined, template);
        const text = options.file ? readFileSync(options.file as string, "utf8") : body;
        if (text === undefined) throw new CliError("give a body, --file, or --lines", EXIT.usage);
        const message = {
          ...template,
          body: parseBody(text),
          ...(options.dedupId !== undefined ? { deduplicationId: options.dedupId as string } : {}),
        };
        out(await api.send(queue, message));
      },
    );

  program
    .command("receive <queue>")
    .description("receive (lease) messages, one JSON line each")
    .option("--max <n>", "how many messages in all", integer("--max"), 1)
    .option("--wait <seconds>", "long-poll this long for the first message", integer("--wait"), 0)
    .option("--visibility-timeout <seconds>", "the lease length", integer("--visibility-timeout"))
    .option("--ack", "ack each message once it is printed")
    .action(
      async (
        queue: string,
        options: { max: number; wait: number; visibilityTimeout?: number; ack?: boolean },
        command: Command,
      ) => {
        const api = client(command);
        let received = 0;
        while (received < options.max) {
          const messages = await api.receive(queue, {
            max: Math.min(100, options.max - received),
            wait: received === 0 ? options.wait : 0,
            visibilityTimeout: options.visibilityTimeout,
          });
          if (messages.length === 0) break;
          for (const message of messages) out(options.ack ? { ...message, leaseToken: undefined } : message);
          received += messages.length;
          if (options.ack) {
            const settled = await api.settle(queue, {
              acks: messages.map(({ messageId, leaseToken }) => ({ messageId, leaseToken })),
            });
            const failed = settled.results.filter((result) => result.status !== 204);
            for (const item of failed) note(`ack of ${item.messageId} failed: ${item.error?.code}`);
            if (failed.length > 0) throw new CliError(`${failed.length} acks were refused`, EXIT.refused);
          }
        }
      },
    );

  program
    .command("tail <queue>")
    .description(
      "follow a queue's live events (stats, dead letters, backlog), one JSON line each, until Ctrl+C",
    )
    .action(async (queue: string, _options: unknown, command: Command) => {
      const api = client(command);
      const { transport } = await api.negotiateEvents(queue);
      if (transport !== "sse") {
        // Web PubSub needs a WebSocket client; polling the stats keeps the command dependency-free.
        note("this Conveyor carries live events through Web PubSub; following its stats every 2 s instead");
        for (;;) {
          out({ event: "queue.stats", data: { queue, ...(await api.stats(queue)) } });
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
      }
      for await (const event of api.events(queue)) out(event);
    });

  program
    .command("stats <queue>")
    .description("a queue's counts and totals")
    .action(async (queue: string, _options: unknown, command: Command) =>
      out(await client(command).stats(queue)),
    );

  const dlq = program.command("dlq").description("browse, redrive and purge dead letters");
  dlq
    .command("list <queue>")
    .description("dead letters, oldest first, one JSON line each")
    .option("--limit <n>", "at most this many", integer("--limit"), 100)
    .action(async (queue: string, options: { limit: number }, command: Command) => {
      const api = client(command);
      let cursor: string | undefined;
      let listed = 0;
      do {
        const page = await api.deadLetters(queue, { limit: Math.min(1000, options.limit - listed), cursor });
        for (const message of page.messages) out(message);
        listed += page.messages.length;
        cursor = page.nextCursor;
      } while (cursor && listed < options.limit);
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
          await new Promise((resolve) => setTimeout(resolve, 500));
          result = await api.redriveTask(queue, result.taskId as string);
        }
        bar.finish(result.redriven);
      }
      out(result);
    });
  dlq
    .command("purge <queue>")
    .description("delete every dead letter of the queue")
    .option("--yes", "really delete them")
    .action(async (queue: string, options: { yes?: boolean }, command: Command) => {
      if (!options.yes)
        throw new CliError(`purging deletes every dead letter of "${queue}": add --yes`, EXIT.usage);
      out(await client(command).purgeDeadLetters(queue));
    });

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
