import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";

let host: TestHost;
let client: ConveyorClient;
let token: string;

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_BACKLOG_ALERT_SECONDS: "10" });
  ({ token, client } = await host.adminSession("events-tenant"));
});
afterAll(() => host.close());

interface ServerSentEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Follows a queue's events over a real socket with the typed client, collecting them as they come. */
function openStream(queue: string) {
  const abort = new AbortController();
  const events: ServerSentEvent[] = [];
  const pump = (async () => {
    for await (const { event, data } of client.events(queue, abort.signal)) {
      events.push({ event, data: data as Record<string, unknown> });
    }
  })().catch(() => undefined);
  const next = async (type: string, timeoutMs = 5000): Promise<ServerSentEvent> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = events.findIndex((event) => event.event === type);
      if (index >= 0) return events.splice(index, 1)[0] as ServerSentEvent;
      if (Date.now() > deadline)
        throw new Error(`no ${type} event; saw ${events.map((e) => e.event).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return {
    next,
    close: async () => {
      abort.abort();
      await pump;
    },
  };
}

describe("live queue events (Server-Sent Events on the local host)", () => {
  it("streams the queue's stats at once, then dead-letter events as they happen", async () => {
    await client.createQueue({ name: "watched" });
    const head = new AbortController();
    const response = await fetch(`${host.url}/v1/queues/watched/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: head.signal,
    });
    expect([response.status, response.headers.get("content-type")]).toEqual([200, "text/event-stream"]);
    head.abort();
    const stream = openStream("watched");
    expect((await stream.next("queue.stats")).data).toMatchObject({ queue: "watched", available: 0 });

    await client.send("watched", { body: "poison" });
    const [message] = await client.receive("watched");
    await client.nack("watched", message?.messageId ?? "", message?.leaseToken ?? "", {
      deadLetter: true,
      error: "cannot parse",
    });
    expect((await stream.next("message.dead_lettered")).data).toMatchObject({
      queue: "watched",
      messageId: message?.messageId,
      reason: "rejected",
      lastError: "cannot parse",
    });
    await stream.close();
  });

  it("raises queue.backlog when the oldest message gets older than the threshold, and when it recovers", async () => {
    await client.createQueue({ name: "slow" });
    const stream = openStream("slow");
    await client.send("slow", { body: 1 });
    host.clock.advance(11);
    await client.send("slow", { body: 2 });
    expect((await stream.next("queue.backlog")).data).toMatchObject({
      queue: "slow",
      state: "over",
      thresholdSeconds: 10,
    });
    host.clock.advance(2);
    const received = await client.receive("slow", { max: 10 });
    await client.settle("slow", {
      acks: received.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken })),
    });
    expect((await stream.next("queue.backlog")).data).toMatchObject({ queue: "slow", state: "under" });
    await stream.close();
  });

  it("tells a dashboard where to connect", async () => {
    await client.createQueue({ name: "negotiated" });
    expect(await client.raw("GET", "/v1/queues/negotiated/events/negotiate")).toMatchObject({
      status: 200,
      body: { transport: "sse", url: "/v1/queues/negotiated/events" },
    });
  });

  it("keeps events to the queue's own tenant and to callers with the read grant", async () => {
    await client.createQueue({ name: "private-events" });
    const stranger = host.client(await host.token("someone-else", { roles: ["admin"] }));
    expect((await stranger.raw("GET", "/v1/queues/private-events/events")).status).toBe(404);
    const sender = host.client(
      (await client.createKey({ name: "s", grants: { "private-events": ["send"] } })).key,
    );
    expect((await sender.raw("GET", "/v1/queues/private-events/events")).status).toBe(403);
    expect((await host.client().raw("GET", "/v1/queues/private-events/events")).status).toBe(401);
  });
});
