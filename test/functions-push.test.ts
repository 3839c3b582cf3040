import { mkdtempSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpRequest, type HttpResponseInit, InvocationContext } from "@azure/functions";
import type { ServiceBusMessage } from "@azure/service-bus";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type FaultProxy, startFaultProxy } from "../src/tools/fault-proxy.js";
import { cosmosHostEnv, storedDocuments } from "./cosmos-server.js";
import { adminToken } from "./dev-token.js";
import { CHANGE_FEED_SOURCE } from "./functions-recorder.js";

/**
 * The Azure push path as the Functions host runs it: Cosmos DB through the
 * local test server, the change-feed, Service Bus and timer functions invoked
 * with InvocationContext and trigger metadata, and the Service Bus client
 * faked at the SDK boundary (it records what would be scheduled), because no
 * Service Bus can run here.
 */
interface Registration {
  kind: string;
  name: string;
  options: { handler: (trigger: unknown, context: InvocationContext) => Promise<unknown> };
}

const registrations = vi.hoisted(() => [] as Registration[]);
/** What Service Bus accepted into `deliveries`, and what its duplicate detection dropped. */
const scheduled = vi.hoisted(() => [] as { queue: string; namespace: string; message: ServiceBusMessage }[]);
const duplicates = vi.hoisted(() => [] as ServiceBusMessage[]);
const published = vi.hoisted(
  () => [] as { hub: string; group: string; message: { type: string; data: Record<string, unknown> } }[],
);
const tokenRequests = vi.hoisted(() => [] as { groups?: string[]; roles?: string[] }[]);

vi.mock("@azure/web-pubsub", async (importOriginal) => {
  const original = await importOriginal<typeof import("@azure/web-pubsub")>();
  class RecordingWebPubSubServiceClient {
    constructor(
      readonly endpoint: string,
      _credential: unknown,
      readonly hub: string,
    ) {}
    group(group: string) {
      return {
        sendToAll: async (message: { type: string; data: Record<string, unknown> }) => {
          published.push({ hub: this.hub, group, message });
        },
      };
    }
    async getClientAccessToken(options: { groups?: string[]; roles?: string[] }) {
      tokenRequests.push(options);
      const baseUrl = `wss://pubsub.test/client/hubs/${this.hub}`;
      return { token: "t", baseUrl, url: `${baseUrl}?access_token=t` };
    }
  }
  return { ...original, WebPubSubServiceClient: RecordingWebPubSubServiceClient };
});

vi.mock("@azure/functions", async (importOriginal) =>
  (await import("./functions-recorder.js")).recordingFunctions(await importOriginal(), registrations),
);

vi.mock("@azure/service-bus", async (importOriginal) => {
  const original = await importOriginal<typeof import("@azure/service-bus")>();
  /**
   * Duplicate detection as infra/app/servicebus.bicep turns it on (window PT1H): a message whose id
   * was sent within the window is reported as accepted and dropped; nothing but the id counts
   * (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection).
   */
  const seen = new Map<string, number>();
  const WINDOW_MS = 60 * 60 * 1000;
  class RecordingServiceBusClient {
    constructor(readonly namespace: string) {}
    createSender(queue: string) {
      return {
        sendMessages: async (messages: ServiceBusMessage | ServiceBusMessage[]) => {
          for (const message of [messages].flat()) {
            const id = String(message.messageId);
            const sentAt = seen.get(id);
            if (sentAt !== undefined && Date.now() - sentAt < WINDOW_MS) {
              duplicates.push(message);
              continue;
            }
            seen.set(id, Date.now());
            scheduled.push({ queue, namespace: this.namespace, message });
          }
        },
      };
    }
  }
  return { ...original, ServiceBusClient: RecordingServiceBusClient };
});

