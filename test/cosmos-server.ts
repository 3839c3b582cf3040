import type { AddressInfo } from "node:net";
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
