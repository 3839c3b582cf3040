import { BulkOperationType, type Container, type ErrorResponse } from "@azure/cosmos";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { QUERY_BASE_RU, readCharge, writeCharge } from "../src/tools/cosmos-model/charges.js";
import { type CosmosModel, modelOptionsFromEnv, startCosmosModel } from "../src/tools/cosmos-model/model.js";
import { cosmosModelClient, cosmosTestEndpoint } from "./cosmos-server.js";

/**
 * The Cosmos DB model (src/tools/cosmos-model) seen through the real
 * @azure/cosmos SDK: what it charges, how its budget throttles, and how each
 * of its faults reaches a caller.
 */

let model: CosmosModel;
let container: Container;
let noRetry: Container;

/** A document of about `bytes` bytes of JSON, as the SDK sends it. */
const sized = (id: string, pk: string, bytes: number) => {
  const shell = JSON.stringify({ id, pk, pad: "" }).length;
  return { id, pk, pad: "x".repeat(Math.max(0, bytes - shell)) };
};

const failure = async (promise: Promise<unknown>): Promise<ErrorResponse> => {
  try {
    await promise;
  } catch (error) {
    return error as ErrorResponse;
  }
  throw new Error("expected the request to fail");
};

beforeAll(async () => {
  model = await startCosmosModel({ target: await cosmosTestEndpoint() });
  const client = cosmosModelClient(model.url);
  const { database } = await client.databases.createIfNotExists({ id: `model-${process.pid}` });
  ({ container } = await database.containers.createIfNotExists({
    id: "items",
    partitionKey: { paths: ["/pk"] },
  }));
  noRetry = cosmosModelClient(model.url, 0).database(database.id).container("items");
});

afterAll(() => model.close());

beforeEach(() => {
  model.clearFaults();
  model.setBudget(undefined);
  model.resetUsage();
});

describe("the model's charges", () => {
  it("charges a point read, create, replace, upsert, patch, delete and query as the table says", async () => {
    const created = await container.items.create(sized("c1", "charges", 1000));
    expect(created.requestCharge).toBe(4.95);
    expect((await container.items.create(sized("c2", "charges", 2048))).requestCharge).toBe(6.29);
    // The item read back carries its system properties, a little over 1 KB.
    expect((await container.item("c1", "charges").read()).requestCharge).toBeCloseTo(1, 1);
    expect((await container.item("c1", "charges").replace(sized("c1", "charges", 1000))).requestCharge).toBe(
      9.9,
    );
    expect((await container.items.upsert(sized("c1", "charges", 1000))).requestCharge).toBe(9.9);
    expect((await container.items.upsert(sized("c3", "charges", 1000))).requestCharge).toBe(4.95);
    const patched = await container.item("c1", "charges").patch([{ op: "set", path: "/n", value: 1 }]);
    expect(patched.requestCharge).toBeCloseTo(
      2 * writeCharge(Buffer.byteLength(JSON.stringify(patched.resource))),
      1,
    );
    const query = await container.items
      .query("SELECT * FROM c WHERE c.pk = 'charges' AND c.id IN ('c1', 'c3')", { partitionKey: "charges" })
      .fetchAll();
    expect(query.resources).toHaveLength(2);
    const returned = query.resources.map((item) => readCharge(Buffer.byteLength(JSON.stringify(item))));
    expect(query.requestCharge).toBeCloseTo(
      returned.reduce((sum, ru) => sum + ru, QUERY_BASE_RU),
      2,
    );
    expect((await container.item("c3", "charges").delete()).requestCharge).toBe(4.95);
    // A read that finds nothing is charged as a read; a conflicting create too.
    const missing = await container.item("none", "charges").read();
    expect([missing.statusCode, missing.requestCharge]).toEqual([404, 1]);
    expect((await failure(container.items.create(sized("c1", "charges", 1000)))).code).toBe(409);

    const usage = model.usage();
    expect(usage.byKind.get("create")).toEqual({ requests: 3, requestUnits: 4.95 + 6.29 + 1 });
    expect(usage.byKind.get("delete")).toEqual({ requests: 1, requestUnits: 4.95 });
    const partition = usage.byPartition.get("items/charges");
    expect(partition?.requests).toBe(usage.requests - (usage.byKind.get("metadata")?.requests ?? 0));
    expect(partition?.requestUnits).toBeCloseTo(
      usage.requestUnits - (usage.byKind.get("metadata")?.requestUnits ?? 0),
      6,
    );
  });

  it("charges a transactional batch the sum of its operations, and writes each one's charge into the answer", async () => {
    const response = await container.items.batch(
      [
        { operationType: BulkOperationType.Create, resourceBody: sized("b1", "batch", 1000) },
        { operationType: BulkOperationType.Create, resourceBody: sized("b2", "batch", 1000) },
      ],
      "batch",
    );
    expect(response.result?.map((result) => result.requestCharge)).toEqual([4.95, 4.95]);
    expect(model.usage().byKind.get("batch")).toEqual({ requests: 1, requestUnits: 9.9 });
  });
});

