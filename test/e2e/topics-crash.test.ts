import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminClient } from "../dev-token.js";
import { startServerProcess } from "../process.js";

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

    const acknowledged = new Set<string>();
    let stop = false;
    const publisher = async (worker: number) => {
      for (let n = 0; !stop; n++) {
        try {
          const published = await client.topics.publish("events", { body: { worker, n } });
          acknowledged.add(published.messageId);
        } catch {
          return; // the connection died with the server: the outcome of this one is unknown
        }
      }
    };
    const publishers = Array.from({ length: 16 }, (_, worker) => publisher(worker));
    while (acknowledged.size < 300) await new Promise((resolve) => setTimeout(resolve, 5));
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    stop = true;
    await Promise.all(publishers);

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
