import type { CosmosClient } from "@azure/cosmos";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import type { DraftMessage } from "../../src/domain/enqueue.js";
import { onAck } from "../../src/domain/lease.js";
import { messageIdIn, partitionFor } from "../../src/domain/partition.js";
import type { Queue } from "../../src/domain/queue.js";
import { leaseMessages } from "../../src/service/receive.js";
import { settleMessages } from "../../src/service/settle.js";
import { type CosmosModel, startCosmosModel } from "../../src/tools/cosmos-model/model.js";
import { cosmosModelClient, cosmosTestEndpoint } from "../cosmos-server.js";
import { aDraft, aQueue, at } from "../fixtures.js";

/**
 * The lifetime totals of the Cosmos DB store, counted in memory and sent as
 * one `incr` patch per partition a flush (src/adapters/cosmos/totals.ts),
 * through the Cosmos DB model, which counts the patches.
 */

let model: CosmosModel;
const clients: CosmosClient[] = [];
let counter = 0;
const databaseId = `totals-${process.pid}`;

const newClient = () => {
  const client = cosmosModelClient(model.url, 0);
  clients.push(client);
  return client;
};

/** A store as one instance of the app has it; `totalsFlushMs` long, so that only an explicit flush sends. */
const newStore = (totalsFlushMs = 60_000) =>
  new CosmosStore({ client: newClient(), databaseId, totalsFlushMs });

beforeAll(async () => {
  model = await startCosmosModel({ target: await cosmosTestEndpoint() });
  await CosmosStore.ensureContainers(newClient(), databaseId);
});
afterAll(async () => {
  for (const client of clients) client.dispose();
  await model.close();
});
beforeEach(() => {
  model.clearFaults();
  model.setBudget(undefined);
  model.resetUsage();
});

const createQueue = async (store: CosmosStore, partitions = 1): Promise<Queue> => {
  counter++;
  const queue = aQueue({ id: `q_totals_${counter}_${Date.now()}`, name: `totals-${counter}`, partitions });
  const created = await store.createQueue(queue);
  if (!created.ok) throw new Error(created.error.detail);
  return queue;
};

/** A message of its own in one of the queue's partitions. */
const draft = (queue: Queue): DraftMessage => {
  counter++;
  const id = messageIdIn(`m_${counter}`, partitionFor(queue, { groupId: null, dedupKey: null }, Math.random));
  return aDraft({ id, body: JSON.stringify({ n: counter }) });
};

const patches = () => model.usage().byKind.get("patch")?.requests ?? 0;

/** Enqueues, receives and acks `n` messages one call at a time. */
async function lives(store: CosmosStore, queue: Queue, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.enqueue(queue, [draft(queue)]);
  for (let i = 0; i < n; i++) {
    const [message] = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 1, visibilityTimeoutSeconds: 30 },
      Math.random,
    );
    if (!message?.leaseToken) throw new Error("nothing to receive");
    const token = message.leaseToken;
    const [acked] = await settleMessages(store, queue, [
      { messageId: message.id, decide: (stored) => onAck(stored, token, at(2)) },
    ]);
    if (!acked?.ok) throw new Error("the ack failed");
  }
}

describe("the Cosmos DB store's lifetime totals", () => {
  it("sends one patch per partition for many calls, and its own stats count every one at once", async () => {
    const store = newStore();
    const queue = await createQueue(store);
    model.resetUsage();
    await lives(store, queue, 10);
    expect(patches()).toBe(0);
    expect(await store.stats(queue, at(3))).toMatchObject({
      enqueuedTotal: 10,
      ackedTotal: 10,
      available: 0,
    });
    expect(patches()).toBe(1);
  });

  it("reaches another instance with the next flush, and at the latest when the store closes", async () => {
    const writer = newStore(200);
    const reader = newStore();
    const queue = await createQueue(writer);
    await writer.enqueue(queue, [draft(queue), draft(queue)]);
    expect((await reader.stats(queue, at(1))).enqueuedTotal).toBe(0);
    await expect
      .poll(async () => (await reader.stats(queue, at(1))).enqueuedTotal, { timeout: 3_000 })
      .toBe(2);

    const closing = newStore();
    await closing.enqueue(queue, [draft(queue)]);
    await closing.close();
    expect((await reader.stats(queue, at(1))).enqueuedTotal).toBe(3);
  });

  it("keeps what a throttled flush could not send for the next one, and never counts it twice", async () => {
    const store = newStore();
    const queue = await createQueue(store);
    await store.enqueue(queue, [draft(queue), draft(queue), draft(queue)]);
    model.setBudget(1);
    // At 1 RU/s, the insert of 32 KB leaves the partition ~10 RU in debt: the flush's patch meets a 429 with a wait past any retry.
    await store.enqueue(queue, [{ ...draft(queue), body: "x".repeat(32 * 1024) }]);
    model.resetUsage();
    await expect(store.stats(queue, at(1))).rejects.toMatchObject({ reason: "overloaded" });
    expect(model.usage().throttled).toBeGreaterThan(0);
    expect(model.usage().byKind.get("patch")).toBeUndefined();
    model.setBudget(undefined);
    expect(await store.stats(queue, at(1))).toMatchObject({ enqueuedTotal: 4, available: 4 });
    expect(await store.stats(queue, at(1))).toMatchObject({ enqueuedTotal: 4 });
  });

  it("forgets what it counted for a queue it deleted", async () => {
    const store = newStore();
    const queue = await createQueue(store, 2);
    await store.enqueue(queue, [draft(queue), draft(queue)]);
    await store.deleteQueue(queue);
    model.resetUsage();
    await store.close();
    expect(patches()).toBe(0);
  });
});
