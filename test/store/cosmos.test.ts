import https from "node:https";
import type { AddressInfo } from "node:net";
import { CosmosClient } from "@azure/cosmos";
import { createHttpsServer } from "@vercel/cosmosdb-server";
import { afterAll } from "vitest";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import { describeQueueStoreContract } from "./contract.js";

/**
 * The store contract against @vercel/cosmosdb-server: the real @azure/cosmos
 * SDK speaking the REST protocol to a local server on a free loopback port,
 * which enforces composite indexes and etags. What it cannot show, the
 * atomicity of a transactional batch, is covered in cosmos-batch.test.ts.
 */
let started: Promise<string> | undefined;

function endpoint(): Promise<string> {
  started ??= new Promise((resolve) => {
    const instance = createHttpsServer();
    instance.listen(0, "127.0.0.1", () => {
      afterAll(() => instance.close());
      resolve(`https://127.0.0.1:${(instance.address() as AddressInfo).port}`);
    });
  });
  return started;
}

const client = async () =>
  new CosmosClient({
    endpoint: await endpoint(),
    key: "local-test-server-accepts-any-key",
    agent: new https.Agent({ rejectUnauthorized: false }),
    connectionPolicy: { enableEndpointDiscovery: false },
  });

let prepared: Promise<void> | undefined;

describeQueueStoreContract("Cosmos DB through @vercel/cosmosdb-server", async () => {
  prepared ??= client().then((setup) => CosmosStore.ensureContainers(setup, "conveyor-test"));
  await prepared;
  const store = new CosmosStore({ client: await client(), databaseId: "conveyor-test" });
  return { store, close: () => store.close() };
});
