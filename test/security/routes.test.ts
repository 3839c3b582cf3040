import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";

/**
 * Every route the API document lists, so a new route is covered the day it
 * is added: another tenant's credential finds nothing (the same 404 as a
 * resource that never existed), a credential without the grant is 403, and
 * every kind of bad credential is the same 401 with nothing of it echoed.
 */

interface Operation {
  method: string;
  path: string;
  operationId: string;
  public: boolean;
  hasBody: boolean;
}

/** A valid body for each route that takes one, so that checks run past validation. */
const BODIES: Record<string, (lease: string) => unknown> = {
  createQueue: () => ({ name: "brand-new" }),
  updateQueue: () => ({ visibilityTimeoutSeconds: 31 }),
  enqueue: () => ({ body: "x" }),
  settle: (lease) => ({ acks: [{ messageId: "m", leaseToken: lease }] }),
  redrive: () => ({ all: true }),
  ack: (lease) => ({ leaseToken: lease }),
  nack: (lease) => ({ leaseToken: lease }),
  extendLease: (lease) => ({ leaseToken: lease, visibilityTimeoutSeconds: 10 }),
  createKey: () => ({ name: "k", grants: { orders: ["read"] } }),
  createTopic: () => ({ name: "brand-new-topic" }),
  putSubscription: () => ({ queue: "orders" }),
  publish: () => ({ body: "x" }),
};

/** Routes that name no resource of the caller's tenant: nothing to find in another tenant. */
const TENANT_WIDE = new Set([
  "createQueue",
  "listQueues",
  "createKey",
  "listKeys",
  "createTopic",
  "listTopics",
]);

let host: TestHost;
let owner: ConveyorClient;
let operations: Operation[];
let resources: { messageId: string; leaseToken: string; keyId: string; apiKey: string };

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_RATE_LIMIT: "off" });
  owner = await host.admin("tenant-owner");
  await owner.createQueue({ name: "orders" });
  await owner.topics.create({ name: "orders" });
  await owner.topics.subscribe("orders", "billing", { queue: "orders" });
  const sent = (await owner.raw("POST", "/v1/queues/orders/messages", { body: { body: "secret" } })).body as {
    messageId: string;
  };
  await owner.raw("POST", "/v1/queues/orders/messages", { body: { body: "to lease" } });
  const {
    messages: [leased],
  } = (await owner.raw("GET", "/v1/queues/orders/messages?max=1")).body as {
    messages: { messageId: string; leaseToken: string }[];
  };
  const key = await owner.createKey({ name: "owner-key", grants: { orders: ["read"] } });
  resources = {
    messageId: sent.messageId,
    leaseToken: leased?.leaseToken ?? "none",
    keyId: key.id,
    apiKey: key.key,
  };
  const document = (await owner.raw("GET", "/v1/openapi.json")).body as {
    paths: Record<
      string,
      Record<string, { operationId: string; security?: unknown[]; requestBody?: unknown }>
    >;
  };
  operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operationId: operation.operationId,
      public: Array.isArray(operation.security) && operation.security.length === 0,
      hasBody: operation.requestBody !== undefined,
    })),
  );
});
afterAll(() => host.close());

const concrete = (path: string, names: { queue: string; messageId: string; taskId: string; id: string }) =>
  path
    .replace("{queue}", encodeURIComponent(names.queue))
    // Topics: the owner's topic shares the queue's name; its subscription is "billing".
    .replace("{topic}", encodeURIComponent(names.queue))
    .replace("{name}", names.queue === "orders" ? "billing" : "never-existed")
    .replace("{messageId}", encodeURIComponent(names.messageId))
    .replace("{taskId}", encodeURIComponent(names.taskId))
    .replace("{id}", encodeURIComponent(names.id))
    .replace("{*asset}", "index.html");

const ownersNames = () => ({
  queue: "orders",
  messageId: resources.messageId,
  taskId: "task_1",
  id: resources.keyId,
});
const neverExisted = { queue: "never-existed", messageId: "01never", taskId: "task_never", id: "key_never" };

function call(client: ConveyorClient, operation: Operation, names: Parameters<typeof concrete>[1]) {
  const body = operation.hasBody ? BODIES[operation.operationId]?.(resources.leaseToken) : undefined;
  // A long poll or a stream would wait; the route's answer before that is what is checked.
  const query = operation.operationId === "receive" ? "?wait=0" : "";
  const signal = operation.operationId === "queueEvents" ? AbortSignal.timeout(1500) : undefined;
  return client.raw(operation.method, concrete(operation.path, names) + query, { body, signal });
}

