import type { CosmosClient } from "@azure/cosmos";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StoreBusyError } from "../../src/adapters/cosmos/resilience.js";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import type { DraftMessage } from "../../src/domain/enqueue.js";
import { onAck, onReceive } from "../../src/domain/lease.js";
import { messageIdIn, partitionFor } from "../../src/domain/partition.js";
import type { Queue } from "../../src/domain/queue.js";
import { applyChange } from "../../src/domain/transition.js";
import { leaseMessages } from "../../src/service/receive.js";
import { settleMessages } from "../../src/service/settle.js";
import { type CosmosModel, startCosmosModel } from "../../src/tools/cosmos-model/model.js";
import { cosmosModelClient, cosmosTestEndpoint } from "../cosmos-server.js";
import { aQueue, at, T0 } from "../fixtures.js";

/**
 * The Cosmos DB store itself through the Cosmos DB model's faults and
 * throttling, with the SDK's own 429 retries off as src/app.ts has them: a
 * write whose answer was lost is applied once and reported as done, reads
 * ride out 503s, and a throttled partition past the store's budget throws
 * StoreBusyError with the server's hint.
 */

let model: CosmosModel;
let client: CosmosClient;
let store: CosmosStore;
let counter = 0;

beforeAll(async () => {
  model = await startCosmosModel({ target: await cosmosTestEndpoint() });
  client = cosmosModelClient(model.url, 0);
  await CosmosStore.ensureContainers(client, `faults-${process.pid}`);
  store = new CosmosStore({ client, databaseId: `faults-${process.pid}` });
});
afterAll(async () => {
  client.dispose();
  await model.close();
});
beforeEach(() => {
  model.clearFaults();
  model.setBudget(undefined);
  model.resetUsage();
});

const createQueue = async (): Promise<Queue> => {
  counter++;
  const queue = aQueue({ id: `q_faults_${counter}_${Date.now()}`, name: `faults-${counter}` });
  const created = await store.createQueue(queue);
  if (!created.ok) throw new Error(created.error.detail);
  return queue;
};

const draft = (queue: Queue, dedupKey: string | null = null): DraftMessage => {
  counter++;
  return {
    id: messageIdIn(`m_${counter}`, partitionFor(queue, { groupId: null, dedupKey }, Math.random)),
    body: JSON.stringify({ n: counter }),
    attributes: {},
    priority: 0,
    groupId: null,
    dedupKey,
    enqueuedAt: T0,
    visibleAt: T0,
    expiresAt: at(86_400),
  };
};

