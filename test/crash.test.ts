import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminClient } from "./dev-token.js";
import { killDuringWrites, startServerProcess } from "./process.js";

const dataDir = mkdtempSync(join(tmpdir(), "conveyor-crash-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const crashClient = (url: string) => adminClient(url, dataDir, "crash", "crash-test");

describe("kill -9", () => {
  it("loses no acknowledged enqueue and no acknowledged ack", async () => {
    const env = { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_RATE_LIMIT: "off" };
    const first = await startServerProcess(env);
    const client = await crashClient(first.url);
    await client.createQueue({ name: "durable", visibilityTimeoutSeconds: 3600 });

    // Acks that were answered must stay acked.
    await client.sendBatch(
      "durable",
      Array.from({ length: 20 }, (_, n) => ({ body: { phase: "acked", n } })),
    );
    const leased = await client.receive("durable", { max: 20 });
    const ackedIds = new Set<string>();
    await Promise.all(
      leased.map(async (m) => {
        await client.ack("durable", m.messageId, m.leaseToken);
        ackedIds.add(m.messageId);
      }),
    );

    // Concurrent producers; the server is killed while their requests are in flight.
    const { acknowledged, attempted } = await killDuringWrites(
      first,
      { workers: 32, enough: 500 },
      async (worker, n) => (await client.send("durable", { body: { phase: "crash", worker, n } })).messageId,
    );
    expect(attempted).toBeGreaterThan(acknowledged.size);

    const second = await startServerProcess(env);
    const after = await crashClient(second.url);
    const found = new Set<string>();
    for (;;) {
      const batch = await after.receive("durable", { max: 100 });
      if (batch.length === 0) break;
      for (const m of batch) {
        found.add(m.messageId);
        expect((m.body as { phase: string }).phase).toBe("crash");
      }
    }
    const lost = [...acknowledged].filter((id) => !found.has(id));
    expect(lost).toEqual([]);
    expect([...ackedIds].filter((id) => found.has(id))).toEqual([]);
    expect(found.size).toBeLessThanOrEqual(attempted);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});

describe("graceful shutdown", () => {
  it("answers in-flight long polls, then exits 0 on SIGTERM", async () => {
    const server = await startServerProcess({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_LOG_LEVEL: "info" });
    const client = await crashClient(server.url);
    await client.createQueue({ name: "quiet" });
    const started = Date.now();
    const polling = client.raw("GET", "/v1/queues/quiet/messages?wait=20");
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill("SIGTERM");
    const answered = await polling;
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ messages: [] });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await server.exited).toBe(0);
    expect(server.output()).toMatch(/shutting down signal=SIGTERM/);
  });
});

describe("kill -9 during a push delivery", () => {
  it("delivers the message again after the restart, and acks it", async () => {
    const attempts: string[] = [];
    const receiver = createServer((request, response) => {
      request.resume();
      attempts.push(String(request.headers["conveyor-delivery-count"]));
      if (attempts.length === 1) return; // the first attempt hangs until the server dies
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const env = { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_ALLOW_PRIVATE_PUSH: "true" };

    const first = await startServerProcess(env);
    const client = await crashClient(first.url);
    await client.createQueue({ name: "pushed-through-crash", push: { url, timeoutSeconds: 1 } });
    const sent = await client.send("pushed-through-crash", { body: { survive: true } });
    while (attempts.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    first.child.kill("SIGKILL");
    await first.exited;

    const second = await startServerProcess(env);
    const after = await crashClient(second.url);
    const deadline = Date.now() + 20_000;
    while ((await after.stats("pushed-through-crash")).ackedTotal < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await after.stats("pushed-through-crash")).toMatchObject({
      ackedTotal: 1,
      available: 0,
      inFlight: 0,
    });
    expect(attempts).toEqual(["1", "2"]);
    expect((await after.peek("pushed-through-crash", sent.messageId)).state).toBe("acked");
    second.child.kill("SIGTERM");
    await second.exited;
    receiver.closeAllConnections();
    await new Promise<void>((done) => receiver.close(() => done()));
  });
});
