import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyAlreadyRead } from "../../src/api/http.js";
import type { ConveyorClient } from "../../src/client/index.js";
import { apiError, startHostOn, type TestHost } from "../host.js";

/**
 * The same suite on each store, with queues of one partition and of four: the
 * API must behave the same on SQLite and on Cosmos DB, sharded or not.
 */
for (const [store, partitions] of [
  ["sqlite", 1],
  ["sqlite", 4],
  ["cosmos", 1],
  ["cosmos", 4],
] as const) {
  describe(`on ${store}, ${partitions} partition(s)`, () => {
    let host: TestHost;
    let client: ConveyorClient;
    let queues = 0;

    beforeAll(async () => {
      ({ host, client } = await startHostOn(store));
    });
    afterAll(() => host.close());

    const newQueue = async (
      settings: Parameters<ConveyorClient["createQueue"]>[0] extends infer T ? Partial<T> : never = {},
    ) => {
      const name = `m-${++queues}`;
      await client.createQueue({ name, partitions, ...settings });
      return name;
    };

    describe("enqueue", () => {
      it("answers 201 with the id, an increasing sequence and the times", async () => {
        const queue = await newQueue();
        const response = await client.raw("POST", `/v1/queues/${queue}/messages`, {
          body: { body: { orderId: 1 }, attributes: { type: "order" } },
        });
        expect(response.status).toBe(201);
        const first = response.body as {
          messageId: string;
          sequence: number;
          enqueuedAt: string;
          visibleAt: string;
        };
        expect(first).toMatchObject({ duplicate: false });
        expect(first.messageId).toBeTruthy();
        expect(Number.isSafeInteger(first.sequence) && first.sequence > 0).toBe(true);
        expect(first.visibleAt).toBe(first.enqueuedAt);
        const second = await client.send(queue, { body: { orderId: 2 } });
        expect(second.sequence).toBeGreaterThan(first.sequence);
      });

      it("deduplicates by deduplicationId and by Idempotency-Key: 200 with the original", async () => {
        const queue = await newQueue();
        const first = await client.send(queue, { body: 1, deduplicationId: "order-1001" });
        const again = await client.raw("POST", `/v1/queues/${queue}/messages`, {
          body: { body: 2, deduplicationId: "order-1001" },
        });
        expect(again.status).toBe(200);
        expect(again.body).toMatchObject({ messageId: first.messageId, duplicate: true });
        const keyed = await client.send(queue, { body: 3 }, { idempotencyKey: "k-1" });
        const keyedAgain = await client.send(queue, { body: 4 }, { idempotencyKey: "k-1" });
        expect(keyedAgain).toMatchObject({ messageId: keyed.messageId, duplicate: true });
        expect((await client.stats(queue)).available).toBe(2);
      });

      it("deduplicates a fifo queue on the body when no id is given", async () => {
        const queue = await newQueue({ ordering: "fifo" });
        const first = await client.send(queue, { body: { same: true } });
        const second = await client.send(queue, { body: { same: true } });
        const different = await client.send(queue, { body: { same: false } });
        expect(second).toMatchObject({ messageId: first.messageId, duplicate: true });
        expect(different.duplicate).toBe(false);
      });

      it("honours the dedup window after the first message was acked", async () => {
        const queue = await newQueue();
        const sent = await client.send(queue, { body: "once", deduplicationId: "d" });
        const [message] = await client.receive(queue);
        await client.ack(queue, message?.messageId ?? "", message?.leaseToken ?? "");
        expect(await client.send(queue, { body: "once", deduplicationId: "d" })).toMatchObject({
          messageId: sent.messageId,
          duplicate: true,
        });
        expect(await client.receive(queue)).toEqual([]);
      });

      it("refuses a body over the queue's maxMessageBytes with 413", async () => {
        const queue = await newQueue({ maxMessageBytes: 100 });
        const error = await apiError(client.send(queue, { body: "x".repeat(200) }));
        expect([error.status, error.code]).toEqual([413, "payload_too_large"]);
      });

      it("enqueues a batch item by item: each succeeds or fails on its own", async () => {
        const queue = await newQueue({ maxMessageBytes: 100 });
        const result = await client.raw("POST", `/v1/queues/${queue}/messages`, {
          body: {
            messages: [
              { body: "a" },
              { body: "b", priority: 42 },
              { body: "x".repeat(200) },
              { body: "d", deduplicationId: "same" },
              { body: "e", deduplicationId: "same" },
            ],
          },
        });
        expect(result.status).toBe(200);
        const results = (
          result.body as { results: { index: number; status: number; error?: { code: string } }[] }
        ).results;
        expect(results.map((item) => [item.index, item.status, item.error?.code])).toEqual([
          [0, 201, undefined],
          [1, 400, "validation_failed"],
          [2, 413, "payload_too_large"],
          [3, 201, undefined],
          [4, 200, undefined],
        ]);
        expect((await client.stats(queue)).available).toBe(2);
      });

      it("answers 400 for a malformed batch: empty, or over 100 messages", async () => {
        const queue = await newQueue();
        const empty = await client.raw("POST", `/v1/queues/${queue}/messages`, { body: { messages: [] } });
        const tooMany = await client.raw("POST", `/v1/queues/${queue}/messages`, {
          body: { messages: Array.from({ length: 101 }, () => ({ body: 1 })) },
        });
        expect([empty.status, tooMany.status]).toEqual([400, 400]);
      });

      it("refuses priority on a fifo queue", async () => {
        const queue = await newQueue({ ordering: "fifo" });
        expect((await apiError(client.send(queue, { body: 1, priority: 3 }))).status).toBe(400);
      });
    });

    describe("receive", () => {
      it("delivers priority first, then arrival order, with lease tokens and no-store caching", async () => {
        const queue = await newQueue();
        await client.sendBatch(queue, [
          { body: "low-1", priority: 0 },
          { body: "high", priority: 9 },
          { body: "low-2", priority: 0 },
          { body: "mid", priority: 5 },
        ]);
        const response = await client.raw("GET", `/v1/queues/${queue}/messages?max=10`);
        expect(response.headers.get("cache-control")).toBe("no-store");
        const messages = (
          response.body as { messages: { body: string; leaseToken: string; deliveryCount: number }[] }
        ).messages;
        expect(messages.map((m) => m.body)).toEqual(["high", "mid", "low-1", "low-2"]);
        expect(messages.every((m) => m.leaseToken && m.deliveryCount === 1)).toBe(true);
      });

      it("delivers each fifo group in order and holds a group while it is leased", async () => {
        const queue = await newQueue({ ordering: "fifo" });
        await client.sendBatch(queue, [
          { body: "a1", groupId: "a" },
          { body: "b1", groupId: "b" },
          { body: "a2", groupId: "a" },
          { body: "b2", groupId: "b" },
        ]);
        const first = await client.receive(queue, { max: 1 });
        const second = await client.receive(queue, { max: 10 });
        // A group's head first; which group comes first is best effort once groups are in different partitions.
        const [group, other] = first[0]?.body === "b1" ? ["b", "a"] : ["a", "b"];
        expect(first.map((m) => m.body)).toEqual([`${group}1`]);
        expect(second.map((m) => m.body)).toEqual([`${other}1`, `${other}2`]);
        expect(await client.receive(queue, { max: 10 })).toEqual([]);
        await client.ack(queue, first[0]?.messageId ?? "", first[0]?.leaseToken ?? "");
        expect((await client.receive(queue, { max: 10 })).map((m) => m.body)).toEqual([`${group}2`]);
      });

      it("hides a delayed message until it is due", async () => {
        const queue = await newQueue();
        await client.send(queue, { body: "later", delaySeconds: 120 });
        expect(await client.receive(queue)).toEqual([]);
        expect((await client.stats(queue)).delayed).toBe(1);
        host.clock.advance(121);
        expect((await client.receive(queue)).map((m) => m.body)).toEqual(["later"]);
      });

      it("redelivers a message whose lease expired, with a new token", async () => {
        const queue = await newQueue();
        await client.send(queue, { body: "x" });
        const [first] = await client.receive(queue, { visibilityTimeout: 5 });
        expect(await client.receive(queue)).toEqual([]);
        host.clock.advance(6);
        const [second] = await client.receive(queue);
        expect(second).toMatchObject({ messageId: first?.messageId, deliveryCount: 2 });
        const stale = await apiError(client.ack(queue, first?.messageId ?? "", first?.leaseToken ?? ""));
        expect([stale.status, stale.code]).toEqual([409, "lease_lost"]);
        await client.ack(queue, second?.messageId ?? "", second?.leaseToken ?? "");
      });

      it("long-polls: answers as soon as a message arrives, not at the end of the wait", async () => {
        const queue = await newQueue();
        const started = Date.now();
        const waiting = client.receive(queue, { wait: 10 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await client.send(queue, { body: "wake" });
        const messages = await waiting;
        const elapsed = Date.now() - started;
        expect(messages.map((m) => m.body)).toEqual(["wake"]);
        expect(elapsed).toBeGreaterThanOrEqual(300);
        expect(elapsed).toBeLessThan(3000);
      });

      it("long-polls: a batch wakes as many parked consumers as it has messages", async () => {
        const queue = await newQueue();
        const started = Date.now();
        const waiting = [1, 2, 3].map(() => client.receive(queue, { wait: 10, max: 1 }));
        await new Promise((resolve) => setTimeout(resolve, 300));
        await client.sendBatch(queue, [{ body: "a" }, { body: "b" }, { body: "c" }]);
        const answered = await Promise.all(waiting);
        expect(answered.flatMap((messages) => messages.map((m) => m.body)).sort()).toEqual(["a", "b", "c"]);
        expect(Date.now() - started).toBeLessThan(3000);
      });

      it("long-polls an empty queue for the whole wait and answers with no messages", async () => {
        const queue = await newQueue();
        const started = Date.now();
        expect(await client.receive(queue, { wait: 1 })).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      });

      it("stops a long poll whose client left, so the next message goes to a consumer still there", async () => {
        const queue = await newQueue();
        const gone = new AbortController();
        const abandoned = client.receive(queue, { wait: 10, signal: gone.signal }).catch(() => "left");
        await new Promise((resolve) => setTimeout(resolve, 300));
        gone.abort();
        expect(await abandoned).toBe("left");
        await new Promise((resolve) => setTimeout(resolve, 200));
        await client.send(queue, { body: "kept" });
        expect((await client.receive(queue)).map((m) => m.body)).toEqual(["kept"]);
      });

      it("validates max, wait and visibilityTimeout", async () => {
        const queue = await newQueue();
        for (const query of ["max=0", "max=101", "wait=21", "visibilityTimeout=0", "max=abc", "bogus=1"]) {
          const response = await client.raw("GET", `/v1/queues/${queue}/messages?${query}`);
          expect([query, response.status]).toEqual([query, 400]);
        }
      });
    });

    describe("settling", () => {
      it("acks, and acking again with the same token is 204 again", async () => {
        const queue = await newQueue();
        await client.send(queue, { body: 1 });
        const [message] = await client.receive(queue);
        const path = `/v1/queues/${queue}/messages/${message?.messageId}/ack`;
        expect((await client.raw("POST", path, { body: { leaseToken: message?.leaseToken } })).status).toBe(
          204,
        );
        expect((await client.raw("POST", path, { body: { leaseToken: message?.leaseToken } })).status).toBe(
          204,
        );
        const never = await client.raw("POST", path, { body: { leaseToken: "never-issued" } });
        expect([never.status, (never.body as { code: string }).code]).toEqual([409, "lease_lost"]);
        expect(await client.stats(queue)).toMatchObject({ available: 0, inFlight: 0, ackedTotal: 1 });
      });

      it("answers acks committed together each with its own request id", async () => {
        const tenant = `ack-ids-${store}-${partitions}`;
        const own = await host.admin(tenant);
        const queue = "acks";
        await own.createQueue({ name: queue });
        await own.sendBatch(
          queue,
          Array.from({ length: 20 }, (_, index) => ({ body: index })),
        );
        const leased = await own.receive(queue, { max: 20 });
        expect(leased).toHaveLength(20);
        // Straight into the pipeline, all in one turn: the acks commit in one group and
        // their answers are built in the same turn, where a shared response would mix them up.
        const ack = host.conveyor.routes.find((route) => route.name === "ack");
        const authorization = `Bearer ${await host.token(tenant, { roles: ["admin"] })}`;
        const answers = await Promise.all(
          leased.map((message, index) =>
            host.conveyor.handle(ack as (typeof host.conveyor.routes)[number], {
              method: "POST",
              path: `/v1/queues/${queue}/messages/${message.messageId}/ack`,
              params: { queue, messageId: message.messageId },
              query: {},
              headers: { authorization, "content-type": "application/json", "x-request-id": `ack-${index}` },
              readBody: bodyAlreadyRead(Buffer.from(JSON.stringify({ leaseToken: message.leaseToken }))),
              signal: new AbortController().signal,
            }),
          ),
        );
        expect(answers.map((answer) => answer.status)).toEqual(leased.map(() => 204));
        expect(answers.map((answer) => answer.headers["x-request-id"])).toEqual(
          leased.map((_, index) => `ack-${index}`),
        );
      });

      it("answers 404 for an unknown message", async () => {
        const queue = await newQueue();
        const error = await apiError(client.ack(queue, "no-such-message", "token"));
        expect([error.status, error.code]).toEqual([404, "message_not_found"]);
      });

      it("nacks with the queue's backoff, or an explicit delay", async () => {
        const queue = await newQueue({
          retry: { initialDelaySeconds: 10, multiplier: 2, maxDelaySeconds: 100, jitter: false },
        });
        await client.send(queue, { body: 1 });
        const [first] = await client.receive(queue);
        await client.nack(queue, first?.messageId ?? "", first?.leaseToken ?? "");
        expect((await client.peek(queue, first?.messageId ?? "")).state).toBe("delayed");
        host.clock.advance(9);
        expect(await client.receive(queue)).toEqual([]);
        host.clock.advance(2);
        const [second] = await client.receive(queue);
        expect(second?.deliveryCount).toBe(2);
        await client.nack(queue, second?.messageId ?? "", second?.leaseToken ?? "", { delaySeconds: 0 });
        expect(await client.receive(queue)).toHaveLength(1);
      });

      it("dead-letters on request with reason rejected", async () => {
        const queue = await newQueue();
        await client.send(queue, { body: "poison" });
        const [message] = await client.receive(queue);
        await client.nack(queue, message?.messageId ?? "", message?.leaseToken ?? "", {
          deadLetter: true,
          error: "schema mismatch",
        });
        const dlq = await client.deadLetters(queue);
        expect(dlq.messages).toHaveLength(1);
        expect(dlq.messages[0]).toMatchObject({
          state: "dead",
          reason: "rejected",
          lastError: "schema mismatch",
        });
      });

      it("dead-letters after maxDeliveries, whether nacked or left to expire", async () => {
        const queue = await newQueue({ maxDeliveries: 2 });
        await client.sendBatch(queue, [{ body: "nacked" }, { body: "expired" }]);
        for (let attempt = 0; attempt < 2; attempt++) {
          const messages = await client.receive(queue, { max: 10, visibilityTimeout: 5 });
          expect(messages).toHaveLength(2);
          const nacked = messages.find((m) => m.body === "nacked");
          await client.nack(queue, nacked?.messageId ?? "", nacked?.leaseToken ?? "", { delaySeconds: 0 });
          host.clock.advance(6);
        }
        expect(await client.receive(queue, { max: 10 })).toEqual([]);
        const dlq = await client.deadLetters(queue);
        expect(dlq.messages.map((m) => [m.body, m.reason, m.deliveryCount]).sort()).toEqual([
          ["expired", "max_deliveries", 2],
          ["nacked", "max_deliveries", 2],
        ]);
      });

      it("dead-letters a message older than the queue's TTL instead of delivering it", async () => {
        const queue = await newQueue({ messageTtlSeconds: 60 });
        await client.send(queue, { body: "stale" });
        host.clock.advance(61);
        expect(await client.receive(queue)).toEqual([]);
        const dlq = await client.deadLetters(queue);
        expect(dlq.messages.map((m) => [m.body, m.reason, m.deliveryCount])).toEqual([
          ["stale", "expired", 0],
        ]);
      });

      it("extends, shortens and releases a lease", async () => {
        const queue = await newQueue();
        await client.send(queue, { body: 1 });
        const [message] = await client.receive(queue, { visibilityTimeout: 10 });
        const id = message?.messageId ?? "";
        const token = message?.leaseToken ?? "";
        const extended = await client.extendLease(queue, id, token, 300);
        expect(Date.parse(extended.leaseExpiresAt) - Date.now()).toBeGreaterThan(290_000);
        host.clock.advance(20);
        expect(await client.receive(queue)).toEqual([]);
        await client.extendLease(queue, id, token, 0);
        const [again] = await client.receive(queue);
        expect(again?.messageId).toBe(id);
        const stale = await apiError(client.extendLease(queue, id, token, 30));
        expect(stale.code).toBe("lease_lost");
      });

      it("settles a batch with a result per item", async () => {
        const queue = await newQueue();
        await client.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
        const [a, b, c] = await client.receive(queue, { max: 3 });
        const result = await client.settle(queue, {
          acks: [
            { messageId: a?.messageId ?? "", leaseToken: a?.leaseToken ?? "" },
            { messageId: b?.messageId ?? "", leaseToken: "wrong" },
          ],
          nacks: [{ messageId: c?.messageId ?? "", leaseToken: c?.leaseToken ?? "", delaySeconds: 0 }],
        });
        expect(result.results.map((r) => [r.messageId, r.status, r.error?.code])).toEqual([
          [a?.messageId, 204, undefined],
          [b?.messageId, 409, "lease_lost"],
          [c?.messageId, 204, undefined],
        ]);
        expect(await client.stats(queue)).toMatchObject({ available: 1, inFlight: 1, ackedTotal: 1 });
      });
    });

    describe("the message explorer", () => {
      it("lists available, delayed and in-flight messages with their leases, filtered by attribute", async () => {
        const queue = await newQueue();
        const leasedOne = await client.send(queue, { body: 1, attributes: { type: "order" } });
        await client.receive(queue, { max: 1, visibilityTimeout: 120 });
        const waiting = await client.send(queue, { body: 2, attributes: { type: "refund" } });
        const delayed = await client.send(queue, {
          body: 3,
          delaySeconds: 600,
          attributes: { type: "order" },
        });
        const ids = async (request: Parameters<ConveyorClient["browse"]>[1]) =>
          (await client.browse(queue, request)).messages.map((message) => message.messageId);
        expect(await ids({})).toEqual([waiting.messageId]);
        expect(await ids({ view: "delayed" })).toEqual([delayed.messageId]);
        const inFlight = (await client.browse(queue, { view: "inFlight" })).messages;
        expect(inFlight).toMatchObject([
          { messageId: leasedOne.messageId, state: "inFlight", deliveryCount: 1 },
        ]);
        expect(Date.parse(inFlight[0]?.leaseExpiresAt ?? "")).toBeGreaterThan(Date.now() + 60_000);
        expect(inFlight[0]).not.toHaveProperty("leaseToken");
        expect(await ids({ view: "delayed", attribute: "type", value: "order" })).toEqual([
          delayed.messageId,
        ]);
        expect(await ids({ attribute: "type", value: "order" })).toEqual([]);
        expect(await ids({ attribute: "missing" })).toEqual([]);
        expect((await client.receive(queue, { max: 10 })).map((message) => message.messageId)).toEqual([
          waiting.messageId,
        ]);
        const bad = await client.raw("GET", `/v1/queues/${queue}/browse?view=dead`);
        expect(bad.status).toBe(400);
      });
    });

    describe("peek and purge", () => {
      it("shows a message and its state without leasing it or revealing its token", async () => {
        const queue = await newQueue();
        const sent = await client.send(queue, { body: { a: 1 }, attributes: { k: "v" } });
        const peeked = await client.peek(queue, sent.messageId);
        expect(peeked).toMatchObject({
          messageId: sent.messageId,
          body: { a: 1 },
          attributes: { k: "v" },
          state: "available",
        });
        expect(peeked).not.toHaveProperty("leaseToken");
        await client.receive(queue);
        expect((await client.peek(queue, sent.messageId)).state).toBe("inFlight");
      });

      it("purges the queue but not its dead letters", async () => {
        const queue = await newQueue();
        await client.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
        const [poison] = await client.receive(queue);
        await client.nack(queue, poison?.messageId ?? "", poison?.leaseToken ?? "", { deadLetter: true });
        expect(await client.purge(queue)).toEqual({ purged: 2 });
        expect(await client.stats(queue)).toMatchObject({ available: 0, deadLettered: 1 });
      });
    });
  });
}
