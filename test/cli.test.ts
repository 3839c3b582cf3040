import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, type Outcome, run, runCli } from "./cli-process.js";
import { startTestHost, type TestHost } from "./host.js";
import { BUILT_CLI, ROOT, requireBuild } from "./process.js";

let host: TestHost;
let token: string;
let env: Record<string, string>;

beforeAll(async () => {
  requireBuild();
  host = await startTestHost();
  token = await host.token("cli-tenant", { roles: ["admin"] });
  env = { CONVEYOR_DATA_DIR: host.dataDir, CONVEYOR_URL: host.url, CONVEYOR_TOKEN: token };
});
afterAll(() => host.close());

const conveyor = (args: string[], extra: Record<string, string> = {}): Promise<Outcome> =>
  runCli(args, { ...env, ...extra });

describe("conveyor token", () => {
  it("prints one token and nothing else, which the local host accepts", async () => {
    const { code, stdout, stderr } = await conveyor([
      "token",
      "--tenant",
      "t2",
      "--roles",
      "admin",
      "--sub",
      "me",
    ]);
    expect([code, stderr]).toEqual([0, ""]);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(stdout.trim())).toMatchObject({
      tid: "t2",
      roles: ["admin"],
      sub: "me",
      iss: "conveyor-local",
    });
    expect((await host.client(stdout.trim()).listQueues()).items).toEqual([]);
  });

  it("works as `npm run -s token`", async () => {
    const result = await run("npm", ["run", "-s", "token", "--", "--tenant", "npm-tenant"], {
      cwd: ROOT,
      env: { ...process.env, CONVEYOR_DATA_DIR: host.dataDir },
    });
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(result.stdout.trim()).tid).toBe("npm-tenant");
  });
});

