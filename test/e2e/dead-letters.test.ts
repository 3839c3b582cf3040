import { describe, expect, it } from "vitest";
import { hostForSuite } from "../host.js";

/** The same suite on each store: the API must behave the same on SQLite and on Cosmos DB. */
for (const store of ["sqlite", "cosmos"] as const) {
  describe(`on ${store}`, () => {
    const suite = hostForSuite(store);
    let queues = 0;

    /** Sends `count` messages and dead-letters each one (reason rejected). */
    async function queueWithDeadLetters(count: number): Promise<string> {
      const queue = `dlq-${++queues}`;
      await suite.client.createQueue({ name: queue });
      for (let sent = 0; sent < count; sent += 100) {
        const size = Math.min(100, count - sent);
        await suite.client.sendBatch(
          queue,
          Array.from({ length: size }, (_, index) => ({
            body: { n: sent + index },
            priority: (sent + index) % 10,
          })),
        );
        const leased = await suite.client.receive(queue, { max: 100 });
        await suite.client.settle(queue, {
          acks: [],
          nacks: leased.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken, deadLetter: true })),
        });
      }
      return queue;
    }

    describe("dead-letter queue", () => {
      it("browses dead letters in pages with the cursor", async () => {
        const queue = await queueWithDeadLetters(5);
        const first = await suite.client.deadLetters(queue, { limit: 2 });
        expect(first.messages).toHaveLength(2);
        expect(first.messages[0]).toMatchObject({ state: "dead", reason: "rejected", deliveryCount: 1 });
        expect(first.messages[0]?.deadLetteredAt).toBeTruthy();
        const rest = [];
        let cursor = first.nextCursor;
        while (cursor) {
          const page = await suite.client.deadLetters(queue, { limit: 2, cursor });
          rest.push(...page.messages);
          cursor = page.nextCursor;
        }
        const all = [...first.messages, ...rest];
        expect(new Set(all.map((m) => m.messageId)).size).toBe(5);
      });

      it("redrives chosen messages with deliveryCount 0, keeping id, body, attributes and priority", async () => {
        const queue = await queueWithDeadLetters(3);
        const [target] = (await suite.client.deadLetters(queue)).messages;
        expect(await suite.client.redrive(queue, { messageIds: [target?.messageId ?? ""] })).toMatchObject({
          redriven: 1,
          remaining: 0,
        });
        const [again] = await suite.client.receive(queue);
        expect(again).toMatchObject({
          messageId: target?.messageId,
          body: target?.body,
          priority: target?.priority,
          attributes: target?.attributes,
          deliveryCount: 1,
        });
        expect(await suite.client.stats(queue)).toMatchObject({ deadLettered: 2, redrivenTotal: 1 });
      });

      it("redrives all of up to 1000 at once", async () => {
        const queue = await queueWithDeadLetters(20);
        const response = await suite.client.raw("POST", `/v1/queues/${queue}/messages/retry`, {
          body: { all: true },
        });
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ redriven: 20, remaining: 0 });
        expect((await suite.client.stats(queue)).available).toBe(20);
      });

      it("answers 202 with a task when more than 1000 remain, and the task finishes the redrive", async () => {
        const queue = await queueWithDeadLetters(1500);
        const response = await suite.client.raw("POST", `/v1/queues/${queue}/messages/retry`, {
          body: { all: true },
        });
        expect(response.status).toBe(202);
        const body = response.body as { redriven: number; remaining: number; taskId: string };
        expect(body.redriven).toBe(1000);
        expect(response.headers.get("location")).toBe(`/v1/queues/${queue}/tasks/${body.taskId}`);
        let task = await suite.client.redriveTask(queue, body.taskId);
        for (let tries = 0; task.status === "running" && tries < 100; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          task = await suite.client.redriveTask(queue, body.taskId);
        }
        expect(task).toMatchObject({ status: "done", redriven: 1500, remaining: 0 });
        expect(await suite.client.stats(queue)).toMatchObject({ available: 1500, deadLettered: 0 });
        const unknown = await suite.client.raw("GET", `/v1/queues/${queue}/tasks/task_nope`);
        expect(unknown.status).toBe(404);
      });

      it("validates the redrive request", async () => {
        const queue = await queueWithDeadLetters(1);
        for (const body of [{}, { all: false }, { messageIds: [] }, { messageIds: ["a"], all: true }]) {
          expect(
            (await suite.client.raw("POST", `/v1/queues/${queue}/messages/retry`, { body })).status,
          ).toBe(400);
        }
      });

      it("purges the dead-letter queue", async () => {
        const queue = await queueWithDeadLetters(4);
        expect(await suite.client.purgeDeadLetters(queue)).toEqual({ purged: 4 });
        expect((await suite.client.deadLetters(queue)).messages).toEqual([]);
      });
    });
  });
}