const dataDir = mkdtempSync(join(tmpdir(), "conveyor-functions-push-"));
let env: Record<string, string>;
let token: string;
let receiver: { server: Server; url: string; deliveries: { headers: IncomingHttpHeaders; body: string }[] };
let status = 200;
/** Between the Functions app and Cosmos DB, to take the store away. */
let storeProxy: FaultProxy;

beforeAll(async () => {
  const cosmos = await cosmosHostEnv();
  storeProxy = await startFaultProxy(new URL(cosmos.COSMOS__accountEndpoint as string));
  env = {
    ...cosmos,
    COSMOS__accountEndpoint: storeProxy.url,
    COSMOS_DATABASE: `conveyor-functions-${process.pid}`,
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_LOG_LEVEL: "warn",
    CONVEYOR_ALLOW_PRIVATE_PUSH: "true",
    ServiceBusConnection__fullyQualifiedNamespace: "conveyor-test.servicebus.windows.net",
    WEB_PUBSUB_ENDPOINT: "https://pubsub.test",
  };
  Object.assign(process.env, env);
  await import("../src/functions/index.js");
  token = await adminToken(dataDir, "azure-tenant", "tester");
  const deliveries: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      deliveries.push({ headers: request.headers, body });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, deliveries };
});
afterAll(async () => {
  await storeProxy.close();
  await new Promise<void>((done) => receiver.server.close(() => done()));
});

const fn = (name: string) => {
  const registration = registrations.find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`no function ${name}`);
  return registration;
};

type Params = Record<string, string>;

/** Calls an HTTP function as the host would, as the tenant's admin: its status and JSON answer. */
async function http(name: string, method: string, path: string, params: Params, body?: unknown) {
  const request = new HttpRequest({
    method,
    url: `http://localhost${path}`,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    params,
    ...(body ? { body: { string: JSON.stringify(body) } } : {}),
  });
  const response = (await fn(name).options.handler(
    request,
    new InvocationContext({ functionName: name }),
  )) as HttpResponseInit;
  return {
    status: response.status,
    json: typeof response.body === "string" ? JSON.parse(response.body) : undefined,
  };
}

/** A GET of a queue's resource: the handler reads the route's parameters, not the path. */
const get = (name: string, params: Params) => http(name, "GET", "", params);

/** Creates a queue that pushes to the receiver and sends it `message`: the enqueue's answer. */
async function pushQueueWith(queue: string, message: Record<string, unknown>, settings = {}) {
  await http(
    "createQueue",
    "POST",
    "/v1/queues",
    {},
    { name: queue, ...settings, push: { url: receiver.url } },
  );
  return (await http("enqueue", "POST", `/v1/queues/${queue}/messages`, { queue }, message)).json;
}

/** Invokes a function that is not HTTP with its trigger's input, as the host would. */
const trigger = (name: string, input: unknown, triggerMetadata?: Record<string, unknown>) =>
  fn(name).options.handler(
    input,
    new InvocationContext({ functionName: name, ...(triggerMetadata ? { triggerMetadata } : {}) }),
  );

/** What the change feed would deliver: the documents of `messages` as stored. */
const changeFeed = () => storedDocuments(env, "messages");

/** The job body the change feed would schedule for a message's first attempt. */
const firstAttempt = (queueId: string, sent: { messageId: string; visibleAt: string }) => ({
  tenantId: "azure-tenant",
  queueId,
  messageId: sent.messageId,
  deliveryCount: 0,
  dueAt: sent.visibleAt,
});

/**
 * Trigger metadata as the Node.js worker hands it to a handler: the host's
 * binding data with every key's first letter lower-cased, nested keys too
 * (azure-functions-nodejs-library src/converters/fromRpcTriggerMetadata.ts
 * and toCamelCase.ts; Service Bus keys from azure-sdk-for-net
 * sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/Triggers/ServiceBusTriggerBindingStrategy.cs).
 */
