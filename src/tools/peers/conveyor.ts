import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateSigningKey, signDevToken } from "../../adapters/files/local-secrets.js";
import { ConveyorClient } from "../../client/index.js";
import { dataDirectory, startServer, stopServer, waitUntilReady } from "./processes.js";
import type { System } from "./system.js";

const QUEUE = "peers";

/**
 * Conveyor's local host (SQLite, as `npm run bench` starts it) driven
 * through the typed client's producer and consumer, as a user would: a
 * send is `producer.send`, so concurrent sends coalesce into batch
 * requests; a consumer long-polls, prefetches and settles in batches.
 */
export async function startConveyor(root: string): Promise<System> {
  const dataDir = dataDirectory("conveyor", undefined);
  const server = startServer("Conveyor", process.execPath, [join(root, "dist/src/local/main.js")], {
    env: {
      CONVEYOR_DATA_DIR: dataDir,
      CONVEYOR_PORT: "0",
      CONVEYOR_RATE_LIMIT: "off",
      CONVEYOR_LOG_LEVEL: "error",
    },
  });
  try {
    const url = await waitUntilReady(
      server,
      async () => {
        const match = /listening on (http:\/\/\S+)/i.exec(server.output());
        if (!match) throw new Error("not listening yet");
        return match[1] as string;
      },
      30_000,
    );
    const token = await signDevToken(await loadOrCreateSigningKey(dataDir), {
      tenant: "bench",
      subject: "bench",
      roles: ["admin"],
      ttlSeconds: 24 * 3600,
      issuer: "conveyor-local",
      audience: "conveyor",
    });
    const client = new ConveyorClient({ baseUrl: url, token });
    // The queue's defaults otherwise (a 300 s deduplication window included): what a user gets.
    await client.createQueue({ name: QUEUE });
    const producer = client.producer<string>(QUEUE);
    return {
      name: "Conveyor",
      pid: server.child.pid as number,
      send: async (body) => {
        await producer.send({ body });
      },
      sendBatch: async (bodies) => {
        // Sent at once, they leave as one batch request of up to 100.
        await Promise.all(bodies.map((body) => producer.send({ body })));
      },
      consume: async (onMessage, concurrency) => {
        const stop = new AbortController();
        const consumer = client.consume<string>(QUEUE, (message) => onMessage(message.body), {
          concurrency,
          prefetch: concurrency,
          signal: stop.signal,
        });
        return async () => {
          stop.abort();
          await consumer.stopped;
        };
      },
      purge: async () => {
        await client.purge(QUEUE);
      },
      close: async () => {
        await stopServer(server);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
