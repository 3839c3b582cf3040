import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";

interface Delivery {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real webhook receiver on loopback that answers with what the test says. */
async function webhookReceiver(answer: (delivery: Delivery, count: number) => number) {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const delivery = { at: Date.now(), headers: request.headers, body };
      deliveries.push(delivery);
      response.writeHead(answer(delivery, deliveries.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    deliveries,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let host: TestHost;
let client: ConveyorClient;

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_ALLOW_PRIVATE_PUSH: "true" });
  client = await host.admin();
});
afterAll(() => host.close());

describe("push delivery on the local host", () => {
  it("POSTs each message to the webhook, signed per Standard Webhooks, and acks on 2xx", async () => {
    const receiver = await webhookReceiver(() => 200);
    const queue = await client.createQueue({ name: "pushed", push: { url: receiver.url } });
    const secret = queue.push?.signingSecret as string;
    expect(secret).toMatch(/^whsec_/);
    expect((await client.getQueue("pushed")).push).not.toHaveProperty("signingSecret");

    const sent = await client.send("pushed", { body: { orderId: 7 } });
    const delivery = await until(() => receiver.deliveries[0]);
    expect(delivery.headers).toMatchObject({
      "content-type": "application/json",
      "webhook-id": sent.messageId,
      "conveyor-delivery-count": "1",
      "conveyor-queue": "pushed",
    });
    const headers = delivery.headers as Record<string, string>;
    expect(new Webhook(secret).verify(delivery.body, headers)).toEqual({ orderId: 7 });
    await until(async () => ((await client.stats("pushed")).ackedTotal === 1 ? true : undefined));
    await receiver.close();
  });

  it("retries with the queue's backoff, then dead-letters with push_failed and the last status", async () => {
    const receiver = await webhookReceiver(() => 503);
    await client.createQueue({
      name: "flaky",
      maxDeliveries: 3,
      retry: { initialDelaySeconds: 1, multiplier: 1, maxDelaySeconds: 1, jitter: false },
      push: { url: receiver.url },
    });
    const sent = await client.send("flaky", { body: "never accepted" });
    const dead = await until(async () => (await client.deadLetters("flaky")).messages[0]);
    expect(dead).toMatchObject({
      messageId: sent.messageId,
      reason: "push_failed",
      lastError: "HTTP 503",
      deliveryCount: 3,
    });
    expect(receiver.deliveries.map((d) => d.headers["conveyor-delivery-count"])).toEqual(["1", "2", "3"]);
    const gaps = receiver.deliveries.slice(1).map((d, i) => d.at - (receiver.deliveries[i] as Delivery).at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(900);
    await receiver.close();
  });

  it("records a connection failure as the last error", async () => {
    const receiver = await webhookReceiver(() => 200);
    await receiver.close();
    await client.createQueue({
      name: "unreachable",
      maxDeliveries: 1,
      push: { url: receiver.url },
    });
    await client.send("unreachable", { body: 1 });
    const dead = await until(async () => (await client.deadLetters("unreachable")).messages[0]);
    expect(dead).toMatchObject({ reason: "push_failed", lastError: expect.stringMatching(/ECONNREFUSED/) });
  });

  it("keeps at most maxConcurrency deliveries of a queue in flight", async () => {
    let open = 0;
    let peak = 0;
    const deliveries: number[] = [];
    const server = createServer((request, response) => {
      open++;
      peak = Math.max(peak, open);
      request.resume();
      setTimeout(() => {
        open--;
        deliveries.push(1);
        response.writeHead(200).end();
      }, 100);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await client.createQueue({ name: "throttled", push: { url, maxConcurrency: 2 } });
    await client.sendBatch(
      "throttled",
      Array.from({ length: 8 }, (_, n) => ({ body: n })),
    );
    await until(() => (deliveries.length === 8 ? true : undefined));
    expect(peak).toBe(2);
    await new Promise<void>((done) => server.close(() => done()));
  });

  it("rotates the signing secret on request", async () => {
    const receiver = await webhookReceiver(() => 200);
    const created = await client.createQueue({ name: "rotating", push: { url: receiver.url } });
    const rotated = await client.updateQueue("rotating", { push: { url: receiver.url, rotateSecret: true } });
    const secret = (rotated as { push?: { signingSecret?: string; secretVersion: number } }).push;
    expect(secret?.secretVersion).toBe(2);
    expect(secret?.signingSecret).toMatch(/^whsec_/);
    expect(secret?.signingSecret).not.toBe(created.push?.signingSecret);
    await client.send("rotating", { body: "after rotation" });
    const delivery = await until(() => receiver.deliveries[0]);
    expect(() =>
      new Webhook(created.push?.signingSecret as string).verify(
        delivery.body,
        delivery.headers as Record<string, string>,
      ),
    ).toThrow();
    expect(
      new Webhook(secret?.signingSecret as string).verify(
        delivery.body,
        delivery.headers as Record<string, string>,
      ),
    ).toBe("after rotation");
    await receiver.close();
  });
});

describe("push URL checks at queue creation", () => {
  it("refuses private, loopback, link-local and metadata targets on a host without CONVEYOR_ALLOW_PRIVATE_PUSH", async () => {
    const strict = await startTestHost();
    const admin = await strict.admin();
    for (const url of [
      "https://10.1.2.3/hook",
      "https://192.168.0.5/hook",
      "https://127.0.0.1/hook",
      "https://localhost/hook",
      "https://[::1]/hook",
      "https://[fd00::1]/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[fe80::1]/hook",
      "http://example.com/hook",
    ]) {
      const response = await admin.raw("POST", "/v1/queues", { body: { name: "nope", push: { url } } });
      expect([url, response.status]).toEqual([url, 400]);
      expect((response.body as { errors: { path: string }[] }).errors[0]?.path).toBe("push.url");
    }
    await strict.close();
  });

  it("never allows link-local or metadata targets, even with private targets allowed", async () => {
    for (const url of ["http://169.254.169.254/", "http://[fe80::1]/", "http://[fd00:ec2::254]/"]) {
      const response = await client.raw("POST", "/v1/queues", { body: { name: "nope", push: { url } } });
      expect([url, response.status]).toEqual([url, 400]);
    }
  });
});