const asWorkerSeesIt = (data: unknown): unknown =>
  typeof data !== "object" || data === null
    ? data
    : Array.isArray(data)
      ? data.map(asWorkerSeesIt)
      : Object.fromEntries(
          Object.entries(data).map(([key, value]) => [
            key.charAt(0).toLowerCase() + key.slice(1),
            asWorkerSeesIt(value),
          ]),
        );

const jobsFor = (messageId: string) =>
  scheduled.filter((entry) => (entry.message.body as { messageId: string }).messageId === messageId);

describe("push delivery on Azure (Functions, Cosmos DB, Service Bus at its SDK boundary)", () => {
  it("registers the change-feed, Service Bus and timer functions on the right sources", () => {
    const byName = Object.fromEntries(registrations.map((r) => [r.name, r]));
    expect(byName.messageChanges?.options).toMatchObject({
      ...CHANGE_FEED_SOURCE,
      containerName: "messages",
    });
    expect(byName.deliverPush?.options).toMatchObject({
      connection: "ServiceBusConnection",
      queueName: "deliveries",
    });
    expect(byName.deadLetterPush?.options).toMatchObject({ queueName: "deliveries/$DeadLetterQueue" });
    expect(byName.pushSafetyNet?.kind).toBe("timer");
  });

  it("change feed -> scheduled job -> delivery -> ack, signed and idempotent", async () => {
    const created = await http(
      "createQueue",
      "POST",
      "/v1/queues",
      {},
      { name: "pushed", push: { url: receiver.url } },
    );
    expect(created.status).toBe(201);
    const secret = created.json.push.signingSecret as string;
    const sent = await http(
      "enqueue",
      "POST",
      "/v1/queues/pushed/messages",
      { queue: "pushed" },
      { body: { n: 1 } },
    );
    expect(sent.status).toBe(201);

    const documents = await changeFeed();
    await trigger("messageChanges", documents);
    await trigger("messageChanges", documents); // the feed is at-least-once
    const jobs = jobsFor(sent.json.messageId);
    expect(jobs.length).toBeGreaterThanOrEqual(1);
    // The change feed also keeps the queue's stats history in Cosmos DB, for GET .../metrics.
    const history = await get("queueMetrics", { queue: "pushed" });
    expect(history.json.points.length).toBeGreaterThanOrEqual(2);
    expect(history.json.points[0]).toMatchObject({ enqueuedTotal: 1 });
    const ids = new Set(jobs.map((job) => job.message.messageId));
    expect(ids).toEqual(new Set([`${sent.json.messageId}:0:${Date.parse(sent.json.visibleAt)}`]));
    expect(jobs[0]).toMatchObject({ queue: "deliveries", namespace: "conveyor-test.servicebus.windows.net" });
    expect(jobs[0]?.message.scheduledEnqueueTimeUtc?.toISOString()).toBe(sent.json.visibleAt);

    const job = jobs[0]?.message.body;
    await trigger("deliverPush", job, { messageId: jobs[0]?.message.messageId, deliveryCount: 1 });
    const delivery = receiver.deliveries.at(-1);
    expect(
      new Webhook(secret).verify(delivery?.body ?? "", delivery?.headers as Record<string, string>),
    ).toEqual({ n: 1 });
    const peeked = await get("peekMessage", { queue: "pushed", messageId: sent.json.messageId });
    expect(peeked.json.state).toBe("acked");

    // The same job delivered again by Service Bus changes nothing.
    const before = receiver.deliveries.length;
    await trigger("deliverPush", job);
    expect(receiver.deliveries.length).toBe(before);
  });

  it("defers a job that arrives before its message is due", async () => {
    const sent = await pushQueueWith("later", { body: 2, delaySeconds: 60 });
    const early = {
      tenantId: "azure-tenant",
      queueId: "",
      messageId: sent.messageId,
      deliveryCount: 0,
      dueAt: new Date().toISOString(),
    };
    const queue = await get("getQueue", { queue: "later" });
    early.queueId = queue.json.id;
    await trigger("deliverPush", early);
    const deferred = jobsFor(sent.messageId).at(-1);
    expect(deferred?.message.scheduledEnqueueTimeUtc?.toISOString()).toBe(sent.visibleAt);
  });

  it("dead-letters the message when Service Bus dead-letters its job, with the broker's reason", async () => {
    const sent = await pushQueueWith("crashing", { body: 3 });
    const queue = await get("getQueue", { queue: "crashing" });
    const job = firstAttempt(queue.json.id, sent);
    // The binding data the Service Bus extension (v5) gives a dead-lettered message: the broker's
    // reason is an application property, not a top-level field.
    const bindingData = {
      MessageId: `${sent.messageId}:0:${Date.parse(sent.visibleAt)}`,
      DeliveryCount: 1,
      DeadLetterSource: null,
      ApplicationProperties: {
        DeadLetterReason: "MaxDeliveryCountExceeded",
        DeadLetterErrorDescription: "Message could not be consumed after 10 delivery attempts.",
      },
      UserProperties: {
        DeadLetterReason: "MaxDeliveryCountExceeded",
        DeadLetterErrorDescription: "Message could not be consumed after 10 delivery attempts.",
      },
    };
    await trigger("deadLetterPush", job, asWorkerSeesIt(bindingData) as Record<string, unknown>);
    const dlq = await get("listDeadLetters", { queue: "crashing" });
    expect(dlq.json.messages[0]).toMatchObject({
      messageId: sent.messageId,
      reason: "push_failed",
      lastError:
        "the push job was dead-lettered by the broker: MaxDeliveryCountExceeded: Message could not be consumed after 10 delivery attempts.",
    });
  });

  it("the safety net gives a due message without a job one", async () => {
    const sent = await pushQueueWith("missed", { body: 4 });
    expect(jobsFor(sent.messageId)).toEqual([]);
    await trigger("pushSafetyNet", { isPastDue: false });
    expect(jobsFor(sent.messageId)).toHaveLength(1);
    expect(jobsFor(sent.messageId)[0]?.message.body).toMatchObject({
      messageId: sent.messageId,
      deliveryCount: 0,
    });
  });

  it("a job that arrives early is deferred under an id Service Bus keeps, once however often it is redelivered", async () => {
    const sent = await pushQueueWith("skewed", { body: 6, delaySeconds: 60 });
    await trigger("messageChanges", await changeFeed());
    const [first] = jobsFor(sent.messageId);
    expect(first?.message.messageId).toBe(`${sent.messageId}:0:${Date.parse(sent.visibleAt)}`);

    // Service Bus hands the job over before the message is due by this host's clock (clock skew),
    // twice: the second delivery is Service Bus retrying the invocation.
    for (let delivery = 0; delivery < 2; delivery++) {
      await trigger("deliverPush", first?.message.body);
    }
    const jobs = jobsFor(sent.messageId);
    expect(jobs).toHaveLength(2);
    const deferred = jobs[1]?.message;
    expect(deferred?.messageId).not.toBe(first?.message.messageId);
    expect(deferred?.scheduledEnqueueTimeUtc?.getTime()).toBeGreaterThanOrEqual(Date.parse(sent.visibleAt));

    // Early again: the next deferral's id is new too, and never an earlier one of the chain.
    await trigger("deliverPush", deferred?.body);
    expect(new Set(jobsFor(sent.messageId).map((job) => job.message.messageId)).size).toBe(3);
  });

  it("the safety net's job is kept even when the change feed's job for the attempt was already taken", async () => {
    const sent = await pushQueueWith("netted", { body: 7 });
    await trigger("messageChanges", await changeFeed());
    expect(jobsFor(sent.messageId)).toHaveLength(1);
    // That job was received and lost (say its instance died after a deferral the broker dropped):
    // the message is still due, with no job.
    const timer = () => trigger("pushSafetyNet", { isPastDue: false });
    await timer();
    expect(jobsFor(sent.messageId)).toHaveLength(2);
    // A second run in the same period does not pile up jobs: it repeats the first one's id.
    await timer();
    expect(jobsFor(sent.messageId)).toHaveLength(2);
    expect(duplicates.map((job) => job.messageId)).toContain(jobsFor(sent.messageId)[1]?.message.messageId);
  });

  it("a failing webhook nacks with backoff, and the last attempt dead-letters with push_failed", async () => {
    status = 500;
    const sent = await pushQueueWith("failing", { body: 5 }, { maxDeliveries: 1 });
    const queue = await get("getQueue", { queue: "failing" });
    const job = firstAttempt(queue.json.id, sent);
    await trigger("deliverPush", job);
    status = 200;
    const dlq = await get("listDeadLetters", { queue: "failing" });
    expect(dlq.json.messages[0]).toMatchObject({
      messageId: sent.messageId,
      reason: "push_failed",
      lastError: "HTTP 500",
    });

    // The change feed turns the dead letter into a live event in the queue's Web PubSub group.
    await trigger("messageChanges", await changeFeed());
    const event = published.find(
      (entry) =>
        entry.message.type === "message.dead_lettered" && entry.message.data.messageId === sent.messageId,
    );
    expect(event).toMatchObject({ hub: "conveyor", group: `azure-tenant.${queue.json.id}` });
    expect(event?.message.data).toMatchObject({ queue: "failing", reason: "push_failed" });
  });

  it("a store outage reschedules the job with a growing backoff instead of spending Service Bus's deliveries", async () => {
    const sent = await pushQueueWith("outage", { body: 8 });
    const queue = await get("getQueue", { queue: "outage" });
    let job: unknown = firstAttempt(queue.json.id, sent);
    const waits: number[] = [];
    await storeProxy.setMode("unavailable");
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const before = jobsFor(sent.messageId).length;
        const started = Date.now();
        // Resolves, so Service Bus completes this delivery instead of redelivering it at once.
        await trigger("deliverPush", job);
        const retries = jobsFor(sent.messageId);
        expect(retries).toHaveLength(before + 1);
        const retry = retries.at(-1)?.message;
        waits.push((retry?.scheduledEnqueueTimeUtc?.getTime() ?? 0) - started);
        job = retry?.body;
      }
    } finally {
      await storeProxy.setMode("pass");
    }
    expect(waits[0]).toBeGreaterThanOrEqual(400);
    expect(waits[1]).toBeGreaterThan(waits[0] as number);
    expect(waits[2]).toBeGreaterThan(waits[1] as number);
    expect(new Set(jobsFor(sent.messageId).map((entry) => entry.message.messageId)).size).toBe(3);

    // The store is back: the rescheduled job delivers the message.
    await trigger("deliverPush", job);
    const peeked = await get("peekMessage", { queue: "outage", messageId: sent.messageId });
    expect(peeked.json.state).toBe("acked");
  });

  it("hands dashboards a Web PubSub connection for one queue's group, and does not stream itself", async () => {
    await http("createQueue", "POST", "/v1/queues", {}, { name: "dashboard" });
    const queue = await get("getQueue", { queue: "dashboard" });
    const negotiated = await get("negotiateQueueEvents", { queue: "dashboard" });
    expect(negotiated).toMatchObject({
      status: 200,
      json: { transport: "webpubsub", url: expect.stringMatching(/^wss:/) },
    });
    const group = `azure-tenant.${queue.json.id}`;
    expect(tokenRequests.at(-1)).toMatchObject({
      groups: [group],
      roles: [`webpubsub.joinLeaveGroup.${group}`],
    });
    const streamed = await get("queueEvents", { queue: "dashboard" });
    expect(streamed).toMatchObject({ status: 501, json: { code: "not_implemented" } });
  });
});
