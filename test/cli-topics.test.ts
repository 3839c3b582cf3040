import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../src/client/index.js";
import { jsonLines, type Outcome, runCli } from "./cli-process.js";
import { startTestHost, type TestHost } from "./host.js";
import { requireBuild } from "./process.js";

let host: TestHost;
let env: Record<string, string>;
let api: ConveyorClient;

beforeAll(async () => {
  requireBuild();
  host = await startTestHost();
  const token = await host.token("cli-topics", { roles: ["admin"] });
  env = { CONVEYOR_DATA_DIR: host.dataDir, CONVEYOR_URL: host.url, CONVEYOR_TOKEN: token };
  api = host.client(token);
  await api.createQueue({ name: "billing" });
  await api.createQueue({ name: "audit" });
});
afterAll(() => host.close());

const conveyor = (args: string[], stdin?: string): Promise<Outcome> => runCli(args, env, stdin);

describe("conveyor topics, subscribe and publish", () => {
  it("creates a topic, subscribes with a filter, publishes from an argument, stdin and lines, and shows the counts", async () => {
    expect((await conveyor(["topics", "create", "orders"])).code).toBe(0);
    const filter = JSON.stringify({ attributes: { "conveyor-topic": { exists: true } } });
    const subscribed = await conveyor([
      "subscribe",
      "orders",
      "billing",
      "--queue",
      "billing",
      "--filter",
      filter,
    ]);
    expect([subscribed.code, subscribed.stderr]).toEqual([0, expect.stringMatching(/subscribed billing/)]);
    expect((await conveyor(["subscribe", "orders", "audit", "--queue", "audit"])).code).toBe(0);

    const one = jsonLines((await conveyor(["publish", "orders", '{"n":1}'])).stdout)[0];
    expect(one).toMatchObject({ subscriptions: 1, duplicate: false });
    expect((await conveyor(["publish", "orders"], "from stdin\n")).code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "cli-topics-"));
    writeFileSync(join(dir, "lines.txt"), '{"n":3}\n{"n":4}\n\n{"n":5}\n');
    const lines = await conveyor(["publish", "orders", "--lines", "--file", join(dir, "lines.txt")]);
    expect(jsonLines(lines.stdout)[0]).toEqual({ sent: 3, duplicates: 0, failed: 0 });

    const audit = await api.receive("audit", { max: 10 });
    expect(audit.map((m) => m.body)).toEqual([{ n: 1 }, "from stdin\n", { n: 3 }, { n: 4 }, { n: 5 }]);
    expect(await api.receive("billing", { max: 10 })).toEqual([]);

    const shown = jsonLines((await conveyor(["topics", "show", "orders"])).stdout);
    expect(shown[0]).toMatchObject({
      name: "orders",
      stats: { publishedTotal: 5, deliveredTotal: 5, filteredTotal: 5 },
    });
    expect(shown.slice(1)).toEqual([
      expect.objectContaining({ subscription: "audit", queue: "audit", filter: "(all)", delivered: 5 }),
      expect.objectContaining({ subscription: "billing", filter, delivered: 0 }),
    ]);
    expect(jsonLines((await conveyor(["topics", "list"])).stdout).map((t) => t.name)).toEqual(["orders"]);
  });

  it("refuses bad input with usage errors and API refusals with their code", async () => {
    const notJson = await conveyor(["subscribe", "orders", "x", "--queue", "billing", "--filter", "{nope"]);
    expect([notJson.code, notJson.stderr]).toEqual([2, expect.stringMatching(/--filter is not JSON/)]);
    const badFilter = await conveyor([
      "subscribe",
      "orders",
      "x",
      "--queue",
      "billing",
      "--filter",
      '{"attributes":{"a":[]}}',
    ]);
    expect([badFilter.code, badFilter.stderr]).toEqual([
      1,
      expect.stringMatching(/validation_failed \(HTTP 400\)/),
    ]);
    expect((await conveyor(["topics", "delete", "orders"])).code).toBe(2);
    expect((await conveyor(["unsubscribe", "orders", "billing"])).code).toBe(0);
    expect((await conveyor(["topics", "delete", "orders", "--yes"])).code).toBe(0);
    const gone = await conveyor(["topics", "show", "orders"]);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringMatching(/topic_not_found \(HTTP 404\)/)]);
  });
});
