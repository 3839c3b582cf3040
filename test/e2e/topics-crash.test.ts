import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminClient } from "../dev-token.js";
import { killDuringWrites, startServerProcess } from "../process.js";

const dataDir = mkdtempSync(join(tmpdir(), "conveyor-topic-crash-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const crashClient = (url: string) => adminClient(url, dataDir, "crash", "crash-test");

const SUBSCRIPTIONS = ["billing", "shipping", "analytics"];

describe("kill -9 right after acknowledged publishes", () => {
  it("finds every acknowledged publish in every subscription queue exactly once after the restart", async () => {
    const env = { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_RATE_LIMIT: "off" };
    const first = await startServerProcess(env);
    const client = await crashClient(first.url);
    await client.topics.create({ name: "events" });
    for (const name of SUBSCRIPTIONS) {
      await client.createQueue({ name, visibilityTimeoutSeconds: 3600 });
      await client.topics.subscribe("events", name, { queue: name });
    }

    const { acknowledged } = await killDuringWrites(
      first,
      { workers: 16, enough: 300 },
      async (worker, n) => (await client.topics.publish("events", { body: { worker, n } })).messageId,
    );

    const second = await startServerProcess(env);
    const after = await crashClient(second.url);
    const published = (await after.topics.get("events")).stats.publishedTotal;
    expect(published).toBeGreaterThanOrEqual(acknowledged.size);
    for (const queue of SUBSCRIPTIONS) {
      const copies: string[] = [];
      for (;;) {
        const batch = await after.receive(queue, { max: 100 });
        if (batch.length === 0) break;
        copies.push(...batch.map((m) => m.attributes["conveyor-topic-message-id"] as string));
      }
      expect([queue, [...acknowledged].filter((id) => !copies.includes(id))]).toEqual([queue, []]);
      expect([queue, copies.length, new Set(copies).size]).toEqual([queue, published, published]);
    }
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
