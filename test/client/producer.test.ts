import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConveyorApiError, ConveyorClient, ConveyorError } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { freePort, recordingClient, type SeenRequest, sleep, startProxy } from "./helpers.js";

let host: TestHost;
beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_RATE_LIMIT: "off" });
});
afterAll(() => host.close());

const posts = (requests: SeenRequest[]) =>
  requests.filter((r) => r.method === "POST" && r.path.endsWith("/messages"));

describe("producer", () => {
  it("coalesces concurrent sends into batch requests, each send with its own result", async () => {
    const { client, requests } = await recordingClient(host, "producer-coalesce");
    await client.createQueue({ name: "orders" });
    const producer = client.producer<{ n: number }>("orders");
    const before = requests.length;
    const sent = await Promise.all(Array.from({ length: 500 }, (_, n) => producer.send({ body: { n } })));
    const batches = posts(requests.slice(before));
    expect(batches.length).toBeLessThanOrEqual(6);
    expect(batches.every((r) => (r.body as { messages: unknown[] }).messages.length <= 100)).toBe(true);
    expect(new Set(sent.map((s) => s.messageId)).size).toBe(500);
    expect(sent.every((s) => s.duplicate === false && s.sequence > 0)).toBe(true);
    expect((await client.stats("orders")).available).toBe(500);
  });

  it("keeps the order of the sends with one request in flight", async () => {
    const { client } = await recordingClient(host, "producer-order");
    await client.createQueue({ name: "ordered", ordering: "fifo" });
    const producer = client.producer("ordered", { maxInFlight: 1, maxBatchMessages: 7 });
    const sent = await Promise.all(Array.from({ length: 100 }, (_, n) => producer.send({ body: { n } })));
    const sequences = sent.map((s) => s.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });

  it("batches sends that arrive one by one from many callers while requests are in flight", async () => {
    const { client, requests } = await recordingClient(host, "producer-callers");
    await client.createQueue({ name: "events" });
    const producer = client.producer("events");
    const before = requests.length;
    // 64 callers, each awaiting its own send before the next, as 64 request handlers of a service would.
    await Promise.all(
      Array.from({ length: 64 }, async (_, caller) => {
        for (let n = 0; n < 20; n++) await producer.send({ body: { caller, n } });
      }),
    );
    expect(posts(requests.slice(before)).length).toBeLessThan(1280 / 4);
    expect((await client.stats("events")).available).toBe(1280);
  });

  it("sends a lone message at once, as one request with a deduplication id", async () => {
    const { client, requests } = await recordingClient(host, "producer-lone");
    await client.createQueue({ name: "lone" });
    const producer = client.producer("lone", { lingerMs: 0 });
    const before = requests.length;
    const sent = await producer.send({ body: "hello", attributes: { kind: "greeting" } });
    const lone = posts(requests.slice(before));
    expect(lone).toHaveLength(1);
    const [message] =
      (lone[0]?.body as { messages: { deduplicationId?: string }[] } | undefined)?.messages ?? [];
    expect(message).toMatchObject({ body: "hello", attributes: { kind: "greeting" } });
    expect(message?.deduplicationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.duplicate).toBe(false);
    const given = await producer.send({ body: "again", deduplicationId: "mine" });
    expect((await producer.send({ body: "again", deduplicationId: "mine" })).duplicate).toBe(true);
    expect((await client.peek("lone", given.messageId)).body).toBe("again");
  });

  it("generates time-ordered deduplication ids, which the server indexes at the end rather than at random", async () => {
    const { client, requests } = await recordingClient(host, "producer-ordered-ids");
    await client.createQueue({ name: "ordered-ids" });
    const producer = client.producer("ordered-ids", { maxInFlight: 1 });
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, n) => producer.send({ body: n })));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const ids = posts(requests).flatMap(
      (request) =>
        (request.body as { messages?: { deduplicationId?: string }[] }).messages?.map(
          (message) => message.deduplicationId ?? "",
        ) ?? [],
    );
    expect(ids).toHaveLength(100);
    expect(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7/.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(100);
  });

  it("fails only the message the server refuses", async () => {
    const { client, requests } = await recordingClient(host, "producer-items");
    await client.createQueue({ name: "strict", maxMessageBytes: 1024 });
    const producer = client.producer("strict");
    const before = requests.length;
    const outcomes = await Promise.allSettled([
      producer.send({ body: "fine" }),
      producer.send({ body: "loud", priority: 99 }),
      producer.send({ body: "x".repeat(2000) }),
      producer.send({ body: 1n }),
      producer.send({ body: "also fine" }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "rejected",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    const reason = (index: number) => (outcomes[index] as PromiseRejectedResult).reason as ConveyorApiError;
    expect(reason(1)).toBeInstanceOf(ConveyorApiError);
    expect([reason(1).status, reason(1).code]).toEqual([400, "validation_failed"]);
    expect([reason(2).status, reason(2).code]).toEqual([413, "payload_too_large"]);
    expect(reason(3)).toBeInstanceOf(TypeError); // a BigInt body cannot be JSON: refused before any request
    expect(posts(requests.slice(before))).toHaveLength(1);
    expect((await client.stats("strict")).available).toBe(2);
  });

  it("retries a 503 after its Retry-After, and a request whose answer was lost without doubling it", async () => {
    const admin = await host.admin("producer-retry");
    await admin.createQueue({ name: "retried" });
    const token = await host.token("producer-retry", { roles: ["admin"] });
    let posted = 0;
    const proxy = await startProxy(host.url, (request) => {
      if (request.method !== "POST") return "forward";
      posted++;
      if (posted === 1)
        return {
          status: 503,
          headers: { "content-type": "application/problem+json", "retry-after": "1" },
          body: JSON.stringify({
            type: "about:blank",
            title: "Service unavailable",
            status: 503,
            detail: "store",
            code: "unavailable",
          }),
        };
      return posted === 2 ? "lose-answer" : "forward";
    });
    try {
      const producer = new ConveyorClient({ baseUrl: proxy.url, token }).producer("retried");
      const started = Date.now();
      const sent = await producer.send({ body: "once" });
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(posted).toBe(3);
      // The second attempt was stored; the third is answered as its duplicate, which this send made.
      expect(sent.duplicate).toBe(false);
      const stats = await admin.stats("retried");
      expect([stats.available, stats.enqueuedTotal]).toEqual([1, 1]);
      expect((await admin.peek("retried", sent.messageId)).body).toBe("once");
    } finally {
      await proxy.close();
    }
  });

  it("cannot keep a lost answer from doubling a message on a queue that does not deduplicate", async () => {
    const admin = await host.admin("producer-window0");
    await admin.createQueue({ name: "nodedup", deduplicationWindowSeconds: 0 });
    const token = await host.token("producer-window0", { roles: ["admin"] });
    let posted = 0;
    const proxy = await startProxy(host.url, (request) =>
      request.method === "POST" && ++posted === 1 ? "lose-answer" : "forward",
    );
    try {
      await new ConveyorClient({ baseUrl: proxy.url, token }).producer("nodedup").send({ body: "twice" });
      expect((await admin.stats("nodedup")).available).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it("retries a 429 from the rate limit after its Retry-After", async () => {
    const limited = await startTestHost({ CONVEYOR_RATE_LIMIT_RPS: "1", CONVEYOR_RATE_LIMIT_BURST: "2" });
    try {
      const token = await limited.token("producer-429", { roles: ["admin"] });
      await new ConveyorClient({ baseUrl: limited.url, token }).createQueue({ name: "limited" });
      const answers: { status: number; retryAfter: string | null }[] = [];
      const producer = new ConveyorClient({
        baseUrl: limited.url,
        token,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          answers.push({ status: response.status, retryAfter: response.headers.get("retry-after") });
          return response;
        },
      }).producer("limited");
      for (let n = 0; n < 3; n++) await producer.send({ body: { n } });
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429, 200]);
      expect(Number(answers[2]?.retryAfter)).toBeGreaterThan(0);
      await sleep(1100); // a token for the stats request
      expect((await new ConveyorClient({ baseUrl: limited.url, token }).stats("limited")).enqueuedTotal).toBe(
        3,
      );
    } finally {
      await limited.close();
    }
  });
});

describe("ConveyorError", () => {
  it("is what a request that gets no answer fails with, instead of a bare TypeError", async () => {
    const client = new ConveyorClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    const refused = await client.health().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConveyorError);
    expect(refused).not.toBeInstanceOf(ConveyorApiError);
    expect(refused).toMatchObject({
      code: "connection_failed",
      message: expect.stringMatching(/ECONNREFUSED/),
    });

    const proxy = await startProxy(host.url, () => "hang");
    try {
      const slow = new ConveyorClient({ baseUrl: proxy.url, timeoutMs: 200 });
      await expect(slow.health()).rejects.toMatchObject({ name: "ConveyorError", code: "timeout" });
      // The caller's own abort is still an abort.
      const controller = new AbortController();
      const pending = slow.receive("q", { signal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    } finally {
      await proxy.close();
    }
  });

  it("is what an answer cut off mid-body fails with", async () => {
    const proxy = await startProxy(host.url, () => "cut-answer");
    try {
      await expect(new ConveyorClient({ baseUrl: proxy.url }).health()).rejects.toMatchObject({
        name: "ConveyorError",
        code: "connection_failed",
      });
    } finally {
      await proxy.close();
    }
  });

  it("goes through node:http in Node.js, not the global fetch, unless a fetch is given", async () => {
    const original = globalThis.fetch;
    globalThis.fetch = () => Promise.reject(new Error("the global fetch was called"));
    try {
      expect(await new ConveyorClient({ baseUrl: host.url }).health()).toMatchObject({ status: "ok" });
      const admin = await host.admin("node-fetch");
      await admin.createQueue({ name: "plain" });
      await admin.deleteQueue("plain"); // a 204, which has no body
    } finally {
      globalThis.fetch = original;
    }
  });

  it("is the base of ConveyorApiError, which keeps the problem's code and status", async () => {
    const error = await host
      .client()
      .getQueue("nope")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConveyorApiError);
    expect(error).toBeInstanceOf(ConveyorError);
    expect(error).toMatchObject({ status: 401, code: "unauthorized" });
  });
});
