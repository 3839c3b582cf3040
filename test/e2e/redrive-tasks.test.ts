import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { TASK_LEASE_SECONDS } from "../../src/service/dead-letters.js";
import { cosmosHostEnv } from "../cosmos-server.js";
import { startTestHost, type TestHost } from "../host.js";
import { waitForTask } from "../redrive-helpers.js";

/**
 * Two hosts on one Cosmos DB (the test server), as two Functions instances
 * behind one app: a redrive task started through one must be readable,
 * and finished, through the other.
 */
describe("redrive tasks across hosts on one Cosmos DB", () => {
  let first: TestHost;
  let second: TestHost;
  const tenant = `tasks-${process.pid}`;
  let viaFirst: ConveyorClient;
  let viaSecond: ConveyorClient;

  beforeAll(async () => {
    const env = await cosmosHostEnv();
    first = await startTestHost(env);
    second = await startTestHost(env);
    // Each host signs with its own development key; the tenant is what both share.
    viaFirst = first.client(await first.token(tenant, { roles: ["admin"] }));
    viaSecond = second.client(await second.token(tenant, { roles: ["admin"] }));
  });
  afterAll(async () => {
    await Promise.allSettled([first.close(), second.close()]);
  });

  async function queueWithDeadLetters(name: string, count: number): Promise<void> {
    await viaFirst.createQueue({ name });
    for (let sent = 0; sent < count; sent += 100) {
      const size = Math.min(100, count - sent);
      await viaFirst.sendBatch(
        name,
        Array.from({ length: size }, (_, index) => ({ body: { n: sent + index } })),
      );
      const leased = await viaFirst.receive(name, { max: 100 });
      await viaFirst.settle(name, {
        acks: [],
        nacks: leased.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken, deadLetter: true })),
      });
    }
  }

  it("reads a task started on one host through the other", async () => {
    await queueWithDeadLetters("read-through", 1200);
    const started = await viaFirst.raw("POST", "/v1/queues/read-through/messages/retry", {
      body: { all: true },
    });
    expect(started.status).toBe(202);
    const { taskId } = started.body as { taskId: string };
    const read = await viaSecond.raw("GET", `/v1/queues/read-through/tasks/${taskId}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ taskId });
    await waitForTask(viaSecond, "read-through", taskId, (task) => task.status === "done");
  }, 60_000);

  it("finishes through the other host a task whose host closed mid-way, moving every message once", async () => {
    const total = 1500;
    await queueWithDeadLetters("handover", total);
    const started = await viaFirst.raw("POST", "/v1/queues/handover/messages/retry", { body: { all: true } });
    expect(started.status).toBe(202);
    const { taskId } = started.body as { taskId: string };
    // The first host works on in the background; stop it once the second sees progress past the request's chunk.
    await waitForTask(viaSecond, "handover", taskId, (task) => task.redriven > 1000);
    await first.close();
    const stopped = await viaSecond.redriveTask("handover", taskId);
    expect(stopped.status).toBe("running");
    expect(stopped.redriven).toBeLessThan(total);
    expect(stopped.remaining).toBe(total - stopped.redriven);

    // The closed host's lease lapses; the second host's resume interval takes the task over.
    second.clock.advance(TASK_LEASE_SECONDS + 1);
    const done = await waitForTask(viaSecond, "handover", taskId, (task) => task.status !== "running");
    expect(done).toMatchObject({ status: "done", redriven: total, remaining: 0 });
    expect(await viaSecond.stats("handover")).toMatchObject({
      available: total,
      deadLettered: 0,
      redrivenTotal: total,
    });
  }, 120_000);
});
