import type { AddressInfo } from "node:net";
import { createHttpServer } from "@vercel/cosmosdb-server";
import { type CosmosModel, type CosmosModelOptions, startCosmosModel } from "./model.js";

/**
 * One @vercel/cosmosdb-server with the Cosmos DB model in front, in this
 * process: the account that any number of Conveyor hosts (child processes
 * given `env`) share in the chaos harness and the benchmark.
 */
export interface ModelAccount {
  model: CosmosModel;
  /** The environment that points a Conveyor host at the model (as test/cosmos-server.ts#cosmosHostEnv does). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startModelAccount(
  options: Omit<CosmosModelOptions, "target"> & { database: string },
): Promise<ModelAccount> {
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { database, ...modelOptions } = options;
  const model = await startCosmosModel({
    ...modelOptions,
    target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  return {
    model,
    env: {
      CONVEYOR_STORE: "cosmos",
      COSMOS__accountEndpoint: model.url,
      COSMOS_EMULATOR_KEY: "the-test-server-accepts-any-key",
      COSMOS_DATABASE: database,
      COSMOS_CREATE_CONTAINERS: "on",
    },
    async close() {
      await model.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