describe("every route in the API document", () => {
  it("has an example body here when it takes one", () => {
    const missing = operations.filter((operation) => operation.hasBody && !BODIES[operation.operationId]);
    expect(missing.map((operation) => operation.operationId)).toEqual([]);
    expect(operations.length).toBeGreaterThan(20);
  });

  it("shows another tenant nothing: the same 404 as a resource that never existed", async () => {
    const stranger = await host.admin("tenant-stranger");
    let compared = 0;
    for (const operation of operations) {
      if (operation.public || TENANT_WIDE.has(operation.operationId)) continue;
      const theirs = await call(stranger, operation, ownersNames());
      const nothing = await call(stranger, operation, neverExisted);
      const answer = (response: typeof theirs) => [
        operation.operationId,
        response.status,
        (response.body as { code?: string } | undefined)?.code,
      ];
      expect(answer(theirs)).toEqual(answer(nothing));
      expect(answer(theirs)[1]).toBe(404);
      compared++;
    }
    expect(compared).toBeGreaterThan(15);
    const listed = (await stranger.raw("GET", "/v1/queues")).body as { items: { name: string }[] };
    expect(listed.items.map((queue) => queue.name)).not.toContain("orders");
    const keys = (await stranger.raw("GET", "/v1/keys")).body as { items: { id: string }[] };
    expect(keys.items.map((key) => key.id)).not.toContain(resources.keyId);
    const peeked = await stranger.raw("GET", `/v1/queues/orders/messages/${resources.messageId}`);
    expect(JSON.stringify(peeked.body)).not.toContain("secret");
  });

  it("refuses a caller of the same tenant without the grant with 403", async () => {
    const member = host.client(await host.token("tenant-owner", { roles: [], sub: "user:nobody" }));
    const keyForOtherQueue = host.client(
      (
        await owner.createKey({
          name: "elsewhere",
          grants: { billing: ["manage", "send", "receive", "read"] },
        })
      ).key,
    );
    for (const caller of [member, keyForOtherQueue]) {
      for (const operation of operations) {
        if (operation.public || ["listQueues", "listTopics"].includes(operation.operationId)) continue;
        const response = await call(caller, operation, ownersNames());
        expect([operation.operationId, response.status]).toEqual([operation.operationId, 403]);
        expect((response.body as { code: string }).code).toBe("forbidden");
      }
    }
  });

  it("answers every kind of bad credential with the same 401, echoing none of it", async () => {
    const forged = await new SignJWT({ tid: "tenant-owner", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("conveyor-local")
      .setAudience("conveyor")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("a-key-that-is-not-the-servers-key!"));
    const expired = await host.token("tenant-owner", { roles: ["admin"], ttlSeconds: -120 });
    const keyId = resources.apiKey.split(".")[1];
    const credentials: [string, Record<string, string>][] = [
      ["none", {}],
      ["basic", { authorization: "Basic dXNlcjpwYXNz" }],
      ["empty bearer", { authorization: "Bearer " }],
      ["garbage", { authorization: "Bearer garbage-token-9f8e7d" }],
      ["forged JWT", { authorization: `Bearer ${forged}` }],
      ["expired JWT", { authorization: `Bearer ${expired}` }],
      ["unknown key", { authorization: `Bearer cvk.key_unknownunknown0000.${"s".repeat(40)}` }],
      ["wrong secret", { authorization: `Bearer cvk.${keyId}.${"w".repeat(40)}` }],
      ["header injection", { authorization: "Bearer a\u00e9b<script>" }],
    ];
    const anonymous = host.client();
    const shapes = new Set<string>();
    for (const operation of operations) {
      if (operation.public) continue;
      for (const [name, headers] of credentials) {
        const response = await anonymous.raw(operation.method, concrete(operation.path, ownersNames()), {
          headers,
          body: operation.hasBody ? BODIES[operation.operationId]?.(resources.leaseToken) : undefined,
        });
        expect([operation.operationId, name, response.status]).toEqual([operation.operationId, name, 401]);
        const problem = response.body as Record<string, unknown>;
        shapes.add(JSON.stringify([Object.keys(problem).sort(), problem.code, problem.title, problem.type]));
        const presented = headers.authorization?.replace(/^\w+\s*/, "") ?? "";
        if (presented.length > 3) expect(JSON.stringify(problem)).not.toContain(presented);
      }
    }
    expect([...shapes]).toHaveLength(1);
  });
});