describe("conveyor against the local host", () => {
  it("sends a 10,000-line file in batches and receives every line back", async () => {
    expect((await conveyor(["queues", "create", "bulk"])).code).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), "conveyor-cli-")), "lines.jsonl");
    writeFileSync(file, Array.from({ length: 10_000 }, (_, n) => JSON.stringify({ n })).join("\n"));
    const sent = await conveyor(["send", "bulk", "--lines", "--file", file]);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toEqual({ sent: 10_000, duplicates: 0, failed: 0 });
    expect(sent.stderr).toMatch(/sent to bulk: 10000 100% of 10000/);

    const received = await conveyor(["receive", "bulk", "--max", "20000", "--ack"]);
    expect(received.code).toBe(0);
    const bodies = jsonLines(received.stdout).map((message) => (message.body as { n: number }).n);
    expect(bodies).toHaveLength(10_000);
    expect(new Set(bodies).size).toBe(10_000);
    expect(await host.client(token).stats("bulk")).toMatchObject({
      available: 0,
      inFlight: 0,
      ackedTotal: 10_000,
    });
  });

  it("sends lines from stdin", async () => {
    await conveyor(["queues", "create", "piped"]);
    const child = spawn(process.execPath, [BUILT_CLI, "send", "piped", "--lines"], {
      env: { ...process.env, CONVEYOR_URL: host.url, CONVEYOR_TOKEN: token },
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stdin.end("first\nsecond\n\nthird\n");
    const code = await new Promise((resolve) => child.on("exit", resolve));
    expect([code, JSON.parse(stdout)]).toEqual([0, { sent: 3, duplicates: 0, failed: 0 }]);
    const bodies = jsonLines((await conveyor(["receive", "piped", "--max", "5"])).stdout).map((m) => m.body);
    expect(bodies).toEqual(["first", "second", "third"]);
  });

  it("creates, lists, shows, updates and deletes queues", async () => {
    const created = JSON.parse(
      (await conveyor(["queues", "create", "cli-q", "--fifo", "--max-deliveries", "3"])).stdout,
    );
    expect(created).toMatchObject({ name: "cli-q", ordering: "fifo", maxDeliveries: 3 });
    expect(jsonLines((await conveyor(["queues", "list"])).stdout).map((q) => q.name)).toContain("cli-q");
    expect(JSON.parse((await conveyor(["queues", "show", "cli-q"])).stdout)).toHaveProperty("stats");
    const updated = JSON.parse(
      (await conveyor(["queues", "update", "cli-q", "--visibility-timeout", "90"])).stdout,
    );
    expect(updated.visibilityTimeoutSeconds).toBe(90);
    const refused = await conveyor(["queues", "delete", "cli-q"]);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/add --yes/)]);
    expect((await conveyor(["queues", "delete", "cli-q", "--yes"])).code).toBe(0);
  });

  it("lists, redrives and purges dead letters", async () => {
    await conveyor(["queues", "create", "cli-dlq"]);
    const client = host.client(token);
    await client.sendBatch("cli-dlq", [{ body: "a" }, { body: "b" }, { body: "c" }]);
    const leased = await client.receive("cli-dlq", { max: 3 });
    await client.settle("cli-dlq", {
      acks: [],
      nacks: leased.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken, deadLetter: true })),
    });
    const listed = jsonLines((await conveyor(["dlq", "list", "cli-dlq"])).stdout);
    expect(listed.map((m) => m.reason)).toEqual(["rejected", "rejected", "rejected"]);
    const one = await conveyor(["dlq", "redrive", "cli-dlq", String(listed[0]?.messageId)]);
    expect(JSON.parse(one.stdout)).toMatchObject({ redriven: 1 });
    expect(JSON.parse((await conveyor(["dlq", "redrive", "cli-dlq", "--all"])).stdout)).toMatchObject({
      redriven: 2,
    });
    await client.receive("cli-dlq", { max: 3 }).then((again) =>
      client.settle("cli-dlq", {
        acks: [],
        nacks: again.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken, deadLetter: true })),
      }),
    );
    expect((await conveyor(["dlq", "purge", "cli-dlq"])).code).toBe(2);
    expect(JSON.parse((await conveyor(["dlq", "purge", "cli-dlq", "--yes"])).stdout)).toEqual({ purged: 3 });
  });

  it("follows a queue's live events with tail", async () => {
    await conveyor(["queues", "create", "tailed"]);
    const child = spawn(process.execPath, [BUILT_CLI, "tail", "tailed"], {
      env: { ...process.env, CONVEYOR_URL: host.url, CONVEYOR_TOKEN: token },
    });
    const first = await new Promise<string>((resolve) =>
      child.stdout.once("data", (chunk) => resolve(String(chunk))),
    );
    child.kill("SIGTERM");
    expect(JSON.parse(first.split("\n")[0] as string)).toMatchObject({
      event: "queue.stats",
      data: { queue: "tailed" },
    });
  });

  it("fails with exit code 1 and the problem's code when the server refuses", async () => {
    const missing = await conveyor(["queues", "show", "no-such-queue"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^conveyor: queue_not_found \(HTTP 404\): no queue named "no-such-queue"/);
    expect(missing.stdout).toBe("");
    const badToken = await conveyor(["stats", "bulk"], { CONVEYOR_TOKEN: "not-a-token" });
    expect([badToken.code, badToken.stderr]).toEqual([1, expect.stringMatching(/unauthorized \(HTTP 401\)/)]);
  });

  it("fails with exit code 2 on a wrong command line and 3 when the server cannot be reached", async () => {
    expect((await conveyor(["frobnicate"])).code).toBe(2);
    expect((await conveyor(["receive", "q", "--max", "lots"])).code).toBe(2);
    expect((await conveyor(["send", "q"])).stderr).toMatch(/nothing on stdin: give a body, --file, --lines/);
    const noToken = await conveyor(["stats", "q"], { CONVEYOR_TOKEN: "" });
    expect([noToken.code, noToken.stderr]).toEqual([2, expect.stringMatching(/no credentials/)]);
    const down = await conveyor(["stats", "q"], { CONVEYOR_URL: "http://127.0.0.1:59999" });
    expect([down.code, down.stderr]).toEqual([3, expect.stringMatching(/cannot reach .*ECONNREFUSED/)]);
  });

  it("has --help on every command", async () => {
    for (const command of [
      [],
      ["token"],
      ["queues"],
      ["queues", "create"],
      ["send"],
      ["receive"],
      ["tail"],
      ["stats"],
      ["dlq"],
      ["dlq", "redrive"],
    ]) {
      const help = await conveyor([...command, "--help"]);
      expect([command.join(" "), help.code, help.stdout]).toEqual([
        command.join(" "),
        0,
        expect.stringMatching(/^Usage: conveyor/),
      ]);
    }
  });
});