describe("the model's budget", () => {
  it("throttles the partition key that spends past it with 429, substatus 3200 and x-ms-retry-after-ms, and not another", async () => {
    model.setBudget(20); // about four 1 KB creates a second
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, n) => noRetry.items.create(sized(`hot-${n}`, "hot", 1000))),
    );
    const throttled = results
      .filter((result): result is PromiseRejectedResult => result.status === "rejected")
      .map((result) => result.reason as ErrorResponse);
    expect(throttled.length).toBeGreaterThan(0);
    for (const error of throttled) {
      expect(error.code).toBe(429);
      expect(error.substatus).toBe(3200);
      expect(error.retryAfterInMs).toBeGreaterThan(0);
    }
    // Another partition key has its own budget.
    expect((await noRetry.items.create(sized("cold-1", "cold", 1000))).statusCode).toBe(201);
    expect(model.usage().byPartition.get("items/hot")?.throttled).toBe(throttled.length);
    expect(model.usage().byPartition.get("items/cold")?.throttled).toBe(0);
  });

  it("holds a partition to its rate: the SDK's own retries honour x-ms-retry-after-ms and every create lands", async () => {
    model.setBudget(50);
    const started = performance.now();
    // One writer: concurrent ones that all retry after the same x-ms-retry-after-ms can lose every race for
    // the refilled bucket and exhaust the SDK's nine retries (what src/adapters/cosmos/resilience.ts is for).
    for (let n = 0; n < 20; n++) await container.items.create(sized(`rate-${n}`, "rate", 1000));
    const seconds = (performance.now() - started) / 1000;
    // 20 × 4.95 RU = 99 RU; the first 50 are the full bucket, the rest come at 50 RU/s.
    expect(seconds).toBeGreaterThan((99 - 50 - 5) / 50);
    expect(seconds).toBeLessThan(3);
    expect(model.usage().byPartition.get("items/rate")?.throttled).toBeGreaterThan(0);
  });
});

describe("the model's faults, as the SDK surfaces them", () => {
  it("503 and 408 reach the caller as errors with those codes (no endpoint discovery: no failover retry)", async () => {
    model.inject({ fault: "unavailable", times: 1 });
    expect((await failure(container.item("c1", "charges").read())).code).toBe(503);
    model.inject({ fault: "timeout", times: 1 });
    expect((await failure(container.items.create(sized("t1", "faults", 100)))).code).toBe(408);
    expect(model.usage().faults.get("unavailable")).toBe(1);
  });

  it("a reset fails a write with ECONNRESET, and the SDK retries a read through it", async () => {
    await container.items.create(sized("r1", "faults", 100));
    model.inject({ fault: "reset", times: 1, kinds: ["create"] });
    expect((await failure(container.items.create(sized("r2", "faults", 100)))).code).toBe("ECONNRESET");
    expect((await container.item("r2", "faults").read()).statusCode).toBe(404); // never applied
    model.inject({ fault: "reset", times: 1, kinds: ["read"] });
    expect((await container.item("r1", "faults").read()).resource?.id).toBe("r1"); // DefaultRetryPolicy, 1 s later
    expect(model.usage().faults.get("reset")).toBe(2);
  }, 15_000);

  it("a lost answer fails the write for the caller although it was applied", async () => {
    model.inject({ fault: "lost-answer", times: 1 });
    expect((await failure(container.items.create(sized("l1", "faults", 100)))).code).toBe("ECONNRESET");
    expect((await container.item("l1", "faults").read()).resource?.id).toBe("l1");
    expect(model.usage().faults.get("lost-answer")).toBe(1);
  });

  it("added latency delays the answer", async () => {
    model.inject({ fault: "latency", times: 1, ms: 300 });
    const started = performance.now();
    await container.item("l1", "faults").read();
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("reads faults and a budget from the environment", () => {
    expect(
      modelOptionsFromEnv({
        COSMOS_MODEL_RU_PER_SECOND: "400",
        COSMOS_MODEL_FAULTS: "reset:0.01,latency:0.5:20",
      }),
    ).toEqual({
      ruPerSecond: 400,
      faults: [
        { fault: "reset", probability: 0.01 },
        { fault: "latency", probability: 0.5, ms: 20 },
      ],
    });
    expect(() => modelOptionsFromEnv({ COSMOS_MODEL_FAULTS: "explode:1" })).toThrow(/unknown model fault/);
  });
});
