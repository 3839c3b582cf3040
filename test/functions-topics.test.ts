import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { InvocationContext } from "@azure/functions";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { Principal } from "../src/domain/access.js";
import type { Queue } from "../src/domain/queue.js";
import { copyId, type PendingCopy, type Subscription, type Topic } from "../src/domain/topic.js";
import type { TopicContext } from "../src/service/topics.js";
import { publish } from "../src/service/topics.js";
import { cosmosHostEnv, storedDocuments } from "./cosmos-server.js";
import { aQueue } from "./fixtures.js";
import { CHANGE_FEED_SOURCE } from "./functions-recorder.js";

/**
 * The topic fan-out on Azure as the Functions host runs it: Cosmos DB
 * through the local test server, the `topicChanges` change-feed and
 * `topicSafetyNet` timer handlers invoked with an InvocationContext and the
 * documents the change feed would carry (the container's items as stored).
 * Messages are published through the store, without the inline attempt, to
 * stand for a publish whose host died right after answering.
 */
interface Registration {
  kind: string;
  name: string;
  options: Record<string, unknown> & {
    handler: (trigger: unknown, context: InvocationContext) => Promise<unknown>;
  };
}

const registrations = vi.hoisted(() => [] as Registration[]);

vi.mock("@azure/functions", async (importOriginal) =>
  (await import("./functions-recorder.js")).recordingFunctions(await importOriginal(), registrations),
);

let env: Record<string, string>;
let runtime: TopicContext;
let OVERDUE_AFTER_MS: number;

beforeAll(async () => {
  env = {
    ...(await cosmosHostEnv()),
    COSMOS_DATABASE: `conveyor-functions-topics-${process.pid}`,
    CONVEYOR_DATA_DIR: mkdtempSync(join(tmpdir(), "conveyor-functions-topics-")),
    CONVEYOR_LOG_LEVEL: "warn",
    // Every function's Conveyor schedules push jobs on Service Bus; the client connects lazily, so none is reached here.
    ServiceBusConnection__fullyQualifiedNamespace: "conveyor-test.servicebus.windows.net",
  };
  Object.assign(process.env, env);
  await import("../src/functions/index.js");
  runtime = (await (await import("../src/functions/runtime.js")).conveyor()).topics;
  ({ OVERDUE_AFTER_MS } = await import("../src/functions/topic-safety-net.js"));
});

const fn = (name: string) => {
  const registration = registrations.find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`no function ${name}`);
  return registration;
};

/** What the change feed would deliver: the documents of `topicMessages` as stored. */
const changeFeed = () => storedDocuments(env, "topicMessages");

const runChangeFeed = async (documents: unknown[]) =>
  fn("topicChanges").options.handler(documents, new InvocationContext({ functionName: "topicChanges" }));
const runSafetyNet = async () =>
  fn("topicSafetyNet").options.handler(
    { isPastDue: false },
    new InvocationContext({ functionName: "topicSafetyNet" }),
  );

let counter = 0;
const TENANT = "azure-tenant";
const admin: Principal = { tenantId: TENANT, subject: "tester", roles: ["admin"] };

async function aFanOut(
  queues: Partial<Queue>[],
): Promise<{ topic: Topic; queues: Queue[]; subscriptions: Subscription[] }> {
  counter++;
  const now = runtime.service.clock.now();
  const topic: Topic = {
    id: `t_fn_${counter}_${Date.now()}`,
    tenantId: TENANT,
    name: `events-${counter}`,
    access: [],
    deduplicationWindowSeconds: 300,
    createdAt: now,
    updatedAt: now,
  };
  const created = await runtime.topics.createTopic(topic);
  if (!created.ok) throw new Error(created.error.detail);
  const made: Queue[] = [];
  const subscriptions: Subscription[] = [];
  for (const [index, overrides] of queues.entries()) {
    const queue = aQueue({
      id: `q_fn_${counter}_${index}_${Date.now()}`,
      tenantId: TENANT,
      name: `sub-${counter}-${index}`,
      ...overrides,
    });
    const result = await runtime.service.store.createQueue(queue);
    if (!result.ok) throw new Error(result.error.detail);
    const subscription: Subscription = {
      id: `s_fn_${counter}_${index}`,
      tenantId: TENANT,
      topicId: topic.id,
      name: `s${index}`,
      queueId: queue.id,
      queueName: queue.name,
      filter: null,
      createdAt: now,
      updatedAt: now,
    };
    await runtime.topics.putSubscription(topic, subscription);
    made.push(queue);
    subscriptions.push(subscription);
  }
  return { topic, queues: made, subscriptions };
}

