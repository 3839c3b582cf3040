import { rmSync } from "node:fs";
import { Queue, Worker } from "bullmq";
import { accountFor, dataDirectory, freePort, startServer, stopServer, waitUntilReady } from "./processes.js";
import type { System } from "./system.js";

const QUEUE = "peers";

/**
 * BullMQ on Debian's redis-server. No config file: Redis's built-in
 * defaults, with every setting that matters on the command line. Durability
 * equal to Conveyor's: `appendonly yes` with `appendfsync always` fsyncs the
 * append-only file before a write is answered (redis.conf, "APPEND ONLY
 * MODE"); RDB snapshots are off so they do not compete for the disk.
 * `noeviction` is what BullMQ requires of its Redis.
 */
export async function startRedis(): Promise<System> {
  const account = accountFor("redis");
  const dir = dataDirectory("redis", account);
  const port = await freePort();
  const server = startServer(
    "Redis",
    "redis-server",
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--protected-mode",
      "yes",
      "--daemonize",
      "no",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--save",
      "",
      "--maxmemory-policy",
      "noeviction",
    ],
    { account },
  );
  const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
  const removal = { removeOnComplete: true, removeOnFail: true };
  let queue: Queue | undefined;
  try {
    queue = await waitUntilReady(
      server,
      async () => {
        const candidate = new Queue(QUEUE, { connection: { ...connection, retryStrategy: () => null } });
        candidate.on("error", () => undefined);
        try {
          await candidate.waitUntilReady();
          return candidate;
        } catch (error) {
          await candidate.close().catch(() => undefined);
          throw error;
        }
      },
      20_000,
    );
  } catch (error) {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const ready = queue;
  return {
    name: "BullMQ/Redis",
    pid: server.child.pid as number,
    send: async (body) => {
      await ready.add("m", { body }, removal);
    },
    sendBatch: async (bodies) => {
      await ready.addBulk(bodies.map((body) => ({ name: "m", data: { body }, opts: removal })));
    },
    consume: async (onMessage, concurrency) => {
      const worker = new Worker<{ body: string }>(
        QUEUE,
        async (job) => {
          onMessage(job.data.body);
        },
        { connection, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } },
      );
      await worker.waitUntilReady();
      return () => worker.close();
    },
    purge: async () => {
      await ready.drain(true);
    },
    close: async () => {
      await ready.close();
      await stopServer(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
