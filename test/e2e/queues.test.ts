import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routes } from "../../src/api/routes.js";
import type { ConveyorClient } from "../../src/client/index.js";
import { apiError, startTestHost, type TestHost } from "../host.js";

let host: TestHost;
let admin: ConveyorClient;

beforeAll(async () => {
  host = await startTestHost();
  admin = await host.admin();
});
afterAll(() => host.close());

describe("queues", () => {
  it("creates a queue with defaults and shows it with its stats", async () => {
    const created = await admin.createQueue({ name: "orders" });
    expect(created).toMatchObject({
      name: "orders",
      ordering: "standard",
      visibilityTimeoutSeconds: 30,
      maxDeliveries: 5,
      retry: { initialDelaySeconds: 1, maxDelaySeconds: 600, multiplier: 2, jitter: true },
      messageTtlSeconds: 604_800,
      deduplicationWindowSeconds: 300,
      maxMessageBytes: 262_144,
    });
    expect(created.id).toMatch(/^q_/);
    const shown = await admin.getQueue("orders");
    expect(shown.stats).toMatchObject({ available: 0, inFlight: 0, enqueuedTotal: 0 });
    expect(shown).not.toHaveProperty("tenantId");
  });

  it("says on the queue what the caller may do there", async () => {
    await admin.createQueue({ name: "granted" });
    expect((await admin.getQueue("granted")).grants).toEqual(["send", "receive", "read", "manage"]);
    const reader = await admin.createKey({ name: "reader", grants: { granted: ["read"], other: ["send"] } });
    expect((await host.client(reader.key).getQueue("granted")).grants).toEqual(["read"]);
  });

  it("answers 409 conflict for a name the tenant already has", async () => {
    await admin.createQueue({ name: "dup" });
    const error = await apiError(admin.createQueue({ name: "dup" }));
    expect([error.status, error.code]).toEqual([409, "conflict"]);
  });

  it("answers 400 with the offending fields for invalid settings", async () => {
    const response = await admin.raw("POST", "/v1/queues", {
      body: { name: "Bad Name", visibilityTimeoutSeconds: 0, maxDeliveries: 5000, surprise: true },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const problem = response.body as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe("validation_failed");
    expect(problem.errors.map((error) => error.path).sort()).toEqual(
      ["", "maxDeliveries", "name", "visibilityTimeoutSeconds"].sort(),
    );
  });

  it("lists queues in pages", async () => {
    const client = await host.admin();
    for (const name of ["q-a", "q-b", "q-c"]) await client.createQueue({ name });
    const first = await client.listQueues({ limit: 2 });
    expect(first.items.map((queue) => queue.name)).toEqual(["q-a", "q-b"]);
    const second = await client.listQueues({ limit: 2, cursor: first.nextCursor });
    expect(second.items.map((queue) => queue.name)).toEqual(["q-c"]);
    expect(second.nextCursor).toBeUndefined();
    const bad = await client.raw("GET", "/v1/queues?cursor=garbage");
    expect(bad.status).toBe(400);
  });

  it("updates settings but not the name or ordering", async () => {
    await admin.createQueue({ name: "tunable" });
    const updated = await admin.updateQueue("tunable", {
      visibilityTimeoutSeconds: 120,
      retry: { multiplier: 3 },
    });
    expect(updated).toMatchObject({
      visibilityTimeoutSeconds: 120,
      retry: { multiplier: 3, initialDelaySeconds: 1 },
    });
    const renamed = await admin.raw("PATCH", "/v1/queues/tunable", { body: { name: "other" } });
    expect(renamed.status).toBe(400);
    const reordered = await admin.raw("PATCH", "/v1/queues/tunable", { body: { ordering: "fifo" } });
    expect(reordered.status).toBe(400);
  });

  it("deletes a queue and everything in it", async () => {
    await admin.createQueue({ name: "doomed" });
    await admin.send("doomed", { body: "x" });
    await admin.deleteQueue("doomed");
    const error = await apiError(admin.getQueue("doomed"));
    expect([error.status, error.code]).toEqual([404, "queue_not_found"]);
    await admin.createQueue({ name: "doomed" });
    expect((await admin.stats("doomed")).available).toBe(0);
  });
});

describe("sharded queues", () => {
  const pathsOf = (response: { body: unknown }) =>
    (response.body as { errors?: { path: string }[] }).errors?.map((error) => error.path);

  it("has one partition by default and takes 1 to 64 at creation", async () => {
    expect((await admin.createQueue({ name: "one-shard" })).partitions).toBe(1);
    expect((await admin.createQueue({ name: "four-shards", partitions: 4 })).partitions).toBe(4);
    expect((await admin.getQueue("four-shards")).partitions).toBe(4);
    for (const partitions of [0, 65, 1.5]) {
      const response = await admin.raw("POST", "/v1/queues", { body: { name: "bad-shards", partitions } });
      expect([response.status, pathsOf(response)]).toEqual([400, ["partitions"]]);
    }
  });

  it("lets a standard queue grow its partitions but never shrink them", async () => {
    await admin.createQueue({ name: "growing", partitions: 2 });
    expect((await admin.updateQueue("growing", { partitions: 8 })).partitions).toBe(8);
    const shrink = await admin.raw("PATCH", "/v1/queues/growing", { body: { partitions: 4 } });
    expect([shrink.status, pathsOf(shrink)]).toEqual([400, ["partitions"]]);
    expect((await admin.getQueue("growing")).partitions).toBe(8);
  });

  it("never changes a fifo queue's partitions, which its groups are hashed to", async () => {
    await admin.createQueue({ name: "fixed-fifo", ordering: "fifo", partitions: 4 });
    const grow = await admin.raw("PATCH", "/v1/queues/fixed-fifo", { body: { partitions: 8 } });
    expect([grow.status, pathsOf(grow)]).toEqual([400, ["partitions"]]);
    expect((await admin.updateQueue("fixed-fifo", { partitions: 4 })).partitions).toBe(4);
  });

  it("keeps each fifo group in order across partitions", async () => {
    await admin.createQueue({ name: "fifo-shards", ordering: "fifo", partitions: 4 });
    const groups = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];
    await admin.sendBatch(
      "fifo-shards",
      [0, 1, 2].flatMap((n) => groups.map((groupId) => ({ body: `${groupId}-${n}`, groupId }))),
    );
    const seen = new Map<string, string[]>();
    for (let round = 0; round < 10; round++) {
      const batch = await admin.receive("fifo-shards", { max: 5 });
      for (const message of batch) {
        const group = message.groupId ?? "";
        seen.set(group, [...(seen.get(group) ?? []), message.body as string]);
        await admin.ack("fifo-shards", message.messageId, message.leaseToken);
      }
    }
    expect(new Map([...seen].sort())).toEqual(
      new Map(groups.map((g) => [g, [`${g}-0`, `${g}-1`, `${g}-2`]])),
    );
  });

  it("deduplicates across partitions, and sums stats over them", async () => {
    await admin.createQueue({ name: "dedup-shards", partitions: 4 });
    const first = await admin.send("dedup-shards", { body: 1, deduplicationId: "order-7" });
    const again = await admin.send("dedup-shards", { body: 2, deduplicationId: "order-7" });
    expect(again.messageId).toBe(first.messageId);
    await admin.sendBatch(
      "dedup-shards",
      Array.from({ length: 39 }, (_, index) => ({ body: index })),
    );
    expect(await admin.stats("dedup-shards")).toMatchObject({ available: 40, enqueuedTotal: 40 });
    const leased = [
      ...(await admin.receive("dedup-shards", { max: 25 })),
      ...(await admin.receive("dedup-shards", { max: 25 })),
    ];
    expect(new Set(leased.map((message) => message.messageId)).size).toBe(40);
    for (const message of leased.slice(0, 10))
      await admin.ack("dedup-shards", message.messageId, message.leaseToken);
    expect(await admin.stats("dedup-shards")).toMatchObject({ available: 0, inFlight: 30, ackedTotal: 10 });
  });
});

describe("protocol", () => {
  it("echoes x-request-id, or makes one up", async () => {
    const echoed = await admin.raw("GET", "/v1/queues", { headers: { "x-request-id": "trace-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-123");
    const made = await admin.raw("GET", "/v1/queues");
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const missing = await host.client().raw("GET", "/v1/nowhere");
    expect(missing.headers.get("x-request-id")).toBeTruthy();
  });

  it("routes a request target with dot segments, escapes and a query as its normalized path", async () => {
    const token = await host.token("normalizing", { roles: ["admin"] });
    await host.client(token).createQueue({ name: "n1" });
    // fetch would normalize the target itself, so this goes out as written, over node:http.
    const { request } = await import("node:http");
    const statusOf = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(host.url);
        const headers = { authorization: `Bearer ${token}` };
        const call = request({ hostname, port, path, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        call.on("error", reject);
        call.end();
      });
    expect(await statusOf("/v1/./queues/elsewhere/../n1")).toBe(200);
    expect(await statusOf("/v1/queues/%6E1?x=1")).toBe(200);
    expect(await statusOf("/v1/queues/elsewhere/../n2")).toBe(404);
  });

  it("answers 415 for a body that is not JSON", async () => {
    const response = await admin.raw("POST", "/v1/queues", {
      rawBody: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(response.status).toBe(415);
    expect((response.body as { code: string }).code).toBe("unsupported_media_type");
  });

  it("answers 400 for malformed JSON", async () => {
    const response = await admin.raw("POST", "/v1/queues", {
      rawBody: "{nope",
      headers: { "content-type": "application/json" },
    });
    expect([response.status, (response.body as { code: string }).code]).toEqual([400, "validation_failed"]);
  });

  it("answers 413 for a request body over 4 MiB", async () => {
    await admin.createQueue({ name: "big" });
    const response = await admin.raw("POST", "/v1/queues/big/messages", {
      rawBody: JSON.stringify({ body: "x".repeat(4 * 1024 * 1024 + 10) }),
      headers: { "content-type": "application/json" },
    });
    expect([response.status, (response.body as { code: string }).code]).toEqual([413, "payload_too_large"]);
  });

  it("answers an unknown route and a wrong method with problem documents", async () => {
    const missing = await admin.raw("GET", "/v1/nowhere");
    expect([missing.status, (missing.body as { code: string }).code]).toEqual([404, "not_found"]);
    const wrongMethod = await admin.raw("PUT", "/v1/queues");
    expect([wrongMethod.status, (wrongMethod.body as { code: string }).code]).toEqual([
      405,
      "method_not_allowed",
    ]);
    expect(wrongMethod.headers.get("allow")).toBe("GET, POST");
    expect((await admin.raw("PUT", "/v1/queues/some-queue/messages")).headers.get("allow")).toBe(
      "GET, POST, DELETE",
    );
  });

  it("reports health without credentials", async () => {
    expect(await host.client().health()).toMatchObject({ status: "ok", store: "sqlite" });
  });

  it("serves an OpenAPI 3.1 document with every route and its request schemas", async () => {
    const document = (await host.client().openApi()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string; requestBody?: unknown }>>;
    };
    expect(document.openapi).toBe("3.1.0");
    const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods));
    expect(operations.map((operation) => operation.operationId).sort()).toEqual(
      routes.map((route) => route.name).sort(),
    );
    const create = document.paths["/v1/queues"]?.post as {
      requestBody: { content: Record<string, { schema: { $ref: string } }> };
    };
    const reference = create.requestBody.content["application/json"]?.schema.$ref ?? "";
    expect(reference).toBe("#/components/schemas/CreateQueue");
    const components = (
      document as unknown as { components: { schemas: Record<string, Record<string, unknown>> } }
    ).components.schemas;
    const schema = components[reference.split("/").pop() as string];
    expect(schema?.properties).toHaveProperty("visibilityTimeoutSeconds");
    expect(schema?.additionalProperties).toBe(false);
    const references = JSON.stringify(document).matchAll(/"#\/components\/schemas\/([^"]+)"/g);
    for (const [, name] of references) expect(components).toHaveProperty(name as string);
  });

  it("answers 503 with Retry-After when the store is down, and health says so", async () => {
    const doomed = await startTestHost();
    const client = await doomed.admin();
    await client.createQueue({ name: "q" });
    await doomed.conveyor.context.store.close();
    const response = await client.raw("GET", "/v1/queues/q/stats");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(JSON.stringify(response.body)).not.toMatch(/at .*\.js/);
    expect((await doomed.client().raw("GET", "/v1/health")).status).toBe(503);
    await doomed.close();
  });
});

// On Azure the change feed keeps the history (test/functions-push.test.ts); here the SQLite change stream does.
describe("the stats history", () => {
  it("keeps a changing queue's stats every ten seconds, the same for every reader, ending with now", async () => {
    const queue = "charted";
    await admin.createQueue({ name: queue });
    const waitForSamples = async (count: number) => {
      for (let tries = 0; tries < 50; tries++) {
        const history = await admin.metrics(queue);
        if (history.points.length >= count + 1) return history;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`fewer than ${count} samples`);
    };
    await admin.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    await waitForSamples(1);
    host.clock.advance(11);
    const received = await admin.receive(queue, { max: 2 });
    await admin.settle(queue, {
      acks: received.map(({ messageId, leaseToken }) => ({ messageId, leaseToken })),
    });
    const history = await waitForSamples(2);
    expect(history.sampleEverySeconds).toBe(10);
    const totals = history.points.map((point) => [point.enqueuedTotal, point.ackedTotal]);
    expect(totals.at(-1)).toEqual([3, 2]);
    expect(totals[0]).toEqual([3, 0]);
    const times = history.points.map((point) => Date.parse(point.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[1] as number).toBeGreaterThanOrEqual((times[0] as number) + 10_000);
    const stranger = await host.admin();
    expect((await stranger.raw("GET", `/v1/queues/${queue}/metrics`)).status).toBe(404);
    expect((await admin.raw("GET", `/v1/queues/${queue}/metrics?minutes=61`)).status).toBe(400);
  });
});