const copyOf = (subscription: Subscription): PendingCopy => ({
  subscriptionId: subscription.id,
  subscriptionName: subscription.name,
  queueId: subscription.queueId,
});

/** A publish written and answered, whose host died before its inline attempt. */
async function publishWithoutFanOut(
  topic: Topic,
  subscriptions: Subscription[],
  count: number,
  options: { publishedAt?: Date; groupId?: string } = {},
): Promise<string[]> {
  const published = await runtime.topics.publish(
    topic,
    Array.from({ length: count }, () => {
      counter++;
      return {
        id: `m_fn_${counter}_${Date.now()}`,
        body: JSON.stringify({ n: counter }),
        attributes: { type: "order.created" },
        ...(options.groupId ? { groupId: options.groupId } : {}),
        dedupKey: null,
        publishedAt: options.publishedAt ?? runtime.service.clock.now(),
        copies: subscriptions.map(copyOf),
        filtered: 0,
      };
    }),
  );
  return published.map((result) => result.message.id);
}

const copiesIn = async (queue: Queue) => (await runtime.service.store.stats(queue, new Date())).available;

describe("topic fan-out on Azure (Functions, Cosmos DB change feed and timer)", () => {
  it("registers the change feed on topicMessages with its own lease prefix, and the timer", () => {
    expect(fn("topicChanges")).toMatchObject({
      kind: "cosmosDB",
      options: {
        ...CHANGE_FEED_SOURCE,
        containerName: "topicMessages",
        leaseContainerPrefix: "topicChanges-",
        startFromBeginning: true,
      },
    });
    // The queue change feed keeps its leases where they are: a new prefix would restart it from scratch.
    expect(fn("messageChanges").options.leaseContainerPrefix).toBeUndefined();
    expect(fn("topicSafetyNet")).toMatchObject({ kind: "timer", options: { schedule: "30 */1 * * * *" } });
  });

  it("the change feed makes every pending copy once, however often its batch is delivered", async () => {
    const { topic, queues, subscriptions } = await aFanOut([{}, {}, {}]);
    const ids = await publishWithoutFanOut(topic, subscriptions, 2);
    for (const queue of queues) expect(await copiesIn(queue)).toBe(0);

    const documents = await changeFeed();
    await runChangeFeed(documents);
    await runChangeFeed(documents); // the feed is at-least-once
    await runChangeFeed(await changeFeed()); // and a later batch carries the settled messages

    for (const [index, queue] of queues.entries()) {
      expect(await copiesIn(queue)).toBe(2);
      const subscription = subscriptions[index] as Subscription;
      for (const id of ids) {
        const copy = await runtime.service.store.getMessage(queue, copyId(id, subscription.id));
        expect(copy?.attributes).toMatchObject({
          "conveyor-topic": topic.name,
          "conveyor-topic-message-id": id,
        });
      }
    }
    const stats = await runtime.topics.stats(topic);
    expect(stats.topic).toEqual({ publishedTotal: 2, deliveredTotal: 6, filteredTotal: 0 });
    for (const subscription of subscriptions) {
      expect(stats.subscriptions.get(subscription.id)?.deliveredTotal).toBe(2);
    }
    expect(await runtime.topics.pendingMessages(topic, 10)).toEqual([]);
  });

  it("keeps a group's publish order into a fifo subscription queue, whatever order the batch holds", async () => {
    const { topic, queues, subscriptions } = await aFanOut([{ ordering: "fifo" }]);
    const ids = await publishWithoutFanOut(topic, subscriptions, 4, { groupId: "g" });
    await runChangeFeed((await changeFeed()).reverse());

    const queue = queues[0] as Queue;
    const subscription = subscriptions[0] as Subscription;
    const sequences: number[] = [];
    for (const id of ids) {
      const copy = await runtime.service.store.getMessage(queue, copyId(id, subscription.id));
      sequences.push(copy?.sequence ?? -1);
    }
    expect(sequences.every((sequence, index) => index === 0 || sequence > (sequences[index - 1] ?? 0))).toBe(
      true,
    );
    expect(sequences).not.toContain(-1);
  });

  it("the safety net makes what topics with overdue messages owe, and leaves recent ones to the change feed", async () => {
    const late = await aFanOut([{}, {}]);
    const fresh = await aFanOut([{}]);
    const now = runtime.service.clock.now().getTime();
    const [overdue] = await publishWithoutFanOut(late.topic, late.subscriptions, 1, {
      publishedAt: new Date(now - OVERDUE_AFTER_MS - 5_000),
    });
    const [recent] = await publishWithoutFanOut(fresh.topic, fresh.subscriptions, 1, {
      publishedAt: new Date(now),
    });

    await runSafetyNet();
    await runSafetyNet();
    for (const [index, queue] of late.queues.entries()) {
      const subscription = late.subscriptions[index] as Subscription;
      expect(
        await runtime.service.store.getMessage(queue, copyId(overdue ?? "", subscription.id)),
      ).toBeDefined();
      expect(await copiesIn(queue)).toBe(1);
    }
    expect((await runtime.topics.stats(late.topic)).topic.deliveredTotal).toBe(2);
    // Not overdue yet: the change feed's to make.
    const freshQueue = fresh.queues[0] as Queue;
    expect(await copiesIn(freshQueue)).toBe(0);
    await runChangeFeed(await changeFeed());
    const freshSubscription = fresh.subscriptions[0] as Subscription;
    expect(
      await runtime.service.store.getMessage(freshQueue, copyId(recent ?? "", freshSubscription.id)),
    ).toBeDefined();
  });

  it("skips the messages of a deleted topic without failing the batch", async () => {
    const { topic, queues, subscriptions } = await aFanOut([{}]);
    await publishWithoutFanOut(topic, subscriptions, 1);
    const documents = await changeFeed();
    await runtime.topics.deleteTopic(topic);
    await runChangeFeed(documents);
    expect(await copiesIn(queues[0] as Queue)).toBe(0);
  });

  it("times a copy's arrival on the inline path and on the change-feed path", async () => {
    const rounds = 20;
    const { topic, queues, subscriptions } = await aFanOut([{}]);
    const queue = queues[0] as Queue;
    const subscription = subscriptions[0] as Subscription;
    const inline: number[] = [];
    const changeFeedPath: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Inline: the publish use case stores the message, then makes its copies before it answers.
      let started = performance.now();
      const answer = await publish(runtime, admin, topic.name, [{ bodyJson: JSON.stringify({ round }) }]);
      const messageId = answer.ok && answer.value[0]?.ok ? answer.value[0].value.messageId : "";
      expect(await runtime.service.store.getMessage(queue, copyId(messageId, subscription.id))).toBeDefined();
      inline.push(performance.now() - started);

      // Change feed: the message is stored without copies; the handler makes them from its document.
      const [id] = await publishWithoutFanOut(topic, subscriptions, 1);
      const documents = (await changeFeed()).filter((document) => (document as { id: string }).id === id);
      started = performance.now();
      await runChangeFeed(documents);
      expect(await runtime.service.store.getMessage(queue, copyId(id ?? "", subscription.id))).toBeDefined();
      changeFeedPath.push(performance.now() - started);
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    process.stdout.write(
      `\ncopy arrival over ${rounds} rounds, median ms: inline publish ${median(inline).toFixed(1)}, ` +
        `change-feed handler ${median(changeFeedPath).toFixed(1)} (plus the feed's poll delay on Azure)\n`,
    );
    expect(await copiesIn(queue)).toBe(2 * rounds);
  });
});
