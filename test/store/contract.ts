import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DraftMessage } from "../../src/domain/enqueue.js";
import { onAck, onNack } from "../../src/domain/lease.js";
import type { Message } from "../../src/domain/message.js";
import { compareStandard } from "../../src/domain/ordering.js";
import { messageIdIn, partitionFor } from "../../src/domain/partition.js";
import type { Queue } from "../../src/domain/queue.js";
import { applyChange } from "../../src/domain/transition.js";
import { compareAndSetConflicts } from "../../src/service/conflicts.js";
import type { KeyStore, QueueStore } from "../../src/service/ports.js";
import { leaseMessages } from "../../src/service/receive.js";
import { settleMessages } from "../../src/service/settle.js";
import { aQueue, at, T0 } from "../fixtures.js";

export interface StoreHarness {
  store: QueueStore & KeyStore;
  close(): Promise<void>;
}

let counter = 0;

/**
 * The behaviour every QueueStore adapter must show, through the service's
 * receive and settle loops (src/service/receive.ts, settle.ts) that drive the
 * store's port. Each adapter's test file calls this with a factory, once for
 * queues of one partition and once for sharded ones; times are explicit, so
 * no test waits on a clock.
 */
export function describeQueueStoreContract(
  adapter: string,
  open: () => Promise<StoreHarness>,
  partitions = 1,
): void {
  describe(`QueueStore contract: ${adapter}, ${partitions} partition(s)`, () => {
    let harness: StoreHarness;
    let store: QueueStore & KeyStore;

    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.close();
    });

    const createQueue = async (overrides: Partial<Queue> = {}): Promise<Queue> => {
      counter++;
      const queue = aQueue({
        id: `q_contract_${counter}_${Date.now()}`,
        name: `queue-${counter}`,
        partitions,
        ...overrides,
      });
      const created = await store.createQueue(queue);
      if (!created.ok) throw new Error(created.error.detail);
      return queue;
    };

    /** A message as the service drafts it: its id names the partition `domain/partition.ts` picks. */
    const draft = (queue: Queue, overrides: Partial<DraftMessage> = {}): DraftMessage => {
      counter++;
      const groupId = overrides.groupId ?? null;
      const dedupKey = overrides.dedupKey ?? null;
      return {
        id: messageIdIn(`m_${counter}`, partitionFor(queue, { groupId, dedupKey }, Math.random)),
        body: JSON.stringify({ n: counter }),
        attributes: {},
        priority: 0,
        groupId: null,
        dedupKey: null,
        enqueuedAt: T0,
        visibleAt: T0,
        expiresAt: at(86_400),
        ...overrides,
      };
    };

    const send = async (queue: Queue, ...overrides: Partial<DraftMessage>[]): Promise<Message[]> => {
      const drafts = (overrides.length ? overrides : [{}]).map((override) => draft(queue, override));
      const results = await store.enqueue(queue, drafts);
      return results.map((result) => result.message);
    };

    const receive = (queue: Queue, now: Date, max = 10, visibilityTimeoutSeconds = 30) =>
      leaseMessages(store, queue, { now, max, visibilityTimeoutSeconds }, Math.random);

    const ackAll = (queue: Queue, messages: Message[], now: Date) =>
      settleMessages(
        store,
        queue,
        messages.map((message) => ({
          messageId: message.id,
          decide: (stored: Message) => onAck(stored, message.leaseToken ?? "", now),
        })),
      );

    describe("queues", () => {
      it("creates a queue and finds it by tenant and name", async () => {
        const queue = await createQueue({ maxDeliveries: 7, retry: { ...aQueue().retry, multiplier: 3 } });
        const found = await store.getQueue(queue.tenantId, queue.name);
        expect(found).toEqual(queue);
      });

      it("refuses a second queue of the same name in a tenant, allows it in another", async () => {
        const queue = await createQueue();
        const again = await store.createQueue({ ...queue, id: `${queue.id}_2` });
        expect(again.ok || again.error.code).toBe("conflict");
        const elsewhere = await store.createQueue({ ...queue, id: `${queue.id}_3`, tenantId: "tenant-b" });
        expect(elsewhere.ok).toBe(true);
      });

      it("never shows one tenant's queue to another", async () => {
        const queue = await createQueue();
        expect(await store.getQueue("tenant-other", queue.name)).toBeUndefined();
        const listed = await store.listQueues("tenant-other", { limit: 100 });
        expect(listed.ok && listed.value.items).toEqual([]);
      });

      it("lists a tenant's queues by name in pages", async () => {
        const tenantId = `tenant-list-${counter++}`;
        for (const name of ["c", "a", "b", "d", "e"]) await createQueue({ tenantId, name });
        const names: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listQueues(tenantId, { limit: 2, cursor });
          if (!page.ok) throw new Error(page.error.detail);
          names.push(...page.value.items.map((queue) => queue.name));
          cursor = page.value.nextCursor;
        } while (cursor);
        expect(names).toEqual(["a", "b", "c", "d", "e"]);
      });

      it("rejects a cursor it did not issue", async () => {
        const page = await store.listQueues("t", { limit: 2, cursor: "not-a-cursor" });
        expect(page.ok || page.error.code).toBe("validation_failed");
      });

      it("updates settings", async () => {
        const queue = await createQueue();
        await store.updateQueue({ ...queue, visibilityTimeoutSeconds: 99, updatedAt: at(5) });
        expect(await store.getQueue(queue.tenantId, queue.name)).toMatchObject({
          visibilityTimeoutSeconds: 99,
          updatedAt: at(5),
        });
      });

      it("deletes a queue with its messages", async () => {
        const queue = await createQueue();
        const [message] = await send(queue);
        await store.deleteQueue(queue);
        expect(await store.getQueue(queue.tenantId, queue.name)).toBeUndefined();
        expect(await store.getMessage(queue, (message as Message).id)).toBeUndefined();
      });
    });

    describe("enqueue", () => {
      it("assigns strictly increasing sequences in arrival order", async () => {
        const queue = await createQueue();
        const first = await send(queue, {}, {}, {});
        const second = await send(queue, {});
        const sequences = [...first, ...second].map((message) => message.sequence);
        expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
        expect(new Set(sequences).size).toBe(4);
      });

      it("returns the original for a dedup key seen inside the window", async () => {
        const queue = await createQueue({ deduplicationWindowSeconds: 300 });
        const [original] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:a" })]);
        const [again] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:a", enqueuedAt: at(299) })]);
        expect(again).toMatchObject({ duplicate: true, message: { id: original?.message.id } });
        const stats = await store.stats(queue, at(300));
        expect(stats.enqueuedTotal).toBe(1);
      });

      it("deduplicates within one batch", async () => {
        const queue = await createQueue();
        const results = await store.enqueue(queue, [
          draft(queue, { dedupKey: "id:x" }),
          draft(queue, { dedupKey: "id:x" }),
        ]);
        expect(results.map((result) => result.duplicate)).toEqual([false, true]);
        expect(results[1]?.message.id).toBe(results[0]?.message.id);
      });

      it("accepts the key again once the window has passed", async () => {
        const queue = await createQueue({ deduplicationWindowSeconds: 60 });
        const [first] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:a" })]);
        const [later] = await store.enqueue(queue, [
          draft(queue, { dedupKey: "id:a", enqueuedAt: at(61), visibleAt: at(61) }),
        ]);
        expect(later?.duplicate).toBe(false);
        expect(later?.message.id).not.toBe(first?.message.id);
      });

      it("still deduplicates after the original was acked", async () => {
        const queue = await createQueue({ deduplicationWindowSeconds: 300 });
        const [original] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:a" })]);
        await ackAll(queue, await receive(queue, at(1)), at(2));
        expect((await store.getMessage(queue, original?.message.id ?? ""))?.state).toBe("acked");
        const [again] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:a", enqueuedAt: at(3) })]);
        expect(again?.duplicate).toBe(true);
        expect(await receive(queue, at(4))).toEqual([]);
      });
    });

    describe("the port the service's loops drive", () => {
      const leaseOf = (message: Message, token: string, queue: Queue) =>
        applyChange(
          message,
          {
            kind: "lease",
            leaseToken: token,
            visibleAt: at(31),
            leaseExpiresAt: at(31),
            deliveryCount: message.deliveryCount + 1,
          },
          queue,
        );

      it("reads candidates of each partition in delivery order, visible ones only, at most the limit", async () => {
        const queue = await createQueue();
        await send(queue, { priority: 1 }, { priority: 7 }, { priority: 7 }, { visibleAt: at(50) }, {});
        const seen: Message[] = [];
        for (let partition = 0; partition < queue.partitions; partition++) {
          const found = await store.candidates(queue, partition, at(1), 10);
          const messages = found.map((candidate) => candidate.message);
          expect([...messages].sort(compareStandard)).toEqual(messages);
          expect(found.every((candidate) => typeof candidate.version === "string")).toBe(true);
          expect((await store.candidates(queue, partition, at(1), 1)).length).toBeLessThanOrEqual(1);
          seen.push(...messages);
        }
        expect(seen.map((m) => m.priority).sort()).toEqual([0, 1, 7, 7]);
      });

      it("writes compare-and-set: a write on a version that moved on changes nothing and says so", async () => {
        const queue = await createQueue();
        const [message] = await send(queue);
        const stored = await store.readMessage(queue, message?.id ?? "");
        if (!stored) throw new Error("not stored");
        const first = leaseOf(stored.message, "first", queue);
        const second = leaseOf(stored.message, "second", queue);
        expect(await store.write(queue, [{ version: stored.version, ...first }])).toEqual(["written"]);
        expect(await store.write(queue, [{ version: stored.version, ...second }])).toEqual(["lost"]);
        const now = await store.readMessage(queue, message?.id ?? "");
        expect(now?.message).toMatchObject({ leaseToken: "first", deliveryCount: 1 });
        expect(now?.version).not.toBe(stored.version);
      });

      it("applies each write's totals with it, one result per write", async () => {
        const queue = await createQueue();
        const [a, b] = await send(queue, {}, {});
        const [readA, readB] = await Promise.all([a, b].map((m) => store.readMessage(queue, m?.id ?? "")));
        if (!readA || !readB) throw new Error("not stored");
        const acked = applyChange(readA.message, { kind: "ack", at: at(2) }, queue);
        const dead = applyChange(
          readB.message,
          { kind: "deadLetter", reason: "rejected", lastError: "x", at: at(2) },
          queue,
        );
        const stale = applyChange(readA.message, { kind: "ack", at: at(3) }, queue);
        expect(
          await store.write(queue, [
            { version: readA.version, ...acked },
            { version: readB.version, ...dead },
            { version: readA.version, ...stale },
          ]),
        ).toEqual(["written", "written", "lost"]);
        expect(await store.stats(queue, at(3))).toMatchObject({
          available: 0,
          deadLettered: 1,
          enqueuedTotal: 2,
          ackedTotal: 1,
          deadLetteredTotal: 1,
        });
      });

      it("never reads a message through another tenant's queue", async () => {
        const queue = await createQueue();
        const [message] = await send(queue);
        expect(
          await store.readMessage({ ...queue, tenantId: "tenant-intruder" }, message?.id ?? ""),
        ).toBeUndefined();
        expect(await store.readMessage(queue, "missing")).toBeUndefined();
      });

      it("never leases one message to two concurrent receivers, nor lets receivers of one process race", async () => {
        const queue = await createQueue();
        await send(queue, ...Array.from({ length: 12 }, () => ({})));
        const before = compareAndSetConflicts();
        const batches = await Promise.all(Array.from({ length: 6 }, () => receive(queue, at(1), 3)));
        const ids = batches.flat().map((m) => m.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(compareAndSetConflicts() - before).toBe(0);
        const rest = await receive(queue, at(2), 12);
        expect(new Set([...ids, ...rest.map((m) => m.id)]).size).toBe(12);
      });

      it("counts each race lost to another instance, and delivers nothing it lost", async () => {
        const queue = await createQueue({ partitions: 1 });
        await send(queue, {}, {}, {});
        // Another instance leases every candidate between this receiver's read and its write.
        let interfered = false;
        const racing = new Proxy(store, {
          get(target, property, receiver) {
            if (property !== "candidates") return Reflect.get(target, property, receiver);
            return async (...args: Parameters<QueueStore["candidates"]>) => {
              const found = await target.candidates(...args);
              if (!interfered) {
                interfered = true;
                const first = found.map((c) => ({
                  version: c.version,
                  ...leaseOf(c.message, "other", queue),
                }));
                expect(await target.write(queue, first)).toEqual(["written", "written", "written"]);
              }
              return found;
            };
          },
        });
        const before = compareAndSetConflicts();
        const got = await leaseMessages(
          racing,
          queue,
          { now: at(1), max: 3, visibilityTimeoutSeconds: 30 },
          Math.random,
        );
        expect(got).toEqual([]);
        expect(compareAndSetConflicts() - before).toBe(3);
      });
    });

    describe("receive on a standard queue", () => {
      it("delivers the highest priority first, then the oldest", async () => {
        const queue = await createQueue();
        await send(
          queue,
          { priority: 0 },
          { priority: 5 },
          { priority: 9 },
          { priority: 5 },
          { priority: 0 },
        );
        const delivered = await receive(queue, at(1), 10);
        expect(delivered).toHaveLength(5);
        expect(delivered.map((m) => m.priority)).toEqual([9, 5, 5, 0, 0]);
        expect([...delivered].sort(compareStandard)).toEqual(delivered);
      });

      it("leases what it delivers: new token, counted delivery, hidden until the lease expires", async () => {
        const queue = await createQueue();
        await send(queue);
        const [first] = await receive(queue, at(1), 1, 30);
        expect(first).toMatchObject({ deliveryCount: 1, leaseExpiresAt: at(31), visibleAt: at(31) });
        expect(first?.leaseToken).toBeTruthy();
        expect(await receive(queue, at(30))).toEqual([]);
        const [again] = await receive(queue, at(31));
        expect(again).toMatchObject({ id: first?.id, deliveryCount: 2 });
        expect(again?.leaseToken).not.toBe(first?.leaseToken);
      });

      it("keeps delayed messages back until they are due", async () => {
        const queue = await createQueue();
        await send(queue, { visibleAt: at(60) });
        expect(await receive(queue, at(59))).toEqual([]);
        expect(await store.nextVisibleAt(queue, at(59))).toEqual(at(60));
        expect(await receive(queue, at(60))).toHaveLength(1);
      });

      it("takes at most max", async () => {
        const queue = await createQueue();
        await send(queue, {}, {}, {});
        expect(await receive(queue, at(1), 2)).toHaveLength(2);
        expect(await receive(queue, at(1), 2)).toHaveLength(1);
      });

      it("dead-letters expired and exhausted candidates instead of delivering them, without using up max", async () => {
        // One partition: the receives below rely on priority order, which is strict only within a partition.
        const queue = await createQueue({ maxDeliveries: 1, partitions: 1 });
        const [expired] = await send(queue, { expiresAt: at(10), priority: 9 });
        const [exhausted] = await send(queue, { priority: 8 });
        await send(queue, {});
        await receive(queue, at(1), 1); // leases `expired`...
        await receive(queue, at(2), 1); // ...and `exhausted`; both leases lapse at 31 and 32
        expect(await receive(queue, at(40), 1)).toHaveLength(1);
        const dead = await store.listDeadLetters(queue, { limit: 10 });
        expect(dead.ok && dead.value.items.map((m) => [m.id, m.reason])).toEqual([
          [expired?.id, "expired"],
          [exhausted?.id, "max_deliveries"],
        ]);
        expect((await store.stats(queue, at(40))).deadLettered).toBe(2);
      });
    });

    describe("stats samples", () => {
      const sample = (seconds: number, available: number) => ({
        at: at(seconds),
        available,
        delayed: 0,
        inFlight: 1,
        deadLettered: 0,
        oldestAvailableAgeSeconds: seconds,
        enqueuedTotal: available + 1,
        ackedTotal: 0,
        deadLetteredTotal: 0,
        redrivenTotal: 0,
      });

      it("keeps a queue's samples and returns those since a time, oldest first, to its own tenant", async () => {
        const queue = await createQueue();
        const other = await createQueue();
        await store.recordSample(queue, sample(20, 3));
        await store.recordSample(queue, sample(0, 1));
        await store.recordSample(queue, sample(10, 2));
        await store.recordSample(other, sample(15, 9));
        expect(await store.samples(queue, at(5))).toEqual([sample(10, 2), sample(20, 3)]);
        expect(await store.samples({ ...queue, tenantId: "someone-else" }, at(0))).toEqual([]);
        await store.recordSample(queue, sample(20, 4));
        expect((await store.samples(queue, at(20))).map((kept) => kept.available)).toEqual([4]);
        await store.deleteQueue(queue);
        expect(await store.samples(queue, at(0))).toEqual([]);
      });
    });

    describe("the message explorer's listing", () => {
      const ids = async (
        queue: Queue,
        view: "available" | "delayed" | "inFlight",
        now: Date,
        limit = 100,
      ) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listMessages(queue, view, now, { limit, cursor });
          if (!page.ok) throw new Error(page.error.detail);
          seen.push(...page.value.items.map((message) => message.id));
          cursor = page.value.nextCursor;
        } while (cursor);
        return seen.sort();
      };

      it("lists ready messages as available, delayed or in flight at a time, in pages, leasing nothing", async () => {
        const queue = await createQueue();
        const [first, later, third, fourth] = await send(queue, {}, { visibleAt: at(100) }, {}, {});
        const [leased] = await receive(queue, at(1), 1, 30);
        // Which of the three visible ones is best effort (receivers pick among the leading candidates).
        const visible = [first?.id, third?.id, fourth?.id];
        expect(visible).toContain(leased?.id);
        const ready = visible.filter((id) => id !== leased?.id).sort();
        expect(await ids(queue, "available", at(2))).toEqual(ready);
        expect(await ids(queue, "available", at(2), 1)).toEqual(ready);
        expect(await ids(queue, "delayed", at(2))).toEqual([later?.id]);
        expect(await ids(queue, "inFlight", at(2))).toEqual([leased?.id]);
        const page = await store.listMessages(queue, "inFlight", at(2), { limit: 10 });
        expect(page.ok && page.value.items[0]).toMatchObject({ leaseExpiresAt: at(31), deliveryCount: 1 });
        expect(await ids(queue, "inFlight", at(31))).toEqual([]);
        expect(await ids(queue, "available", at(31))).toEqual([...visible].sort());
        const again = await receive(queue, at(31), 10, 30);
        expect(again.map((m) => m.id).sort()).toEqual([...visible].sort());
      });

      it("shows nothing of a queue to another tenant, nor settled or dead messages", async () => {
        const queue = await createQueue({ maxDeliveries: 1 });
        const [acked, dead] = await send(queue, {}, {});
        const leased = await receive(queue, at(1), 2, 10);
        await ackAll(
          queue,
          leased.filter((message) => message.id === acked?.id),
          at(2),
        );
        await receive(queue, at(20));
        expect(await ids(queue, "available", at(30))).toEqual([]);
        expect(dead?.id).toBeTruthy();
        await send(queue);
        expect(await ids({ ...queue, tenantId: "someone-else" }, "available", at(30))).toEqual([]);
        expect(await ids(queue, "available", at(30))).toHaveLength(1);
      });
    });

    describe("receive on a fifo queue", () => {
      const fifo = () => createQueue({ ordering: "fifo" });

      it("delivers a group in sequence, several at once", async () => {
        const queue = await fifo();
        await send(queue, { groupId: "g" }, { groupId: "g" }, { groupId: "g" });
        const delivered = await receive(queue, at(1), 10);
        expect(delivered.map((m) => m.sequence)).toEqual(
          [...delivered.map((m) => m.sequence)].sort((a, b) => a - b),
        );
        expect(delivered).toHaveLength(3);
      });

      it("blocks a group while any of its messages is leased", async () => {
        const queue = await fifo();
        await send(queue, { groupId: "g" }, { groupId: "g" });
        const [first] = await receive(queue, at(1), 1);
        expect(await receive(queue, at(2), 10)).toEqual([]);
        await ackAll(queue, [first as Message], at(3));
        const [second] = await receive(queue, at(4), 10);
        expect(second?.sequence).toBeGreaterThan(first?.sequence ?? 0);
      });

      it("keeps a nacked message's place: the group waits for it", async () => {
        const queue = await fifo();
        const [head] = await send(queue, { groupId: "g" }, { groupId: "g" });
        const [leased] = await receive(queue, at(1), 1);
        await settleMessages(store, queue, [
          {
            messageId: leased?.id ?? "",
            decide: (m) =>
              onNack(m, queue, leased?.leaseToken ?? "", at(2), { delaySeconds: 10 }, Math.random),
          },
        ]);
        expect(await receive(queue, at(5), 10)).toEqual([]);
        const [again] = await receive(queue, at(12), 1);
        expect(again?.id).toBe(head?.id);
      });

      it("does not let other groups wait behind a blocked one", async () => {
        const queue = await fifo();
        await send(queue, { groupId: "a" }, { groupId: "a" }, { groupId: "a" }, { groupId: "b" });
        // Leases one group's head: which group first is best effort when they are in different partitions.
        const [head] = await receive(queue, at(1), 1);
        const other = head?.groupId === "a" ? ["b"] : ["a", "a", "a"];
        const delivered = await receive(queue, at(2), 10);
        expect(delivered.map((m) => m.groupId)).toEqual(other);
      });

      it("serves groups fairly: the least recently served group goes first", async () => {
        const queue = await fifo();
        await send(queue, ...Array.from({ length: 6 }, () => ({ groupId: "deep" })), { groupId: "shallow" });
        const first = await receive(queue, at(1), 1);
        await ackAll(queue, first, at(2));
        const second = await receive(queue, at(3), 1);
        await ackAll(queue, second, at(4));
        expect(new Set([first[0]?.groupId, second[0]?.groupId])).toEqual(new Set(["deep", "shallow"]));
      });
    });

    describe("settle", () => {
      it("acks with the latest token, again idempotently, and refuses a stale token without changes", async () => {
        const queue = await createQueue();
        await send(queue);
        const [first] = await receive(queue, at(1), 1, 10);
        const [second] = await receive(queue, at(11), 1, 10);
        const [stale] = await ackAll(queue, [first as Message], at(12));
        expect(stale?.ok || stale?.error.code).toBe("lease_lost");
        expect((await store.getMessage(queue, second?.id ?? ""))?.state).toBe("ready");
        const [acked] = await ackAll(queue, [second as Message], at(13));
        expect(acked?.ok && acked.value.state).toBe("acked");
        const [repeat] = await ackAll(queue, [second as Message], at(14));
        expect(repeat?.ok).toBe(true);
        expect((await store.stats(queue, at(15))).ackedTotal).toBe(1);
      });

      it("reports an unknown message per item and settles the rest", async () => {
        const queue = await createQueue();
        await send(queue);
        const [leased] = await receive(queue, at(1));
        const results = await settleMessages(store, queue, [
          { messageId: "missing", decide: (m) => onAck(m, "x", at(2)) },
          { messageId: leased?.id ?? "", decide: (m) => onAck(m, leased?.leaseToken ?? "", at(2)) },
        ]);
        expect(results.map((r) => r.ok || r.error.code)).toEqual(["message_not_found", true]);
      });

      it("releases a nacked message for redelivery after its delay", async () => {
        const queue = await createQueue();
        await send(queue);
        const [leased] = await receive(queue, at(1));
        const [nacked] = await settleMessages(store, queue, [
          {
            messageId: leased?.id ?? "",
            decide: (m) =>
              onNack(m, queue, leased?.leaseToken ?? "", at(2), { delaySeconds: 5 }, Math.random),
          },
        ]);
        expect(nacked?.ok && nacked.value).toMatchObject({ visibleAt: at(7), leaseToken: null });
        expect(await receive(queue, at(6))).toEqual([]);
        expect(await receive(queue, at(7))).toHaveLength(1);
      });

      it("never reads a message through another tenant's queue", async () => {
        const queue = await createQueue();
        const [message] = await send(queue);
        const forged = { ...queue, tenantId: "tenant-intruder" };
        expect(await store.getMessage(forged, message?.id ?? "")).toBeUndefined();
        const [result] = await settleMessages(store, forged, [
          { messageId: message?.id ?? "", decide: () => ({ ok: true, value: null }) },
        ]);
        expect(result?.ok || result?.error.code).toBe("message_not_found");
      });
    });

    describe("purge, dead letters and redrive", () => {
      const deadLetter = async (queue: Queue, count: number, from = 1): Promise<Message[]> => {
        await send(queue, ...Array.from({ length: count }, () => ({})));
        const leased = await receive(queue, at(from), count);
        const results = await settleMessages(
          store,
          queue,
          leased.map((m) => ({
            messageId: m.id,
            decide: (stored: Message) =>
              onNack(
                stored,
                queue,
                m.leaseToken ?? "",
                at(from + 1),
                { deadLetter: true, error: "boom" },
                Math.random,
              ),
          })),
        );
        return results.map((r) => (r.ok ? r.value : (undefined as never)));
      };

      it("purges ready messages and keeps dead letters", async () => {
        const queue = await createQueue();
        await deadLetter(queue, 1);
        await send(queue, {}, {});
        expect(await store.purge(queue)).toBe(2);
        expect(await store.stats(queue, at(10))).toMatchObject({ available: 0, deadLettered: 1 });
      });

      it("lists dead letters oldest first in pages, with reason and last error", async () => {
        const queue = await createQueue();
        const dead = [...(await deadLetter(queue, 2, 1)), ...(await deadLetter(queue, 3, 10))];
        const seen: Message[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listDeadLetters(queue, { limit: 2, cursor });
          if (!page.ok) throw new Error(page.error.detail);
          seen.push(...page.value.items);
          cursor = page.value.nextCursor;
        } while (cursor);
        expect(new Set(seen.map((m) => m.id))).toEqual(new Set(dead.map((m) => m.id)));
        expect(seen).toHaveLength(5);
        expect(seen[0]).toMatchObject({
          state: "dead",
          reason: "rejected",
          lastError: "boom",
          deadLetteredAt: at(2),
        });
        expect(seen[4]?.deadLetteredAt).toEqual(at(11));
      });

      it("redrives by id with deliveryCount 0, keeping id, body and priority", async () => {
        const queue = await createQueue();
        const [dead] = await deadLetter(queue, 1);
        const outcome = await store.redrive(queue, { messageIds: [dead?.id ?? "", "unknown"] }, at(20));
        expect(outcome).toEqual({ redriven: 1, remaining: 0 });
        const [again] = await receive(queue, at(20));
        expect(again).toMatchObject({
          id: dead?.id,
          body: dead?.body,
          priority: dead?.priority,
          deliveryCount: 1,
        });
        expect((await store.stats(queue, at(21))).redrivenTotal).toBe(1);
      });

      it("redrives all in chunks and reports what remains", async () => {
        const queue = await createQueue();
        await deadLetter(queue, 5);
        expect(await store.redrive(queue, { all: true, limit: 3 }, at(20))).toEqual({
          redriven: 3,
          remaining: 2,
        });
        expect(await store.redrive(queue, { all: true, limit: 3 }, at(20))).toEqual({
          redriven: 2,
          remaining: 0,
        });
        expect((await store.stats(queue, at(20))).available).toBe(5);
      });

      it("purges dead letters", async () => {
        const queue = await createQueue();
        await deadLetter(queue, 3);
        expect(await store.purgeDeadLetters(queue)).toBe(3);
        const page = await store.listDeadLetters(queue, { limit: 10 });
        expect(page.ok && page.value.items).toEqual([]);
      });

      describe("redrive tasks", () => {
        const claim = (owner: string, seconds: number) => ({
          owner,
          now: at(seconds),
          leaseExpiresAt: at(seconds + 30),
        });
        const taskId = () => `task_contract_${++counter}`;

        it("keeps a task over the dead letters there at its start, readable only through its queue", async () => {
          const queue = await createQueue();
          const other = await createQueue({ tenantId: "tenant-b" });
          await deadLetter(queue, 3);
          const id = taskId();
          const created = await store.createRedriveTask(queue, id, claim("a", 20));
          expect(created).toMatchObject({
            id,
            tenantId: queue.tenantId,
            queueId: queue.id,
            status: "running",
            redriven: 0,
            remaining: 3,
            owner: "a",
            leaseExpiresAt: at(50),
            error: null,
          });
          expect(await store.getRedriveTask(queue, id)).toEqual(created);
          expect(await store.getRedriveTask(other, id)).toBeUndefined();
          expect(await store.getRedriveTask(queue, "task_unknown")).toBeUndefined();
          const [message] = await store
            .listDeadLetters(queue, { limit: 1 })
            .then((p) => (p.ok ? p.value.items : []));
          expect(await store.getRedriveTask(queue, message?.id ?? "")).toBeUndefined();
        });

        it("redrives chunk by chunk, recording progress, and is done when a chunk comes back short", async () => {
          const queue = await createQueue();
          const dead = await deadLetter(queue, 5);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          expect(await store.advanceRedriveTask(queue, id, claim("a", 21), 2)).toMatchObject({
            status: "running",
            redriven: 2,
            remaining: 3,
            leaseExpiresAt: at(51),
          });
          expect(await store.getRedriveTask(queue, id)).toMatchObject({ redriven: 2, remaining: 3 });
          await store.advanceRedriveTask(queue, id, claim("a", 22), 2);
          expect(await store.advanceRedriveTask(queue, id, claim("a", 23), 2)).toMatchObject({
            status: "done",
            redriven: 5,
            remaining: 0,
          });
          expect(await store.advanceRedriveTask(queue, id, claim("a", 24), 2)).toBeUndefined();
          const ready = await receive(queue, at(30), 10);
          expect(new Set(ready.map((m) => m.id))).toEqual(new Set(dead.map((m) => m.id)));
          expect(ready.every((m) => m.deliveryCount === 1)).toBe(true);
          expect(await store.stats(queue, at(30))).toMatchObject({ deadLettered: 0, redrivenTotal: 5 });
        });

        it("never moves a message twice: one redriven and dead-lettered again stays, as do later dead letters", async () => {
          const queue = await createQueue();
          await deadLetter(queue, 4);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          await store.advanceRedriveTask(queue, id, claim("a", 21), 2);
          const [again] = await receive(queue, at(22), 1);
          if (!again) throw new Error("nothing redriven to receive");
          await settleMessages(store, queue, [
            {
              messageId: again.id,
              decide: (stored) =>
                onNack(
                  stored,
                  queue,
                  again.leaseToken ?? "",
                  at(23),
                  { deadLetter: true, error: "again" },
                  Math.random,
                ),
            },
          ]);
          const [later] = await deadLetter(queue, 1, 24);
          let task = await store.advanceRedriveTask(queue, id, claim("a", 30), 2);
          while (task?.status === "running")
            task = await store.advanceRedriveTask(queue, id, claim("a", 31), 2);
          expect(task).toMatchObject({ status: "done", redriven: 4, remaining: 0 });
          const left = await store.listDeadLetters(queue, { limit: 10 });
          expect(left.ok && new Set(left.value.items.map((m) => m.id))).toEqual(
            new Set([again.id, later?.id]),
          );
        });

        it("refuses a second owner while the lease holds, and lets it take over once the lease has lapsed", async () => {
          const queue = await createQueue();
          await deadLetter(queue, 5);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          await store.advanceRedriveTask(queue, id, claim("a", 21), 2);
          expect(await store.advanceRedriveTask(queue, id, claim("b", 40), 2)).toBeUndefined();
          expect(await store.getRedriveTask(queue, id)).toMatchObject({ owner: "a", redriven: 2 });
          expect(await store.advanceRedriveTask(queue, id, claim("b", 52), 2)).toMatchObject({
            owner: "b",
            redriven: 4,
            leaseExpiresAt: at(82),
          });
          expect(await store.advanceRedriveTask(queue, id, claim("a", 53), 2)).toBeUndefined();
          expect(await store.advanceRedriveTask(queue, id, claim("b", 54), 2)).toMatchObject({
            status: "done",
            redriven: 5,
          });
        });

        it("moves each message once and counts exactly when two owners work on a task at the same time", async () => {
          const queue = await createQueue();
          const total = 120;
          await deadLetter(queue, total);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          // Every claim comes after the last one's lease: both owners always get the task, so their chunks interleave.
          let tick = 0;
          const work = async (owner: string) => {
            for (;;) {
              await store.advanceRedriveTask(queue, id, claim(owner, 100 * ++tick), 15);
              // Lost a claim race, or won it: go again while the task runs.
              if ((await store.getRedriveTask(queue, id))?.status !== "running") return;
            }
          };
          await Promise.all([work("a"), work("b")]);
          expect(await store.getRedriveTask(queue, id)).toMatchObject({ status: "done", redriven: total });
          expect(await store.stats(queue, at(100_000))).toMatchObject({
            available: total,
            deadLettered: 0,
            redrivenTotal: total,
          });
        });

        it("lists running tasks whose lease has lapsed, across tenants, for the resume trigger", async () => {
          const queue = await createQueue();
          const elsewhere = await createQueue({ tenantId: "tenant-b" });
          await deadLetter(queue, 3);
          await deadLetter(elsewhere, 3);
          const [lapsing, finished, other] = [taskId(), taskId(), taskId()];
          await store.createRedriveTask(queue, lapsing, claim("a", 20));
          await store.createRedriveTask(queue, finished, claim("a", 20));
          await store.advanceRedriveTask(queue, finished, claim("a", 21), 10);
          await store.createRedriveTask(elsewhere, other, claim("b", 25));
          // Other tests' tasks share the store: look only at these.
          const mine = async (seconds: number) =>
            (await store.orphanedRedriveTasks(at(seconds), 1000))
              .map((task) => task.id)
              .filter((found) => [lapsing, finished, other].includes(found))
              .sort();
          expect(await mine(49)).toEqual([]);
          expect(await mine(50)).toEqual([lapsing]);
          expect(await mine(55)).toEqual([lapsing, other].sort());
        });

        it("marks a task failed only for its owner", async () => {
          const queue = await createQueue();
          await deadLetter(queue, 3);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          await store.failRedriveTask(queue, id, "b", "not mine", at(21));
          expect(await store.getRedriveTask(queue, id)).toMatchObject({ status: "running", error: null });
          await store.failRedriveTask(queue, id, "a", "boom", at(22));
          expect(await store.getRedriveTask(queue, id)).toMatchObject({ status: "failed", error: "boom" });
          expect(await store.advanceRedriveTask(queue, id, claim("a", 23), 10)).toBeUndefined();
          expect(await store.orphanedRedriveTasks(at(1000), 1000)).not.toContainEqual(
            expect.objectContaining({ id }),
          );
        });

        it("deletes a queue's tasks with the queue", async () => {
          const queue = await createQueue();
          await deadLetter(queue, 2);
          const id = taskId();
          await store.createRedriveTask(queue, id, claim("a", 20));
          await store.deleteQueue(queue);
          expect(await store.getRedriveTask(queue, id)).toBeUndefined();
          expect(await store.orphanedRedriveTasks(at(1000), 1000)).not.toContainEqual(
            expect.objectContaining({ id }),
          );
        });
      });
    });

    describe("stats and housekeeping", () => {
      it("counts available, delayed, in flight and dead, with the oldest available age", async () => {
        const queue = await createQueue();
        await send(queue, { enqueuedAt: T0, visibleAt: T0 }, { visibleAt: at(1000) }, {}, {});
        await receive(queue, at(5), 1, 100);
        expect(await store.stats(queue, at(10))).toEqual({
          available: 2,
          delayed: 1,
          inFlight: 1,
          deadLettered: 0,
          oldestAvailableAgeSeconds: 10,
          enqueuedTotal: 4,
          ackedTotal: 0,
          deadLetteredTotal: 0,
          redrivenTotal: 0,
        });
      });

      it("keeps an acked message's tombstone without its body or attributes", async () => {
        const queue = await createQueue({ deduplicationWindowSeconds: 600 });
        const [sent] = await send(queue, { dedupKey: "id:bare", attributes: { customer: "c-1" } });
        await ackAll(queue, await receive(queue, at(1)), at(2));
        expect(await store.getMessage(queue, sent?.id ?? "")).toMatchObject({
          state: "acked",
          body: "null",
          attributes: {},
        });
        const [again] = await store.enqueue(queue, [draft(queue, { dedupKey: "id:bare" })]);
        expect(again).toMatchObject({ duplicate: true, message: { id: sent?.id } });
      });

      it("removes acked tombstones once their window has passed", async () => {
        const queue = await createQueue({ deduplicationWindowSeconds: 600 });
        const [message] = await send(queue, { dedupKey: "id:t" });
        await ackAll(queue, await receive(queue, at(1)), at(2));
        // Counts are store-wide (other tests' tombstones may go too), so watch this message.
        await store.removeExpiredTombstones(at(599));
        expect((await store.getMessage(queue, message?.id ?? ""))?.state).toBe("acked");
        expect(await store.removeExpiredTombstones(at(600))).toBeGreaterThanOrEqual(1);
        expect(await store.getMessage(queue, message?.id ?? "")).toBeUndefined();
      });
    });

    describe("API keys", () => {
      const key = (tenantId: string, id: string) => ({
        id,
        tenantId,
        name: `key ${id}`,
        secretHash: `hash-${id}`,
        roles: [],
        grants: { orders: ["send" as const] },
        createdAt: at(counter++),
      });

      it("stores, finds, lists by tenant and deletes keys", async () => {
        const suffix = counter++;
        const tenant = `tenant-keys-${suffix}`;
        const [a, b, c] = [`key_a_${suffix}`, `key_b_${suffix}`, `key_c_${suffix}`];
        await store.createKey(key(tenant, a));
        await store.createKey(key(tenant, b));
        await store.createKey(key("someone-else", c));
        expect(await store.findKey(a)).toMatchObject({ tenantId: tenant, grants: { orders: ["send"] } });
        const listed = await store.listKeys(tenant, { limit: 1 });
        if (!listed.ok) throw new Error(listed.error.detail);
        const next = await store.listKeys(tenant, { limit: 1, cursor: listed.value.nextCursor });
        if (!next.ok) throw new Error(next.error.detail);
        expect([...listed.value.items, ...next.value.items].map((k) => k.id)).toEqual([a, b]);
        expect(await store.deleteKey("someone-else", a)).toBe(false);
        expect(await store.deleteKey(tenant, a)).toBe(true);
        expect(await store.findKey(a)).toBeUndefined();
      });
    });
  });
}
