import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsumerErrorContext, ReceivedMessage } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { recordingClient, sleep, until } from "./helpers.js";

let host: TestHost;
beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_RATE_LIMIT: "off" });
});
afterAll(() => host.close());

const numbered = (count: number) => Array.from({ length: count }, (_, n) => ({ body: { n } }));

async function fill(
  client: Awaited<ReturnType<typeof recordingClient>>["client"],
  queue: string,
  count: number,
) {
  for (let from = 0; from < count; from += 100) {
    await client.sendBatch(
      queue,
      numbered(Math.min(100, count - from)).map(({ body }) => ({ body: { n: body.n + from } })),
    );
  }
}

describe("consume", () => {
  it("runs at most `concurrency` handlers at once and acks every message once", async () => {
    const { client } = await recordingClient(host, "consumer-concurrency");
    await client.createQueue({ name: "jobs" });
    await fill(client, "jobs", 40);
    let active = 0;
    let most = 0;
    const seen: number[] = [];
    const errors: unknown[] = [];
    const consumer = client.consume<{ n: number }>(
      "jobs",
      async (message) => {
        most = Math.max(most, ++active);
        await sleep(20);
        seen.push(message.body.n);
        active--;
      },
      { concurrency: 4, prefetch: 4, onError: (error) => errors.push(error) },
    );
    await until(() => seen.length === 40);
    await consumer.stop();
    expect(most).toBe(4);
    expect(new Set(seen).size).toBe(40);
    expect(errors).toEqual([]);
    expect(await client.stats("jobs")).toMatchObject({ available: 0, inFlight: 0, ackedTotal: 40 });
  });

  it("refuses a lease or a wait the API would refuse on every receive", async () => {
    const { client } = await recordingClient(host, "consumer-options");
    expect(() => client.consume("q", () => undefined, { visibilityTimeoutSeconds: 0.5 })).toThrow(RangeError);
    expect(() => client.consume("q", () => undefined, { visibilityTimeoutSeconds: 43_201 })).toThrow(
      RangeError,
    );
    expect(() => client.consume("q", () => undefined, { waitSeconds: 21 })).toThrow(RangeError);
  });

  it("coalesces acks into settle requests", async () => {
    const { client, requests } = await recordingClient(host, "consumer-settles");
    await client.createQueue({ name: "many" });
    await fill(client, "many", 300);
    let handled = 0;
    const consumer = client.consume(
      "many",
      async () => {
        handled++;
      },
      { concurrency: 50, prefetch: 50 },
    );
    await until(() => handled === 300);
    await consumer.stop();
    const settles = requests.filter((r) => r.path.endsWith("/messages/settle"));
    const settled = settles.flatMap((r) => (r.body as { acks: unknown[] }).acks);
    expect(settled).toHaveLength(300);
    expect(settles.length).toBeLessThanOrEqual(30);
    expect(requests.some((r) => /\/(ack|nack)$/.test(r.path))).toBe(false);
    expect(await client.stats("many")).toMatchObject({ available: 0, inFlight: 0, ackedTotal: 300 });
  });

  it("renews the lease of a handler that runs past the visibility timeout", async () => {
    const { client, requests } = await recordingClient(host, "consumer-lease");
    await client.createQueue({ name: "slow" });
    await client.send("slow", { body: "long job" });
    const other = await recordingClient(host, "consumer-lease");
    const stolen: ReceivedMessage[] = [];
    const errors: unknown[] = [];
    let finished = false;
    const consumer = client.consume(
      "slow",
      async () => {
        // Three lease lengths: without renewals the message would be visible again twice over.
        for (let elapsed = 0; elapsed < 3000; elapsed += 250) {
          stolen.push(...(await other.client.receive("slow", { visibilityTimeout: 60 })));
          await sleep(250);
        }
        finished = true;
      },
      { visibilityTimeoutSeconds: 1, onError: (error) => errors.push(error) },
    );
    await until(() => finished);
    await consumer.stop();
    expect(stolen).toEqual([]);
    expect(errors).toEqual([]);
    expect(requests.filter((r) => r.path.endsWith("/lease")).length).toBeGreaterThanOrEqual(4);
    expect(await client.stats("slow")).toMatchObject({ available: 0, inFlight: 0, ackedTotal: 1 });
  });

  it("nacks a message whose handler throws, so it comes back after the queue's backoff", async () => {
    const { client, requests } = await recordingClient(host, "consumer-nack");
    await client.createQueue({
      name: "flaky",
      retry: { initialDelaySeconds: 2, multiplier: 1, maxDelaySeconds: 2, jitter: false },
    });
    const { messageId } = await client.send("flaky", { body: "x" });
    const deliveries: { count: number; at: number }[] = [];
    const reported: ConsumerErrorContext[] = [];
    const consumer = client.consume(
      "flaky",
      (message) => {
        deliveries.push({ count: message.deliveryCount, at: Date.now() });
        if (message.deliveryCount === 1) throw new Error("boom");
      },
      { onError: (_error, context) => reported.push(context) },
    );
    await until(() => deliveries.length === 1);
    await until(() => requests.some((r) => r.path.endsWith("/settle")));
    await sleep(100);
    const after = await client.peek("flaky", messageId);
    expect(after).toMatchObject({ state: "delayed", lastError: "Error: boom" });
    await until(() => deliveries.length === 2);
    await consumer.stop();
    expect(deliveries[1]?.count).toBe(2);
    expect((deliveries[1]?.at ?? 0) - (deliveries[0]?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    expect(reported.map((context) => [context.stage, context.message?.messageId])).toEqual([
      ["handler", messageId],
    ]);
    const nacks = requests
      .filter((r) => r.path.endsWith("/settle"))
      .flatMap((r) => (r.body as { nacks: { delaySeconds?: number }[] }).nacks);
    expect(nacks).toEqual([expect.objectContaining({ messageId, error: "Error: boom" })]);
    expect(nacks[0]).not.toHaveProperty("delaySeconds");
    expect(await client.stats("flaky")).toMatchObject({ ackedTotal: 1, deadLettered: 0 });
  });

  it("stops on its signal: running handlers finish, prefetched messages go back, none lost or doubled", async () => {
    const { client } = await recordingClient(host, "consumer-stop");
    await client.createQueue({ name: "work", maxDeliveries: 2 });
    await fill(client, "work", 300);
    const controller = new AbortController();
    const handled: number[] = [];
    let started = 0;
    const consumer = client.consume<{ n: number }>(
      "work",
      async (message) => {
        started++;
        await sleep(15);
        handled.push(message.body.n);
      },
      { concurrency: 5, prefetch: 20, signal: controller.signal },
    );
    await until(() => handled.length >= 50);
    controller.abort();
    await consumer.stopped;
    expect(handled).toHaveLength(started);
    const stats = await client.stats("work");
    expect(stats).toMatchObject({ inFlight: 0, delayed: 0, deadLettered: 0, ackedTotal: handled.length });
    expect(stats.available).toBe(300 - handled.length);

    // The rest is all still there, each once; a released message was not dead-lettered.
    const rest: number[] = [];
    const second = client.consume<{ n: number }>(
      "work",
      (message) => {
        rest.push(message.body.n);
      },
      { concurrency: 10 },
    );
    await until(() => rest.length === 300 - handled.length);
    await second.stop();
    const all = [...handled, ...rest].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 300 }, (_, n) => n));
    expect(await client.stats("work")).toMatchObject({
      available: 0,
      inFlight: 0,
      ackedTotal: 300,
      deadLettered: 0,
    });
  });
});
