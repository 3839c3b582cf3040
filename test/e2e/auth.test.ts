import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routes } from "../../src/api/routes.js";
import { ConveyorApiError, type ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";

let host: TestHost;
let admin: ConveyorClient;

beforeAll(async () => {
  host = await startTestHost();
  admin = await host.admin("tenant-auth");
  await admin.createQueue({ name: "orders" });
  await admin.createQueue({ name: "billing" });
});
afterAll(() => host.close());

const statusOf = (call: Promise<unknown>) =>
  call.then(
    () => 200,
    (error: unknown) => (error instanceof ConveyorApiError ? error.status : -1),
  );

/** A concrete path for a route template, with the named queue. */
const pathOf = (template: string, queue: string) =>
  template
    .replace("{queue}", queue)
    .replace("{messageId}", "some-message")
    .replace("{taskId}", "task_x")
    .replace("{id}", "key_x")
    .replace("{*asset}", "index.html");

describe("authentication", () => {
  it("answers 401 without credentials on every route but health and the API document", async () => {
    const anonymous = host.client();
    for (const route of routes) {
      const response = await anonymous.raw(route.method, pathOf(route.path, "orders"), {
        body: route.body ? {} : undefined,
      });
      if (route.public) expect([route.name, response.status]).toEqual([route.name, 200]);
      else {
        expect([route.name, response.status]).toEqual([route.name, 401]);
        expect((response.body as { code: string }).code).toBe("unauthorized");
      }
    }
  });

  it("rejects tokens that are forged, expired, for another audience or without a tenant", async () => {
    const forgedKey = new TextEncoder().encode("not-the-server-key-not-the-server-key");
    const forged = await new SignJWT({ tid: "tenant-auth", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("conveyor-local")
      .setAudience("conveyor")
      .setExpirationTime("5m")
      .sign(forgedKey);
    const expired = await host.token("tenant-auth", { roles: ["admin"], ttlSeconds: -120 });
    for (const token of [
      forged,
      expired,
      "not-a-jwt",
      "cvk.key_0123456789abcdef.wrong-secret-wrong-secret-wrong-secret",
    ]) {
      expect(await statusOf(host.client(token).listQueues())).toBe(401);
    }
  });

  it("names the likely cause when a development token was signed with another data directory's key", async () => {
    const other = await startTestHost();
    try {
      const foreign = await other.token("tenant-auth", { roles: ["admin"] });
      const refused = await host.client(foreign).raw("GET", "/v1/queues");
      expect(refused.status).toBe(401);
      expect((refused.body as { detail: string }).detail).toMatch(
        /not signed with this server's key; mint development tokens with `conveyor token` and the server's CONVEYOR_DATA_DIR/,
      );
    } finally {
      await other.close();
    }
  });

  it("takes API keys, which admins create, list without secrets and revoke at once", async () => {
    const created = await admin.createKey({ name: "producer", grants: { orders: ["send"] } });
    expect(created.key).toMatch(/^cvk\.key_/);
    expect(created.id).toMatch(/^key_/);
    const producer = host.client(created.key);
    expect((await producer.send("orders", { body: "via key" })).duplicate).toBe(false);
    const listed = await admin.listKeys();
    expect(listed.items.map((key) => key.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.key.split(".")[2]);
    await admin.deleteKey(created.id);
    expect(await statusOf(producer.send("orders", { body: "revoked" }))).toBe(401);
    expect(await statusOf(admin.deleteKey(created.id))).toBe(404);
  });

  it("lets only admins manage keys", async () => {
    const user = host.client(await host.token("tenant-auth", { roles: ["Reader"] }));
    expect(await statusOf(user.createKey({ name: "x" }))).toBe(403);
    expect(await statusOf(user.listKeys())).toBe(403);
  });
});

describe("authorization", () => {
  it("enforces each grant: send, receive, read, manage", async () => {
    const sender = host.client((await admin.createKey({ name: "s", grants: { orders: ["send"] } })).key);
    expect(await statusOf(sender.send("orders", { body: 1 }))).toBe(200);
    expect(await statusOf(sender.receive("orders"))).toBe(403);
    expect(await statusOf(sender.stats("orders"))).toBe(403);
    expect(await statusOf(sender.purge("orders"))).toBe(403);
    expect(await statusOf(sender.send("billing", { body: 1 }))).toBe(403);

    const reader = host.client((await admin.createKey({ name: "r", grants: { "*": ["read"] } })).key);
    expect(await statusOf(reader.stats("billing"))).toBe(200);
    expect(await statusOf(reader.deadLetters("orders"))).toBe(200);
    expect(await statusOf(reader.redrive("orders", { all: true }))).toBe(403);
    expect(await statusOf(reader.updateQueue("orders", { maxDeliveries: 3 }))).toBe(403);
    expect(await statusOf(reader.createQueue({ name: "nope" }))).toBe(403);

    const manager = host.client(
      (await admin.createKey({ name: "m", grants: { orders: ["manage", "receive"] } })).key,
    );
    expect(await statusOf(manager.updateQueue("orders", { maxDeliveries: 3 }))).toBe(200);
    expect(await statusOf(manager.receive("orders"))).toBe(200);
  });

  it("grants through the queue's access list, by subject and by app role", async () => {
    await admin.createQueue({
      name: "shared",
      access: [
        { principal: "alice", grants: ["send"] },
        { principal: "Workers", grants: ["receive"] },
      ],
    });
    const alice = host.client(await host.token("tenant-auth", { sub: "alice" }));
    const worker = host.client(await host.token("tenant-auth", { sub: "w1", roles: ["Workers"] }));
    expect(await statusOf(alice.send("shared", { body: 1 }))).toBe(200);
    expect(await statusOf(alice.receive("shared"))).toBe(403);
    expect(await statusOf(worker.receive("shared"))).toBe(200);
    expect(await statusOf(worker.send("shared", { body: 1 }))).toBe(403);
    expect((await alice.listQueues()).items.map((queue) => queue.name)).toEqual(["shared"]);
  });

  it("answers 404, never 403, for another tenant's queue on every queue route", async () => {
    const intruder = await host.admin("tenant-intruder");
    const queueRoutes = routes.filter((route) => route.path.includes("{queue}"));
    expect(queueRoutes.length).toBeGreaterThan(10);
    const validBodies: Record<string, unknown> = {
      enqueue: { body: 1 },
      redrive: { all: true },
      extendLease: { leaseToken: "t", visibilityTimeoutSeconds: 1 },
      ack: { leaseToken: "t" },
      nack: { leaseToken: "t" },
      settle: { acks: [] },
      updateQueue: { maxDeliveries: 2 },
    };
    for (const route of queueRoutes) {
      expect(route.body === undefined || route.name in validBodies).toBe(true);
      const response = await intruder.raw(route.method, pathOf(route.path, "orders"), {
        body: validBodies[route.name],
      });
      expect([route.name, response.status, (response.body as { code: string }).code]).toEqual([
        route.name,
        404,
        "queue_not_found",
      ]);
    }
    expect((await admin.stats("orders")).enqueuedTotal).toBeGreaterThan(0);
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After and RateLimit headers once the bucket is empty", async () => {
    const limited = await startTestHost({ CONVEYOR_RATE_LIMIT_RPS: "1", CONVEYOR_RATE_LIMIT_BURST: "3" });
    const client = await limited.admin();
    await client.createQueue({ name: "q" });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof client.raw>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await client.raw("GET", "/v1/queues/q/stats");
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last?.headers.get("retry-after")).toBe("1");
    expect(last?.headers.get("ratelimit-limit")).toBe("3");
    expect(last?.headers.get("ratelimit-remaining")).toBe("0");
    expect((last?.body as { code?: string } | undefined)?.code).toBe("rate_limited");
    // Buckets are per tenant and queue: another queue of the same tenant is not limited yet.
    const otherQueue = await client.raw("GET", "/v1/queues/other/stats");
    expect(otherQueue.status).toBe(404);
    await limited.close();
  });

  it("can be switched off", async () => {
    const unlimited = await startTestHost({
      CONVEYOR_RATE_LIMIT: "off",
      CONVEYOR_RATE_LIMIT_RPS: "1",
      CONVEYOR_RATE_LIMIT_BURST: "1",
    });
    const client = await unlimited.admin();
    const responses = await Promise.all(Array.from({ length: 5 }, () => client.raw("GET", "/v1/queues")));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(responses[0]?.headers.get("ratelimit-limit")).toBeNull();
    await unlimited.close();
  });
});
