import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../src/client/index.js";
import { type CosmosModel, startCosmosModel } from "../src/tools/cosmos-model/model.js";
import { cosmosHostEnv, cosmosTestEndpoint } from "./cosmos-server.js";
import { startTestHost, type TestHost } from "./host.js";

/**
 * A host whose Cosmos DB goes through the model: when the store's retry
 * budget runs out, clients get 429 (throttled) or 503 (unavailable) with
 * `Retry-After` in whole seconds from the store's hint, over real HTTP, and
 * never a 500; what was answered 201 is stored once.
 */

let model: CosmosModel;
let host: TestHost;
let client: ConveyorClient;

beforeAll(async () => {
  model = await startCosmosModel({ target: await cosmosTestEndpoint() });
  host = await startTestHost({
    ...(await cosmosHostEnv()),
    COSMOS__accountEndpoint: model.url,
    COSMOS_DATABASE: `busy-http-${process.pid}`,
  });
  client = await host.admin();
});
afterAll(async () => {
  await host.close();
  await model.close();
});
beforeEach(() => {
  model.setBudget(undefined);
  model.clearFaults();
});

const send = (queue: string, n: number) =>
  client.raw("POST", `/v1/queues/${queue}/messages`, { body: { body: { n } } });

describe("a store out of its retry budget", () => {
  it("answers 429 with Retry-After from x-ms-retry-after-ms while Cosmos DB throttles", async () => {
    await client.createQueue({ name: "throttled" });
    // A tenth of an RU a second: each request past the first waits longer than the store's 5 s budget.
    model.setBudget(0.1);
    const statuses: number[] = [];
    let throttled: Awaited<ReturnType<typeof send>> | undefined;
    for (let n = 0; n < 6 && !throttled; n++) {
      const response = await send("throttled", n);
      statuses.push(response.status);
      if (response.status === 429) throttled = response;
    }
    expect(statuses.every((status) => status === 201 || status === 429)).toBe(true);
    expect(throttled).toBeDefined();
    const retryAfter = throttled?.headers.get("retry-after") ?? "";
    expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
    // The model's hint is the time until the bucket refills: several seconds at 0.1 RU/s.
    expect(Number(retryAfter)).toBeGreaterThan(5);
    expect(throttled?.body).toMatchObject({ status: 429, code: "rate_limited" });
    model.setBudget(undefined);
    const accepted = statuses.filter((status) => status === 201).length;
    expect((await client.stats("throttled")).available).toBe(accepted);
  }, 60_000);

  it("answers 503 with Retry-After while Cosmos DB answers 503, and stores nothing twice", async () => {
    await client.createQueue({ name: "away" });
    model.inject({ fault: "unavailable", probability: 1, kinds: ["create", "batch", "read", "query"] });
    const response = await send("away", 1);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
    expect(response.body).toMatchObject({ status: 503, code: "unavailable" });
    model.clearFaults();
    expect((await client.stats("away")).available).toBe(0);
  }, 60_000);

  it("rides out answers lost after the write: each 201 is one message", async () => {
    await client.createQueue({ name: "lossy" });
    model.inject({ fault: "lost-answer", times: 3, kinds: ["create"] });
    for (let n = 0; n < 5; n++) expect((await send("lossy", n)).status).toBe(201);
    expect(model.usage().faults.get("lost-answer")).toBe(3);
    expect((await client.stats("lossy")).available).toBe(5);
  }, 60_000);
});
