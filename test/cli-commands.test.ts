import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, type Outcome, run, runCli, runCliOnTerminal } from "./cli-process.js";
import { startTestHost, type TestHost } from "./host.js";
import { BUILT_CLI, ROOT, requireBuild, startServerProcess } from "./process.js";

let host: TestHost;
let env: Record<string, string>;

beforeAll(async () => {
  requireBuild();
  host = await startTestHost();
  const token = await host.token("cli-commands", { roles: ["admin"] });
  env = { CONVEYOR_DATA_DIR: host.dataDir, CONVEYOR_URL: host.url, CONVEYOR_TOKEN: token };
  await host.client(token).createQueue({ name: "work" });
});
afterAll(() => host.close());

const conveyor = (args: string[], stdin?: string): Promise<Outcome> => runCli(args, env, stdin);

describe("send from stdin", () => {
  it("sends piped stdin as one body, JSON when it parses and text otherwise", async () => {
    const json = await conveyor(["send", "work"], '{"order":7}\n');
    const text = await conveyor(["send", "work"], "two\nlines\n");
    expect([json.code, text.code]).toEqual([0, 0]);
    const bodies = jsonLines((await conveyor(["receive", "work", "--max", "10", "--ack"])).stdout).map(
      (m) => m.body,
    );
    expect(bodies).toEqual([{ order: 7 }, "two\nlines\n"]);
  });

  it("refuses an empty stdin and a body given twice", async () => {
    expect(await conveyor(["send", "work"], "")).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/nothing on stdin/),
    });
    const twice = await conveyor(["send", "work", "body", "--lines"], "x\n");
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringMatching(/not both/)]);
  });
});

describe("ack, nack and peek", () => {
  it("settle what receive leased, and peek shows the state", async () => {
    await conveyor(["send", "work", "first"]);
    await conveyor(["send", "work", "second"]);
    const leased = jsonLines((await conveyor(["receive", "work", "--max", "2"])).stdout) as {
      messageId: string;
      leaseToken: string;
    }[];
    expect(leased).toHaveLength(2);
    const [first, second] = leased as [(typeof leased)[0], (typeof leased)[0]];
    /** `conveyor <command> work <id> --lease <token>` for one leased message, then `flags`. */
    const settle = (command: "ack" | "nack", message: typeof first, ...flags: string[]) =>
      conveyor([command, "work", message.messageId, "--lease", message.leaseToken, ...flags]);
    expect((await settle("ack", first)).code).toBe(0);
    const nacked = await settle("nack", second, "--delay", "600", "--error", "not yet");
    expect(nacked).toMatchObject({ code: 0, stderr: `released ${second.messageId}\n` });
    const peeked = jsonLines((await conveyor(["peek", "work", second.messageId])).stdout)[0];
    expect(peeked).toMatchObject({ messageId: second.messageId, state: "delayed", lastError: "not yet" });
    // An ack is idempotent for its own lease, as SQS's DeleteMessage is.
    expect((await settle("ack", first)).code).toBe(0);
    const dead = await settle("nack", second, "--dead-letter");
    expect([dead.code, dead.stderr]).toEqual([
      1,
      expect.stringMatching(/lease_lost \(HTTP 409\): .*spent by a nack/),
    ]);
  });
});

describe("output for people and for scripts", () => {
  it("prints tables on a terminal, JSON lines with --json or into a pipe", async () => {
    const table = await runCliOnTerminal(["queues", "list"], env);
    expect(table.stdout).toMatch(/name\s+│ ordering/);
    expect(table.stdout).toMatch(/│ work\s+│ standard/);
    const forced = await runCliOnTerminal(["--json", "queues", "list"], env);
    expect(jsonLines(forced.stdout.replaceAll("\r", "")).map((queue) => queue.name)).toContain("work");
    const piped = await conveyor(["stats", "work"]);
    expect(jsonLines(piped.stdout)[0]).toHaveProperty("enqueuedTotal");
    const stats = await runCliOnTerminal(["stats", "work"], env);
    expect(stats.stdout).toMatch(/│ enqueuedTotal\s+│ \d+/);
  });

  it("says so when a list is empty", async () => {
    const empty = await conveyor(["dlq", "list", "work"]);
    expect([empty.code, empty.stdout, empty.stderr]).toEqual([0, "", "no dead letters in work\n"]);
    const none = await conveyor(["receive", "work"]);
    expect(none.stderr).toMatch(/no messages available in work/);
  });
});

describe("usage errors", () => {
  it("exit 2 naming the option", async () => {
    const settings = await conveyor(["queues", "create", "bad", "--settings", "{not json"]);
    expect([settings.code, settings.stderr]).toEqual([
      2,
      expect.stringMatching(/^conveyor: --settings is not JSON/),
    ]);
    const zero = await conveyor(["receive", "work", "--max", "0"]);
    expect([zero.code, zero.stderr]).toEqual([2, "conveyor: --max must be at least 1\n"]);
    const wait = await conveyor(["receive", "work", "--wait", "99"]);
    expect([wait.code, wait.stderr]).toEqual([2, "conveyor: --wait must be between 0 and 20\n"]);
  });

  it("refuses to mint a token where no server has made a signing key", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "conveyor-empty-"));
    const result = await runCli(["token", "--tenant", "t"], {
      ...env,
      CONVEYOR_DATA_DIR: join(elsewhere, "data"),
    });
    expect([result.code, result.stdout]).toEqual([2, ""]);
    expect(result.stderr).toMatch(/no signing key in .*data: start Conveyor there first/);
  });
});

describe("the server's banner", () => {
  it("prints the token command for its own data directory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "conveyor-banner-"));
    const server = await startServerProcess({ CONVEYOR_DATA_DIR: dataDir });
    try {
      expect(server.output()).toContain(
        `get a token     CONVEYOR_DATA_DIR=${JSON.stringify(dataDir)} npm run --silent token -- --tenant demo`,
      );
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});

describe("--version and completion", () => {
  it("prints the package version", async () => {
    const { version } = (await import(join(ROOT, "package.json"), { with: { type: "json" } })).default as {
      version: string;
    };
    expect(await conveyor(["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it("completes commands and options in bash from the command tree", async () => {
    const script = (await conveyor(["completion", "bash"])).stdout;
    const complete = async (...words: string[]) => {
      const line = `${script}\nCOMP_WORDS=(conveyor ${words.map((word) => `'${word}'`).join(" ")}); COMP_CWORD=${words.length}; _conveyor_complete; echo "\${COMPREPLY[@]}"`;
      return (await run("bash", ["-c", line])).stdout.trim().split(" ");
    };
    expect(await complete("qu")).toEqual(["queues"]);
    expect(await complete("queues", "cr")).toEqual(["create"]);
    expect(await complete("queues", "create", "orders", "--fi")).toEqual(["--fifo"]);
    expect(await complete("dlq", "")).toEqual(expect.arrayContaining(["list", "redrive", "purge"]));
    expect((await conveyor(["completion", "fish"])).code).toBe(2);
    expect(BUILT_CLI).toMatch(/conveyor\.js$/);
  });
});
