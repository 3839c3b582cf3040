import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { cosmosHostEnv } from "../cosmos-server.js";
import { apiError, startTestHost, type TestHost } from "../host.js";

/** The same suite on each store: topics must behave the same on SQLite and on Cosmos DB. */
for (const store of ["sqlite", "cosmos"] as const) {
  describe(`on ${store}`, () => {
    let host: TestHost;

    beforeAll(async () => {
      host = await startTestHost({
        CONVEYOR_RATE_LIMIT: "off",
        ...(store === "cosmos" ? await cosmosHostEnv() : {}),
      });
    });
    afterAll(() => host.close());

    /** Every message the queue holds now, leased and acked so the next call sees only newer ones. */
    async function drain(client: ConveyorClient, queue: string) {
      const all: {
        body: unknown;
        attributes: Record<string, string>;
        groupId: string | null;
        messageId: string;
      }[] = [];
      for (;;) {
        const batch = await client.receive(queue, { max: 100, wait: 0 });
        if (batch.length === 0) return all;
        for (const message of batch) await client.ack(queue, message.messageId, message.leaseToken);
        all.push(...batch);
      }
    }

    let tenants = 0;
    const tenantOf = new WeakMap<ConveyorClient, string>();

    async function tenantWith(
      queues: { name: string; ordering?: "standard" | "fifo"; maxMessageBytes?: number }[],
    ) {
      const tenant = `topics-${store}-${++tenants}`;
      const admin = await host.admin(tenant);
      tenantOf.set(admin, tenant);
      for (const queue of queues) await admin.createQueue(queue);
      await admin.topics.create({ name: "orders" });
      return admin;
    }

    describe("topics: fan-out", () => {
      it("copies each message once into every subscription whose filter matches, with the topic's attributes", async () => {
        const admin = await tenantWith([
          { name: "billing" },
          { name: "shipping" },
          { name: "eu" },
          { name: "all" },
        ]);
        await admin.topics.subscribe("orders", "billing", {
          queue: "billing",
          filter: { attributes: { type: ["order.created", "order.paid"] } },
        });
        await admin.topics.subscribe("orders", "shipping", {
          queue: "shipping",
          filter: { attributes: { type: ["order.paid"], test: { exists: false } } },
        });
        await admin.topics.subscribe("orders", "eu", {
          queue: "eu",
          filter: { attributes: { region: { prefix: "eu-" }, tier: { anythingBut: ["free"] } } },
        });
        await admin.topics.subscribe("orders", "all", { queue: "all" });

        const created = await admin.topics.publish("orders", {
          body: { id: 1 },
          attributes: { type: "order.created", region: "eu-west", tier: "gold" },
        });
        expect(created).toMatchObject({ subscriptions: 3, duplicate: false });
        const paidTest = await admin.topics.publish("orders", {
          body: { id: 2 },
          attributes: { type: "order.paid", test: "yes", region: "eu-north", tier: "free" },
        });
        expect(paidTest.subscriptions).toBe(2);
        const plain = await admin.topics.publish("orders", { body: { id: 3 } });
        expect(plain.subscriptions).toBe(1);

        const ids = async (queue: string) =>
          (await drain(admin, queue)).map((m) => (m.body as { id: number }).id);
        expect(await ids("billing")).toEqual([1, 2]);
        expect(await ids("shipping")).toEqual([]);
        expect(await ids("eu")).toEqual([1]);
        const all = await drain(admin, "all");
        expect(all.map((m) => (m.body as { id: number }).id)).toEqual([1, 2, 3]);
        expect(all[0]?.attributes).toEqual({
          type: "order.created",
          region: "eu-west",
          tier: "gold",
          "conveyor-topic": "orders",
          "conveyor-topic-message-id": created.messageId,
        });

        const topic = await admin.topics.get("orders");
        expect(topic.stats).toEqual({ publishedTotal: 3, deliveredTotal: 6, filteredTotal: 6 });
        const counts = new Map(topic.subscriptions.map((sub) => [sub.name, sub.stats.deliveredTotal]));
        expect(Object.fromEntries(counts)).toEqual({ all: 3, billing: 2, eu: 1, shipping: 0 });
        expect(topic.subscriptions.find((sub) => sub.name === "eu")?.filter).toEqual({
          attributes: { region: { prefix: "eu-" }, tier: { anythingBut: ["free"] } },
        });
      });

      it("answers a duplicate inside the window with the original and copies it no second time", async () => {
        const admin = await tenantWith([{ name: "a" }]);
        await admin.topics.subscribe("orders", "a", { queue: "a" });
        const first = await admin.topics.publish("orders", { body: "x", deduplicationId: "d-1" });
        const again = await admin.raw("POST", "/v1/topics/orders/messages", {
          body: { body: "other", deduplicationId: "d-1" },
        });
        expect(again.status).toBe(200);
        expect(again.body).toEqual({ messageId: first.messageId, subscriptions: 1, duplicate: true });
        const keyed = await admin.topics.publish("orders", { body: "y" }, { idempotencyKey: "k-1" });
        const keyedAgain = await admin.topics.publish("orders", { body: "y" }, { idempotencyKey: "k-1" });
        expect(keyedAgain).toEqual({ ...keyed, duplicate: true });
        expect((await drain(admin, "a")).map((m) => m.body)).toEqual(["x", "y"]);
        host.clock.advance(301);
        expect((await admin.topics.publish("orders", { body: "z", deduplicationId: "d-1" })).duplicate).toBe(
          false,
        );
        expect((await admin.topics.get("orders")).stats.publishedTotal).toBe(3);
      });

      it("gives a batch per-item results, in order, with duplicates and invalid items on their own", async () => {
        const admin = await tenantWith([{ name: "a" }]);
        await admin.topics.subscribe("orders", "a", { queue: "a" });
        const result = await admin.topics.publishBatch("orders", [
          { body: 1, deduplicationId: "same" },
          { body: 2, deduplicationId: "same" },
          { body: 3, priority: 42 } as never,
          { body: 4, attributes: { "conveyor-topic": "forged" } },
          { body: 5 },
        ]);
        expect(result.results.map((item) => [item.index, item.status])).toEqual([
          [0, 201],
          [1, 200],
          [2, 400],
          [3, 400],
          [4, 201],
        ]);
        expect(result.results[1]?.messageId).toBe(result.results[0]?.messageId);
        expect(result.results[3]?.error?.errors?.[0]?.path).toBe("attributes.conveyor-topic");
        expect((await drain(admin, "a")).map((m) => m.body)).toEqual([1, 5]);
      });

      it("keeps each group's publish order into a fifo subscription queue", async () => {
        const admin = await tenantWith([{ name: "ordered", ordering: "fifo" }]);
        await admin.topics.subscribe("orders", "ordered", { queue: "ordered" });
        const sends = [];
        for (let i = 0; i < 30; i++)
          sends.push(admin.topics.publish("orders", { body: i, groupId: `g${i % 3}` }));
        await Promise.all(sends);
        const batch = await admin.topics.publishBatch(
          "orders",
          Array.from({ length: 30 }, (_, i) => ({ body: 30 + i, groupId: `g${i % 3}` })),
        );
        expect(batch.results.every((item) => item.status === 201)).toBe(true);
        const received = await drain(admin, "ordered");
        expect(received).toHaveLength(60);
        for (const group of ["g0", "g1", "g2"]) {
          const bodies = received.filter((m) => m.groupId === group).map((m) => m.body as number);
          expect(bodies).toEqual([...bodies].sort((a, b) => a - b));
          expect(bodies).toHaveLength(20);
        }
      });

      it("counts a copy a queue refuses on its subscription without blocking the others", async () => {
        const admin = await tenantWith([
          { name: "fine" },
          { name: "strict", ordering: "fifo" },
          { name: "small", maxMessageBytes: 10 },
          { name: "doomed" },
        ]);
        for (const name of ["fine", "strict", "small", "doomed"])
          await admin.topics.subscribe("orders", name, { queue: name });
        await admin.deleteQueue("doomed");
        const published = await admin.topics.publish("orders", {
          body: "a body longer than ten bytes",
          priority: 5,
        });
        expect(published.subscriptions).toBe(4);
        expect(await drain(admin, "fine")).toHaveLength(1);
        const subs = new Map(
          (await admin.topics.subscriptions("orders")).map((sub) => [sub.name, sub.stats]),
        );
        expect(subs.get("fine")).toEqual({ deliveredTotal: 1, undeliverableTotal: 0, lastError: null });
        expect(subs.get("strict")).toMatchObject({ deliveredTotal: 0, undeliverableTotal: 1 });
        expect(subs.get("strict")?.lastError).toMatch(/^validation_failed: priority/);
        expect(subs.get("small")?.lastError).toMatch(/^payload_too_large/);
        expect(subs.get("doomed")?.lastError).toMatch(/^queue_not_found/);
        expect((await admin.topics.get("orders")).stats.deliveredTotal).toBe(1);
      });

      it("stops copying into a queue once unsubscribed, and deleting the topic keeps the queues' messages", async () => {
        const admin = await tenantWith([{ name: "a" }, { name: "b" }]);
        const created = await admin.topics.subscribe("orders", "a", { queue: "a" });
        expect(created.created).toBe(true);
        await admin.topics.subscribe("orders", "b", { queue: "b" });
        await admin.topics.publish("orders", { body: 1 });
        await admin.topics.unsubscribe("orders", "a");
        expect((await apiError(admin.topics.subscription("orders", "a"))).status).toBe(404);
        expect((await admin.topics.publish("orders", { body: 2 })).subscriptions).toBe(1);
        const replaced = await admin.topics.subscribe("orders", "b", { queue: "a" });
        expect(replaced).toMatchObject({ created: false, queue: "a" });
        await admin.topics.publish("orders", { body: 3 });
        await admin.topics.delete("orders");
        expect((await apiError(admin.topics.get("orders"))).code).toBe("topic_not_found");
        expect((await drain(admin, "a")).map((m) => m.body)).toEqual([1, 3]);
        expect((await drain(admin, "b")).map((m) => m.body)).toEqual([1, 2]);
      });
    });

    describe("topics: live events", () => {
      it("adds topic.published to a subscription queue's stream for each copy", async () => {
        const admin = await tenantWith([{ name: "watched" }]);
        await admin.topics.subscribe("orders", "watched", { queue: "watched" });
        const abort = new AbortController();
        const events: { event: string; data: unknown }[] = [];
        const pump = (async () => {
          for await (const event of admin.events("watched", abort.signal)) events.push(event);
        })().catch(() => undefined);
        const seen = (type: string) => expect.poll(() => events.some((e) => e.event === type)).toBe(true);
        await seen("queue.stats");
        const published = await admin.topics.publish("orders", { body: "hello" });
        await seen("topic.published");
        await seen("topic.stats");
        abort.abort();
        await pump;
        // The subscription's counters beside the topic's, as queue.stats carries a queue's.
        expect(events.find((e) => e.event === "topic.stats")?.data).toEqual({
          topic: "orders",
          subscription: "watched",
          publishedTotal: 1,
          deliveredTotal: 1,
          filteredTotal: 0,
          subscriptionStats: { deliveredTotal: 1, undeliverableTotal: 0, lastError: null },
        });
        expect(events.find((e) => e.event === "topic.published")?.data).toEqual({
          topic: "orders",
          subscription: "watched",
          topicMessageId: published.messageId,
          messageId: (await drain(admin, "watched"))[0]?.messageId,
          delivered: true,
        });
      });
    });

    describe("topics: validation and grants", () => {
      it("refuses a malformed filter with the path of the bad part, and an unknown queue with 404", async () => {
        const admin = await tenantWith([{ name: "a" }]);
        const bad = await apiError(
          admin.topics.subscribe("orders", "s", {
            queue: "a",
            filter: { attributes: { type: { prefix: 3 } } },
          }),
        );
        expect(bad.status).toBe(400);
        expect(bad.problem?.errors).toEqual([
          { path: "filter.attributes.type.prefix", message: "expected a string" },
        ]);
        const unknown = await apiError(admin.topics.subscribe("orders", "s", { queue: "nope" }));
        expect([unknown.status, unknown.code]).toEqual([404, "queue_not_found"]);
        expect((await apiError(admin.topics.create({ name: "orders" }))).status).toBe(409);
      });

      it("needs publish to publish, read to look, manage on the topic and on the queue to subscribe", async () => {
        const admin = await tenantWith([{ name: "mine" }]);
        const token = (sub: string) =>
          host.token(tenantOf.get(admin) as string, { sub }).then((bearer) => host.client(bearer));
        await admin.topics.create({
          name: "guarded",
          access: [
            { principal: "user:publisher", grants: ["publish"] },
            { principal: "user:manager", grants: ["manage", "read"] },
          ],
        });
        const publisher = await token("user:publisher");
        const manager = await token("user:manager");
        expect((await publisher.topics.publish("guarded", { body: 1 })).subscriptions).toBe(0);
        expect((await apiError(publisher.topics.get("guarded"))).code).toBe("forbidden");
        expect((await publisher.topics.list()).items.map((topic) => topic.name)).toEqual(["guarded"]);
        expect((await apiError(manager.topics.publish("guarded", { body: 1 }))).code).toBe("forbidden");
        expect((await manager.topics.get("guarded")).grants).toEqual(["read", "manage"]);
        const noQueueGrant = await apiError(manager.topics.subscribe("guarded", "s", { queue: "mine" }));
        expect([noQueueGrant.status, noQueueGrant.code]).toEqual([403, "forbidden"]);
        expect((await apiError(manager.topics.create({ name: "theirs" }))).code).toBe("forbidden");
      });
    });
  });
}
