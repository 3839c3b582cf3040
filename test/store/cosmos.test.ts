import { CosmosClient } from "@azure/cosmos";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import { cosmosTestEndpoint } from "../cosmos-server.js";
import { describeQueueStoreContract } from "./contract.js";

/**
 * The store contract against @vercel/cosmosdb-server: the real @azure/cosmos
 * SDK speaking the REST protocol to a local server on a free loopback port,
 * which enforces composite indexes and etags. What it cannot show, the
 * atomicity of a transactional batch, is covered in cosmos-batch.test.ts.
 */
const client = async () =>
  new CosmosClient({
    endpoint: await cosmosTestEndpoint(),
    key: "local-test-server-accepts-any-key",
    connectionPolicy: { enableEndpointDiscovery: false },
  });

let prepared: Promise<void> | undefined;

const openOnServer = async () => {
  prepared ??= client().then((setup) => CosmosStore.ensureContainers(setup, "conveyor-test"));
  await prepared;
  const store = new CosmosStore({ client: await client(), databaseId: "conveyor-test" });
  return { store, close: () => store.close() };
};

describeQueueStoreContract("Cosmos DB through @vercel/cosmosdb-server", openOnServer, 1);
describeQueueStoreContract("Cosmos DB through @vercel/cosmosdb-server", openOnServer, 4);
