import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../src/adapters/sqlite/store.js";
import { TASK_LEASE_SECONDS } from "../src/service/dead-letters.js";
import { leaseMessages } from "../src/service/receive.js";
import { cosmosHostEnv } from "./cosmos-server.js";
import { adminClient } from "./dev-token.js";
import { aQueue, at } from "./fixtures.js";
import { startTestHost } from "./host.js";
import { startServerProcess } from "./process.js";
import { deadLetterAll, plainMessages, waitForTask } from "./redrive-helpers.js";

/** Redrive tasks outliving the process that ran them: kill -9 on Cosmos DB, a restart on SQLite. */
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "conveyor-redrive-kill-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const clientOf = (url: string, dataDir: string, tenant: string) =>
  adminClient(url, dataDir, tenant, "redrive-kill");

describe("a redrive task whose host is killed", () => {
  it("is finished by another host on the same Cosmos DB, with every message back once", async () => {
    const env = { ...(await cosmosHostEnv()), COSMOS_DATABASE: `conveyor-redrive-kill-${process.pid}` };
    const dataDir = tempDir();
    const first = await startServerProcess({
      ...env,
      CONVEYOR_DATA_DIR: dataDir,
      CONVEYOR_RATE_LIMIT: "off",
    });
    const second = await startTestHost(env);
    try {
      const viaFirst = await clientOf(first.url, dataDir, "kill");
      const viaSecond = second.client(await second.token("kill", { roles: ["admin"] }));
      const total = 1500;
      await viaSecond.createQueue({ name: "killed" });
      for (let sent = 0; sent < total; sent += 100) {
        await viaSecond.sendBatch(
          "killed",
          Array.from({ length: 100 }, (_, n) => ({ body: { n: sent + n } })),
        );
        const leased = await viaSecond.receive("killed", { max: 100 });
        await viaSecond.settle("killed", {
          acks: [],
          nacks: leased.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken, deadLetter: true })),
        });
      }
      const started = await viaFirst.raw("POST", "/v1/queues/killed/messages/retry", { body: { all: true } });
      expect(started.status).toBe(202);
      const { taskId } = started.body as { taskId: string };
      await waitForTask(viaSecond, "killed", taskId, (task) => task.redriven > 1000);
      first.child.kill("SIGKILL");
      expect(await first.exited).toBe("SIGKILL");
      expect((await viaSecond.redriveTask("killed", taskId)).status).toBe("running");

      second.clock.advance(TASK_LEASE_SECONDS + 1);
      const done = await waitForTask(viaSecond, "killed", taskId, (task) => task.status !== "running");
      expect(done).toMatchObject({ status: "done", remaining: 0 });
      // A chunk cut off between its moves and its record is missing from the count, never from the queue.
      expect(done.redriven).toBeGreaterThanOrEqual(total - 100);
      expect(done.redriven).toBeLessThanOrEqual(total);
      expect(await viaSecond.stats("killed")).toMatchObject({ available: total, deadLettered: 0 });
    } finally {
      first.child.kill("SIGKILL");
      await second.close();
    }
  }, 120_000);
});

describe("a redrive task left running by a stopped local host", () => {
  it("resumes when the host starts again on the same data directory", async () => {
    const dataDir = tempDir();
    const store = new SqliteStore({ dataDir });
    const queue = aQueue({ tenantId: "restart", name: "restarted" });
    await store.createQueue(queue);
    const total = 1500;
    await store.enqueue(queue, plainMessages(total, at(0), at(86_400)));
    const delivered = await leaseMessages(
      store,
      queue,
      { now: at(1), max: total, visibilityTimeoutSeconds: 60 },
      Math.random,
    );
    await deadLetterAll(store, queue, delivered, at(2));
    // The previous process answered 202 after the first 1000, then stopped; its lease has lapsed.
    const now = Date.now();
    const claim = { owner: "stopped", now: new Date(now - 60_000), leaseExpiresAt: new Date(now - 30_000) };
    await store.createRedriveTask(queue, "task_restart", claim);
    await store.advanceRedriveTask(queue, "task_restart", claim, 1000);
    await store.close();

    const server = await startServerProcess({ CONVEYOR_DATA_DIR: dataDir });
    try {
      const client = await clientOf(server.url, dataDir, "restart");
      expect(await client.redriveTask("restarted", "task_restart")).toMatchObject({
        status: "running",
        redriven: 1000,
      });
      const done = await waitForTask(
        client,
        "restarted",
        "task_restart",
        (task) => task.status !== "running",
      );
      expect(done).toMatchObject({ status: "done", redriven: total, remaining: 0 });
      expect(await client.stats("restarted")).toMatchObject({ available: total, deadLettered: 0 });
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  }, 60_000);
});
