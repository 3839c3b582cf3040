import { BulkOperationType, CosmosClient } from "@azure/cosmos";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import { type FaultProxy, startFaultProxy } from "../../src/tools/fault-proxy.js";
import { cosmosTestEndpoint } from "../cosmos-server.js";

/**
 * What the Cosmos DB SDK throws when the store is away, told apart from a bug:
 * the API answers the first 503 with Retry-After, the second 500. Each
 * failure is the SDK's own, through the fault proxy in front of the test
 * server.
 */
let proxy: FaultProxy;
let client: CosmosClient;
let store: CosmosStore;

beforeAll(async () => {
  proxy = await startFaultProxy(new URL(await cosmosTestEndpoint()));
  client = new CosmosClient({
    endpoint: proxy.url,
    key: "the-test-server-accepts-any-key",
    connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: 1000 },
  });
  await CosmosStore.ensureContainers(client, `unavailable-${process.pid}`);
  store = new CosmosStore({ client, databaseId: `unavailable-${process.pid}` });
});
afterAll(async () => {
  client.dispose();
  await proxy.close();
});

const messages = () => client.database(`unavailable-${process.pid}`).container("messages");

async function failureOf(operation: () => Promise<unknown>): Promise<unknown> {
  try {
    await operation();
  } catch (error) {
    return error;
  }
  throw new Error("the operation succeeded");
}

describe("Cosmos DB failures the store counts as unavailable", () => {
  for (const mode of ["refuse", "unavailable", "drop"] as const) {
    it(`a store that is away (${mode}): point reads, queries and transactional batches`, async () => {
      await proxy.setMode(mode);
      try {
        const failures = [
          await failureOf(() => messages().item("x", "q").read()),
          await failureOf(() => messages().items.query("SELECT * FROM c").fetchAll()),
          // The SDK rethrows a batch's request-level failure without its status or code.
          await failureOf(() =>
            messages().items.batch(
              [{ operationType: BulkOperationType.Create, resourceBody: { id: "m", queueId: "q" } }],
              "q",
            ),
          ),
        ];
        for (const failure of failures)
          expect([String(failure), store.isUnavailable(failure)]).toEqual([String(failure), true]);
      } finally {
        await proxy.setMode("pass");
      }
    });
  }

  it("a bug is not unavailable", async () => {
    const failure = await failureOf(() => messages().items.query("SELECT * FROM c WHERE").fetchAll());
    expect(store.isUnavailable(failure)).toBe(false);
    expect(store.isUnavailable(new TypeError("cannot read properties of undefined"))).toBe(false);
  });
});
