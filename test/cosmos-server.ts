import type { AddressInfo } from "node:net";
import { CosmosClient } from "@azure/cosmos";
import { createHttpServer } from "@vercel/cosmosdb-server";
import { afterAll } from "vitest";

let started: Promise<string> | undefined;

/**
 * One @vercel/cosmosdb-server per test file, on a free loopback port, over
 * plain HTTP (the SDK speaks the same REST protocol; no self-signed TLS to
 * switch off in the app's client). Closed when the file's tests end.
 */
export function cosmosTestEndpoint(): Promise<string> {
  started ??= new Promise((resolve) => {
    const server = createHttpServer();
    server.listen(0, "127.0.0.1", () => {
      afterAll(() => new Promise<void>((done) => server.close(() => done())));
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
  return started;
}

/** The environment that points a Conveyor host at the test server. */
export async function cosmosHostEnv(): Promise<Record<string, string>> {
  return {
    CONVEYOR_STORE: "cosmos",
    COSMOS__accountEndpoint: await cosmosTestEndpoint(),
    COSMOS_EMULATOR_KEY: "local-test-server-accepts-any-key",
    COSMOS_DATABASE: `conveyor-e2e-${process.pid}`,
    COSMOS_CREATE_CONTAINERS: "on",
  };
}

/** A client on the account `env` (from `cosmosHostEnv`) names, as a test reaches the store behind a host. */
export function cosmosClientOf(env: Record<string, string>): CosmosClient {
  return new CosmosClient({
    endpoint: env.COSMOS__accountEndpoint as string,
    key: env.COSMOS_EMULATOR_KEY as string,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
}

/**
 * A client on the Cosmos DB model (src/tools/cosmos-model) at `url`, with the
 * SDK's default retries, or `maxRetryAttemptCount` of them (0: the test sees
 * each throttled answer itself).
 */
export function cosmosModelClient(url: string, maxRetryAttemptCount?: number): CosmosClient {
  return new CosmosClient({
    endpoint: url,
    key: "local-test-server-accepts-any-key",
    connectionPolicy: {
      enableEndpointDiscovery: false,
      requestTimeout: 5_000,
      ...(maxRetryAttemptCount === undefined ? {} : { retryOptions: { maxRetryAttemptCount } }),
    },
  });
}

/** Every document of a container of `env`'s database as stored: what its change feed would deliver. */
export async function storedDocuments(env: Record<string, string>, container: string): Promise<unknown[]> {
  const { resources } = await cosmosClientOf(env)
    .database(env.COSMOS_DATABASE as string)
    .container(container)
    .items.readAll()
    .fetchAll();
  return resources;
}