describe("the Cosmos DB store under faults", () => {
  it("stores an enqueue whose answer was lost once, and its retry with the same key is a duplicate", async () => {
    const queue = await createQueue();
    model.inject({ fault: "lost-answer", times: 1, kinds: ["batch"] });
    const [first] = await store.enqueue(queue, [draft(queue, "order-1")]);
    expect(first?.duplicate).toBe(false);
    expect(model.usage().faults.get("lost-answer")).toBe(1);
    const [again] = await store.enqueue(queue, [draft(queue, "order-1")]);
    expect(again).toMatchObject({ duplicate: true, message: { id: first?.message.id } });
    model.inject({ fault: "lost-answer", times: 1, kinds: ["create"] });
    const [plain] = await store.enqueue(queue, [draft(queue)]);
    expect(plain?.duplicate).toBe(false);
    expect(await store.stats(queue, at(1))).toMatchObject({ available: 2, enqueuedTotal: 2 });
  });

  it("counts the messages of a batch stored before a later one ran out of the budget", async () => {
    const queue = await createQueue();
    // The first goes in a transactional batch (it has a key), the second in a create, which stays unavailable.
    model.inject({ fault: "unavailable", probability: 1, kinds: ["create"] });
    const error = await store
      .enqueue(queue, [draft(queue, "order-2"), draft(queue)])
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 503, reason: "unavailable" });
    model.clearFaults();
    expect(await store.stats(queue, at(1))).toMatchObject({ available: 1, enqueuedTotal: 1 });
  });

  it("applies a lease and an ack whose answers were lost once each, and reports them won", async () => {
    const queue = await createQueue();
    const [sent] = await store.enqueue(queue, [draft(queue)]);
    model.inject({ fault: "lost-answer", times: 1, kinds: ["replace"] });
    const leased = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 1, visibilityTimeoutSeconds: 30 },
      Math.random,
    );
    expect(leased.map((message) => message.id)).toEqual([sent?.message.id]);
    model.inject({ fault: "lost-answer", times: 1, kinds: ["replace"] });
    const [acked] = await settleMessages(store, queue, [
      {
        messageId: leased[0]?.id ?? "",
        decide: (stored) => onAck(stored, leased[0]?.leaseToken ?? "", at(2)),
      },
    ]);
    expect(acked?.ok).toBe(true);
    expect(model.usage().faults.get("lost-answer")).toBe(2);
    expect(await store.stats(queue, at(3))).toMatchObject({ available: 0, inFlight: 0, ackedTotal: 1 });
  });

  it("keeps a fifo group served when a receive retires it while a message of it is being created", async () => {
    counter++;
    const queue = aQueue({
      id: `q_faults_fifo_${counter}_${Date.now()}`,
      name: `faults-fifo-${counter}`,
      ordering: "fifo",
    });
    const created = await store.createQueue(queue);
    if (!created.ok) throw new Error(created.error.detail);
    const inGroup = () => ({ ...draft(queue), groupId: "g" });
    const [first] = await store.enqueue(queue, [inGroup()]);
    const [leased] = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 1, visibilityTimeoutSeconds: 30 },
      Math.random,
    );
    await settleMessages(store, queue, [
      { messageId: leased?.id ?? "", decide: (stored) => onAck(stored, leased?.leaseToken ?? "", at(2)) },
    ]);
    expect(leased?.id).toBe(first?.message.id);
    // The enqueue's creates (the group's place, then the message) are slow; a receive looks in between,
    // finds the group drained and retires it before the message exists.
    model.inject({ fault: "latency", times: 2, ms: 400, kinds: ["create", "batch"] });
    const sending = store.enqueue(queue, [inGroup()]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await store.candidates(queue, 0, at(3), 10)).toEqual([]);
    const [second] = await sending;
    const found = await store.candidates(queue, 0, at(3), 10);
    expect(found.map((candidate) => candidate.message.id)).toEqual([second?.message.id]);
  });

  it("reads and queries ride out 503s and timeouts", async () => {
    const queue = await createQueue();
    await store.enqueue(queue, [draft(queue)]);
    model.inject({ fault: "unavailable", times: 2, kinds: ["read", "query"] });
    model.inject({ fault: "timeout", times: 2, kinds: ["read", "query"] });
    expect(await store.getQueue(queue.tenantId, queue.name)).toMatchObject({ id: queue.id });
    expect(await store.stats(queue, at(1))).toMatchObject({ available: 1, enqueuedTotal: 1 });
  });

  it("lets a lease that yields to throttling go at its first 429, and throws the 429 when it lets every one go", async () => {
    const queue = await createQueue();
    await store.enqueue(queue, [draft(queue), draft(queue)]);
    const found = await store.candidates(queue, 0, at(1), 10);
    const leases = found.map((candidate) => ({
      version: candidate.version,
      ...applyChange(candidate.message, onReceive(candidate.message, queue, at(1), 30, "mine"), queue),
      yieldsToThrottling: true,
    }));
    // Room for one lease's replace a second: of two at once, one is written and the other let go.
    model.setBudget(12);
    const outcomes = await store.write(queue, leases);
    expect([...outcomes].sort()).toEqual(["throttled", "written"]);
    const letGo = leases[outcomes.indexOf("throttled")] as (typeof leases)[number];
    const throttledBefore = model.usage().throttled;
    const error = await store.write(queue, [letGo]).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 429, reason: "overloaded" });
    // One 429 and no retry after it.
    expect(model.usage().throttled).toBe(throttledBefore + 1);
    model.setBudget(undefined);
    const still = await store.readMessage(queue, letGo.next.id);
    expect(still?.message).toMatchObject({ deliveryCount: 0, leaseToken: null });
    // A write that does not yield waits the budget out, as before.
    expect(await store.write(queue, [{ ...letGo, yieldsToThrottling: false }])).toEqual(["written"]);
  });

  it("throws StoreBusyError 429 with the server's retry-after when a partition stays throttled past the budget", async () => {
    const queue = await createQueue();
    // A tenth of an RU a second: the first create empties the bucket, the next waits far past the 5 s budget.
    model.setBudget(0.1);
    await store.enqueue(queue, [draft(queue)]);
    const error = await store.enqueue(queue, [draft(queue)]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect(error).toMatchObject({ status: 429, reason: "overloaded" });
    expect((error as StoreBusyError).retryAfterMs).toBeGreaterThan(5_000);
    expect(store.isUnavailable(error)).toBe(true);
  });
});
