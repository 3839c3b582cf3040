import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminClient } from "../dev-token.js";
import { startServerProcess } from "../process.js";
import { freePort, until } from "./helpers.js";

const dataDir = mkdtempSync(join(tmpdir(), "conveyor-producer-restart-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("producer across a server restart", () => {
  it("leaves every acknowledged send in the queue exactly once after a kill -9 mid-stream", async () => {
    const port = await freePort();
    const env = { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_PORT: String(port), CONVEYOR_RATE_LIMIT: "off" };
    let server = await startServerProcess(env);
    const client = await adminClient(server.url, dataDir, "restart", "restart-test");
    await client.createQueue({ name: "stream" });
    const producer = client.producer<{ worker: number; n: number }>("stream");

    const acknowledged: string[] = [];
    const failed: unknown[] = [];
    const workers = Array.from({ length: 32 }, async (_, worker) => {
      for (let n = 0; n < 60; n++) {
        try {
          await producer.send({ body: { worker, n } });
          acknowledged.push(`${worker}:${n}`);
        } catch (error) {
          failed.push(error);
        }
      }
    });
    await until(() => acknowledged.length >= 400);
    server.child.kill("SIGKILL");
    expect(await server.exited).toBe("SIGKILL");
    const atKill = acknowledged.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    server = await startServerProcess(env);
    try {
      await Promise.all(workers);
      expect(failed).toEqual([]);
      expect(atKill).toBeLessThan(32 * 60);
      expect(acknowledged).toHaveLength(32 * 60);

      const found: string[] = [];
      for (;;) {
        const batch = await client.receive<{ worker: number; n: number }>("stream", { max: 100 });
        if (batch.length === 0) break;
        for (const message of batch) found.push(`${message.body.worker}:${message.body.n}`);
        await client.settle("stream", {
          acks: batch.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken })),
        });
      }
      expect(found.length).toBe(new Set(found).size);
      expect(found.sort()).toEqual([...acknowledged].sort());
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  }, 120_000);
});
