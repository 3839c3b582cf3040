import { CosmosClient } from "@azure/cosmos";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StoreBusyError } from "../../src/adapters/cosmos/resilience.js";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import { owingMessageFromDocument } from "../../src/adapters/cosmos/topic-documents.js";
import { CosmosTopicStore } from "../../src/adapters/cosmos/topics.js";
import { parseFilter } from "../../src/domain/filter.js";
import type { PendingCopy, Subscription, Topic } from "../../src/domain/topic.js";
import type { NewTopicMessage } from "../../src/service/topic-ports.js";
import { type CosmosModel, startCosmosModel } from "../../src/tools/cosmos-model/model.js";
import { cosmosModelClient, cosmosTestEndpoint } from "../cosmos-server.js";

/**
 * The Cosmos DB topic store against @vercel/cosmosdb-server: the real SDK
 * over the REST protocol, with etags enforced. Times are explicit; the
 * store's own clock only decides item TTL, which this server does not apply.
 */
const DATABASE = "conveyor-topics-test";
let client: CosmosClient;
let store: CosmosTopicStore;

beforeAll(async () => {
  client = new CosmosClient({
    endpoint: await cosmosTestEndpoint(),
    key: "local-test-server-accepts-any-key",
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  await CosmosStore.ensureContainers(client, DATABASE);
  store = new CosmosTopicStore({ client, databaseId: DATABASE });
});

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
let counter = 0;

function topicDraft(overrides: Partial<Topic> = {}): Topic {
  counter++;
  return {
    id: `t_${counter}_${Date.now()}`,
    tenantId: "tenant-a",
    name: `topic-${counter}-${Date.now()}`,
    access: [],
    deduplicationWindowSeconds: 300,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

async function aTopic(overrides: Partial<Topic> = {}): Promise<Topic> {
  const topic = topicDraft(overrides);
  const created = await store.createTopic(topic);
  if (!created.ok) throw new Error(created.error.detail);
  return topic;
}

function aSubscription(topic: Topic, name: string, overrides: Partial<Subscription> = {}): Subscription {
  counter++;
  return {
    id: `s_${counter}`,
    tenantId: topic.tenantId,
    topicId: topic.id,
    name,
    queueId: `q_${name}`,
    queueName: name,
    filter: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

const copyFor = (subscription: Subscription): PendingCopy => ({
  subscriptionId: subscription.id,
  subscriptionName: subscription.name,
  queueId: subscription.queueId,
});

function aMessage(copies: PendingCopy[], overrides: Partial<NewTopicMessage> = {}): NewTopicMessage {
  counter++;
  return {
    id: `m_${counter}_${Date.now()}`,
    body: JSON.stringify({ n: counter }),
    attributes: { type: "order.created" },
    dedupKey: null,
    publishedAt: T0,
    copies,
    filtered: 0,
    ...overrides,
  };
}

/** The documents of one topic's partition, as the change feed would carry them. */
async function partitionOf(topic: Topic): Promise<Record<string, unknown>[]> {
  const { resources } = await client
    .database(DATABASE)
    .container("topicMessages")
    .items.query<Record<string, unknown>>(
      { query: "SELECT * FROM c WHERE c.topicId = @t", parameters: [{ name: "@t", value: topic.id }] },
      { partitionKey: topic.id },
    )
    .fetchAll();
  return resources;
}

describe("the Cosmos DB topic store", () => {
  it("creates topics once per name and tenant, finds them by name and id, and lists them in pages", async () => {
    const topic = await aTopic({
      name: `orders-${Date.now()}`,
      access: [{ principal: "svc", grants: ["publish"] }],
    });
    expect(await store.createTopic({ ...topic, id: "t_other" })).toMatchObject({
      ok: false,
      error: { code: "conflict" },
    });
    expect(await store.getTopic("tenant-a", topic.name)).toEqual(topic);
    expect(await store.getTopicById("tenant-a", topic.id)).toEqual(topic);
    // Another tenant's topic is not there for anyone else, by name or by id.
    expect(await store.getTopic("tenant-b", topic.name)).toBeUndefined();
    expect(await store.getTopicById("tenant-b", topic.id)).toBeUndefined();

    const tenant = `tenant-list-${Date.now()}`;
    for (const name of ["c", "a", "b"]) await aTopic({ tenantId: tenant, name });
    const first = await store.listTopics(tenant, { limit: 2 });
    if (!first.ok) throw new Error(first.error.detail);
    expect(first.value.items.map((item) => item.name)).toEqual(["a", "b"]);
    const second = await store.listTopics(tenant, { limit: 2, cursor: first.value.nextCursor ?? undefined });
    expect(second.ok && second.value.items.map((item) => item.name)).toEqual(["c"]);
    expect(await store.listTopics(tenant, { limit: 2, cursor: "not-a-cursor" })).toMatchObject({ ok: false });
  });

  it("creates and replaces subscriptions: a replacement keeps its id, creation time and counters", async () => {
    const topic = await aTopic();
    const filter = parseFilter({ attributes: { region: { prefix: "eu-" } } });
    if (!filter.ok) throw new Error("bad filter");
    const billing = aSubscription(topic, "billing", { filter: filter.value });
    expect(await store.putSubscription(topic, billing)).toEqual({ subscription: billing, created: true });
    await store.putSubscription(topic, aSubscription(topic, "analytics"));

    const [message] = await store.publish(topic, [aMessage([copyFor(billing)])]);
    await store.recordCopies(topic, message?.message.id ?? "", [
      { subscriptionId: billing.id, delivered: true },
    ]);

    const replacement = aSubscription(topic, "billing", {
      queueId: "q_ledger",
      queueName: "ledger",
      updatedAt: at(60),
    });
    const replaced = await store.putSubscription(topic, replacement);
    expect(replaced.created).toBe(false);
    expect(replaced.subscription).toEqual({ ...replacement, id: billing.id, createdAt: T0 });
    expect(await store.getSubscription(topic, "billing")).toEqual(replaced.subscription);
    expect((await store.listSubscriptions(topic)).map((subscription) => subscription.name)).toEqual([
      "analytics",
      "billing",
    ]);
    expect((await store.stats(topic)).subscriptions.get(billing.id)).toEqual({
      deliveredTotal: 1,
      undeliverableTotal: 0,
      lastError: null,
    });
    // The filter comes back as the rule it was given (a Map keyed by attribute name).
    expect((await store.getSubscription(topic, "analytics"))?.filter).toBeNull();

    expect(await store.deleteSubscription(topic, "billing")).toBe(true);
    expect(await store.deleteSubscription(topic, "billing")).toBe(false);
    expect(await store.getSubscription(topic, "billing")).toBeUndefined();
    // Re-created under the same name, it is another subscription, counted from zero.
    const again = aSubscription(topic, "billing");
    expect((await store.putSubscription(topic, again)).created).toBe(true);
    expect((await store.stats(topic)).subscriptions.get(again.id)).toEqual({
      deliveredTotal: 0,
      undeliverableTotal: 0,
      lastError: null,
    });
  });

  it("stores a publish with its pending copies, in call order, and counts published and filtered messages", async () => {
    const topic = await aTopic();
    const billing = aSubscription(topic, "billing");
    await store.putSubscription(topic, billing);
    const messages = [aMessage([copyFor(billing)], { filtered: 2 }), aMessage([], { filtered: 3 })];
    const published = await store.publish(topic, messages);

    expect(published.map((result) => [result.duplicate, result.made])).toEqual([
      [false, []],
      [false, []],
    ]);
    const [first, second] = published.map((result) => result.message);
    expect(first).toMatchObject({
      id: messages[0]?.id,
      tenantId: topic.tenantId,
      topicId: topic.id,
      pending: [copyFor(billing)],
      copies: [copyFor(billing)],
      publishedAt: T0,
    });
    expect((second?.sequence ?? 0) > (first?.sequence ?? 0)).toBe(true);
    expect((await store.stats(topic)).topic).toEqual({
      publishedTotal: 2,
      deliveredTotal: 0,
      filteredTotal: 5,
    });

    // Only the message that owes a copy is pending, and only it is fan-out work on the change feed.
    expect((await store.pendingMessages(topic, 10)).map((message) => message.id)).toEqual([first?.id]);
    const owing = (await partitionOf(topic))
      .map(owingMessageFromDocument)
      .filter((message) => message !== undefined);
    expect(owing.map((message) => message.id)).toEqual([first?.id]);
  });

  it("deduplicates within the topic's window, inside one call and across calls, and not after it", async () => {
    const topic = await aTopic({ deduplicationWindowSeconds: 60 });
    const billing = aSubscription(topic, "billing");
    await store.putSubscription(topic, billing);
    const [original, sameCall] = await store.publish(topic, [
      aMessage([copyFor(billing)], { dedupKey: "order-1" }),
      aMessage([copyFor(billing)], { dedupKey: "order-1", publishedAt: at(1) }),
    ]);
    expect(original?.duplicate).toBe(false);
    expect(sameCall).toMatchObject({ duplicate: true, message: { id: original?.message.id } });

    const [later] = await store.publish(topic, [
      aMessage([copyFor(billing)], { dedupKey: "order-1", publishedAt: at(59) }),
    ]);
    expect(later).toMatchObject({ duplicate: true, message: { id: original?.message.id } });
    const [afterWindow] = await store.publish(topic, [
      aMessage([copyFor(billing)], { dedupKey: "order-1", publishedAt: at(61) }),
    ]);
    expect(afterWindow?.duplicate).toBe(false);
    expect(afterWindow?.message.id).not.toBe(original?.message.id);

    expect((await store.stats(topic)).topic.publishedTotal).toBe(2);
    expect((await store.pendingMessages(topic, 10)).map((message) => message.id)).toEqual([
      original?.message.id,
      afterWindow?.message.id,
    ]);
  });

  it("stores one of two concurrent publishes with the same dedup key, and answers the other with it", async () => {
    const topic = await aTopic();
    const billing = aSubscription(topic, "billing");
    await store.putSubscription(topic, billing);
    const results = await Promise.all(
      [0, 1, 2].map(() => store.publish(topic, [aMessage([copyFor(billing)], { dedupKey: "order-7" })])),
    );
    const outcomes = results.map(([result]) => result);
    const stored = outcomes.filter((outcome) => outcome?.duplicate === false);
    expect(stored).toHaveLength(1);
    for (const outcome of outcomes) expect(outcome?.message.id).toBe(stored[0]?.message.id);
    // Nothing of a losing publish is written, so the fan-out owes one set of copies.
    expect(await store.pendingMessages(topic, 10)).toHaveLength(1);
    expect((await store.stats(topic)).topic.publishedTotal).toBe(1);
  });

  it("counts each copy once however often, and however concurrently, its outcome is recorded", async () => {
    const topic = await aTopic();
    const billing = aSubscription(topic, "billing");
    const shipping = aSubscription(topic, "shipping");
    const gone = aSubscription(topic, "gone");
    for (const subscription of [billing, shipping, gone]) await store.putSubscription(topic, subscription);
    const [published] = await store.publish(topic, [aMessage([billing, shipping, gone].map(copyFor))]);
    const id = published?.message.id ?? "";
    await store.deleteSubscription(topic, "gone");

    const outcomes = [
      { subscriptionId: billing.id, delivered: true as const },
      { subscriptionId: shipping.id, delivered: false as const, error: "payload_too_large: over 1024 bytes" },
    ];
    // The inline attempt, the change feed and a replay of it, at once.
    await Promise.all([
      store.recordCopies(topic, id, outcomes),
      store.recordCopies(topic, id, outcomes),
      store.recordCopies(topic, id, outcomes.slice(0, 1)),
    ]);
    await store.recordCopies(topic, id, outcomes);
    expect((await store.pendingMessages(topic, 10)).map((message) => message.pending)).toEqual([
      [copyFor(gone)],
    ]);

    await store.recordCopies(topic, id, [{ subscriptionId: gone.id, delivered: true }]);
    await store.recordCopies(topic, id, [{ subscriptionId: gone.id, delivered: true }]);
    expect(await store.pendingMessages(topic, 10)).toEqual([]);

    const stats = await store.stats(topic);
    // The deleted subscription's copy is made and counted on the topic, and on no subscription.
    expect(stats.topic).toEqual({ publishedTotal: 1, deliveredTotal: 2, filteredTotal: 0 });
    expect(Object.fromEntries(stats.subscriptions)).toEqual({
      [billing.id]: { deliveredTotal: 1, undeliverableTotal: 0, lastError: null },
      [shipping.id]: {
        deliveredTotal: 0,
        undeliverableTotal: 1,
        lastError: "payload_too_large: over 1024 bytes",
      },
    });
    // Settled, it carries an item TTL, so Cosmos DB removes it without a sweep.
    const document = (await partitionOf(topic)).find((item) => item.id === id);
    expect(document).toMatchObject({ owing: false });
    expect(document?.ttl).toBeGreaterThan(0);
    expect(owingMessageFromDocument(document)).toBeUndefined();
  });

  it("gives pending messages lowest sequence first, so fifo subscription queues keep publish order", async () => {
    const topic = await aTopic();
    const fifo = aSubscription(topic, "fifo");
    await store.putSubscription(topic, fifo);
    const ids: string[] = [];
    for (let call = 0; call < 3; call++) {
      const published = await store.publish(topic, [
        aMessage([copyFor(fifo)], { groupId: "g" }),
        aMessage([copyFor(fifo)], { groupId: "g" }),
      ]);
      ids.push(...published.map((result) => result.message.id));
    }
    expect((await store.pendingMessages(topic, 10)).map((message) => message.id)).toEqual(ids);
    expect((await store.pendingMessages(topic, 4)).map((message) => message.id)).toEqual(ids.slice(0, 4));
    expect((await store.pendingMessages(topic, 1))[0]).toMatchObject({
      groupId: "g",
      pending: [copyFor(fifo)],
    });
  });

  it("finds the topics, across tenants, with copies still owed from before a time, and not deleted ones", async () => {
    const owing = await aTopic({ tenantId: "tenant-x" });
    const settled = await aTopic({ tenantId: "tenant-y" });
    const recent = await aTopic({ tenantId: "tenant-y" });
    const deleted = await aTopic({ tenantId: "tenant-z" });
    for (const topic of [owing, settled, recent, deleted]) {
      const subscription = aSubscription(topic, "s");
      await store.putSubscription(topic, subscription);
      const publishedAt = topic === recent ? at(600) : T0;
      const [result] = await store.publish(topic, [aMessage([copyFor(subscription)], { publishedAt })]);
      if (topic === settled) {
        await store.recordCopies(topic, result?.message.id ?? "", [
          { subscriptionId: subscription.id, delivered: true },
        ]);
      }
    }
    await store.deleteTopic(deleted);

    const found = await store.topicsWithPendingCopies(at(300), 100);
    const ids = found.map((topic) => topic.id);
    expect(ids).toContain(owing.id);
    expect(ids).not.toContain(settled.id);
    expect(ids).not.toContain(recent.id);
    expect(ids).not.toContain(deleted.id);
    expect(found.find((topic) => topic.id === owing.id)).toEqual(owing);
  });

  it("removes messages that owe nothing once their dedup window has passed, never one that still owes", async () => {
    const topic = await aTopic({ deduplicationWindowSeconds: 60 });
    const subscription = aSubscription(topic, "s");
    await store.putSubscription(topic, subscription);
    const [settled, owing, none] = await store.publish(topic, [
      aMessage([copyFor(subscription)], { dedupKey: "k" }),
      aMessage([copyFor(subscription)]),
      aMessage([]),
    ]);
    await store.recordCopies(topic, settled?.message.id ?? "", [
      { subscriptionId: subscription.id, delivered: true },
    ]);

    expect(await store.removeExpiredTopicMessages(at(59))).toBe(0);
    expect(await store.removeExpiredTopicMessages(at(61))).toBeGreaterThanOrEqual(2);
    const left = (await partitionOf(topic)).filter((item) => item.kind === "message").map((item) => item.id);
    expect(left).toEqual([owing?.message.id]);
    expect(left).not.toContain(none?.message.id);
  });

  it("scopes every read of a topic's partition by its tenant too, not by the topic id alone", async () => {
    const topic = await aTopic();
    const billing = aSubscription(topic, "billing");
    await store.putSubscription(topic, billing);
    const [published] = await store.publish(topic, [aMessage([copyFor(billing)], { dedupKey: "k" })]);
    const forged: Topic = { ...topic, tenantId: "tenant-b" };

    expect(await store.getSubscription(forged, "billing")).toBeUndefined();
    expect(await store.listSubscriptions(forged)).toEqual([]);
    expect(await store.deleteSubscription(forged, "billing")).toBe(false);
    expect(await store.pendingMessages(forged, 10)).toEqual([]);
    expect((await store.stats(forged)).subscriptions.size).toBe(0);
    await store.recordCopies(forged, published?.message.id ?? "", [
      { subscriptionId: billing.id, delivered: true },
    ]);

    expect(await store.pendingMessages(topic, 10)).toHaveLength(1);
    expect((await store.stats(topic)).subscriptions.get(billing.id)?.deliveredTotal).toBe(0);
  });

  it("deletes a topic with its subscriptions and messages, and nothing of another topic", async () => {
    const topic = await aTopic();
    const neighbour = await aTopic();
    for (const each of [topic, neighbour]) {
      const subscription = aSubscription(each, "s");
      await store.putSubscription(each, subscription);
      await store.publish(each, [aMessage([copyFor(subscription)], { dedupKey: "k" })]);
    }
    await store.deleteTopic(topic);
    expect(await store.getTopic(topic.tenantId, topic.name)).toBeUndefined();
    expect(await partitionOf(topic)).toEqual([]);
    expect(await store.listSubscriptions(neighbour)).toHaveLength(1);
    expect(await store.pendingMessages(neighbour, 10)).toHaveLength(1);
    expect((await store.stats(neighbour)).topic.publishedTotal).toBe(1);
  });
});

/**
 * The same store through the Cosmos DB model's faults and throttling, with
 * the SDK's own 429 retries off as src/app.ts has them for both stores: a
 * write whose answer was lost is applied once and reported as done, reads
 * ride out 503s, and a partition throttled past the budget throws
 * StoreBusyError with the server's hint.
 */
describe("the Cosmos DB topic store under faults", () => {
  let model: CosmosModel;
  let faultyClient: CosmosClient;
  let faulty: CosmosTopicStore;

  beforeAll(async () => {
    model = await startCosmosModel({ target: await cosmosTestEndpoint() });
    faultyClient = cosmosModelClient(model.url, 0);
    faulty = new CosmosTopicStore({ client: faultyClient, databaseId: DATABASE });
  });
  afterAll(async () => {
    faultyClient.dispose();
    await model.close();
  });
  beforeEach(() => {
    model.clearFaults();
    model.setBudget(undefined);
    model.resetUsage();
  });

  const messagesOf = async (topic: Topic) =>
    (await partitionOf(topic))
      .filter((document) => document.kind === "message")
      .map((document) => document.id);

  it("stores a publish whose answer was lost once, with a dedup key or without, and the key's retry is a duplicate", async () => {
    const topic = await aTopic();
    model.inject({ fault: "lost-answer", times: 1, kinds: ["create"] });
    const [plain] = await faulty.publish(topic, [aMessage([])]);
    model.inject({ fault: "lost-answer", times: 1, kinds: ["batch"] });
    const [keyed] = await faulty.publish(topic, [aMessage([], { dedupKey: "order-1" })]);
    expect(model.usage().faults.get("lost-answer")).toBe(2);
    expect([plain?.duplicate, keyed?.duplicate]).toEqual([false, false]);
    const [again] = await faulty.publish(topic, [aMessage([], { dedupKey: "order-1" })]);
    expect(again).toMatchObject({ duplicate: true, message: { id: keyed?.message.id } });
    expect((await messagesOf(topic)).sort()).toEqual([plain?.message.id, keyed?.message.id].sort());
    // Counted by the store that answered the publishes: its stats send them first.
    expect((await faulty.stats(topic)).topic.publishedTotal).toBe(2);
  });

  it("records copies whose replace answer was lost once, counting each copy once", async () => {
    const topic = await aTopic();
    const billing = aSubscription(topic, "billing");
    await store.putSubscription(topic, billing);
    const [published] = await store.publish(topic, [aMessage([copyFor(billing)])]);
    model.inject({ fault: "lost-answer", times: 1, kinds: ["replace"] });
    await faulty.recordCopies(topic, published?.message.id ?? "", [
      { subscriptionId: billing.id, delivered: true },
    ]);
    expect(model.usage().faults.get("lost-answer")).toBe(1);
    expect(await store.pendingMessages(topic, 10)).toEqual([]);
    const stats = await faulty.stats(topic);
    expect(stats.topic.deliveredTotal).toBe(1);
    expect(stats.subscriptions.get(billing.id)?.deliveredTotal).toBe(1);
  });

  it("creates a topic and a subscription whose answers were lost once, and a second create of the name is a conflict", async () => {
    const topic = topicDraft();
    model.inject({ fault: "lost-answer", times: 1, kinds: ["create"] });
    expect(await faulty.createTopic(topic)).toEqual({ ok: true, value: topic });
    expect(await faulty.createTopic({ ...topic, id: "t_other" })).toMatchObject({
      ok: false,
      error: { code: "conflict" },
    });
    const billing = aSubscription(topic, "billing");
    // The counters' upsert goes first and may be repeated; the subscription's create is the one whose answer is lost.
    model.inject({ fault: "lost-answer", times: 1, kinds: ["create"] });
    expect(await faulty.putSubscription(topic, billing)).toEqual({ subscription: billing, created: true });
    expect(await store.getSubscription(topic, "billing")).toEqual(billing);
  });

  it("reads and queries ride out 503s and timeouts", async () => {
    const topic = await aTopic();
    await store.putSubscription(topic, aSubscription(topic, "billing"));
    model.inject({ fault: "unavailable", times: 2, kinds: ["read", "query"] });
    model.inject({ fault: "timeout", times: 2, kinds: ["read", "query"] });
    expect(await faulty.getTopic(topic.tenantId, topic.name)).toEqual(topic);
    expect((await faulty.listSubscriptions(topic)).map((subscription) => subscription.name)).toEqual([
      "billing",
    ]);
    expect((await faulty.stats(topic)).topic.publishedTotal).toBe(0);
    expect(model.usage().faults.get("unavailable")).toBe(2);
  });

  it("throws StoreBusyError 429 with the server's retry-after when the topic's partition stays throttled", async () => {
    const topic = await aTopic();
    // A tenth of an RU a second: the first publish empties the bucket, the next waits far past the 5 s budget.
    model.setBudget(0.1);
    await faulty.publish(topic, [aMessage([])]);
    const error = await faulty.publish(topic, [aMessage([])]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect(error).toMatchObject({ status: 429, reason: "overloaded" });
    expect((error as StoreBusyError).retryAfterMs).toBeGreaterThan(5_000);
  });
});
