import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "amqplib";
import { accountFor, dataDirectory, freePort, startServer, stopServer, waitUntilReady } from "./processes.js";
import type { System } from "./system.js";

const QUEUE = "peers";
const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/**
 * RabbitMQ from Debian's rabbitmq-server, as its own node with its own
 * data, config and Erlang port mapper, every listener on 127.0.0.1:
 *  - AMQP via `listeners.tcp.default` in a config file of our own (not /etc/rabbitmq);
 *  - Erlang distribution via `inet_dist_use_interface`, and epmd via ERL_EPMD_ADDRESS/ERL_EPMD_PORT;
 *  - no plugins (an empty enabled_plugins file), so no management listener.
 * Durability equal to Conveyor's: a quorum queue (its Raft log is fsynced
 * before a publish is confirmed) and publisher confirms awaited per send.
 * `RUNNING_UNDER_SYSTEMD` makes the start script exec the VM instead of
 * wrapping it, so SIGTERM reaches the VM, which stops gracefully
 * (comments in /usr/lib/rabbitmq/bin/rabbitmq-server).
 */
export async function startRabbitMq(): Promise<System> {
  const account = accountFor("rabbitmq");
  const dir = dataDirectory("rabbitmq", account);
  const [amqpPort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, "rabbitmq.conf");
  writeFileSync(
    config,
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      "log.console = true",
      "log.console.level = warning",
      "log.file = false",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "enabled_plugins"), "[].\n");
  writeFileSync(join(dir, "rabbitmq-env.conf"), "");
  mkdirSync(join(dir, "log"));
  if (account) spawnSync("chown", ["-R", `${account.uid}:${account.gid}`, dir]);
  const epmdEnv = { ERL_EPMD_ADDRESS: "127.0.0.1", ERL_EPMD_PORT: String(epmdPort) };
  const server = startServer("RabbitMQ", SERVER, [], {
    account,
    cwd: dir,
    env: {
      ...epmdEnv,
      HOME: dir,
      RUNNING_UNDER_SYSTEMD: "true",
      RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
      RABBITMQ_CONFIG_FILE: config,
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
      RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(dir, "log"),
      RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
      RABBITMQ_NODENAME: `bench${amqpPort}@localhost`,
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    },
  });
  const stopAll = async () => {
    await stopServer(server, 30_000);
    // The VM started this node's port mapper as a daemon; it outlives the VM unless told to stop.
    spawnSync("epmd", ["-kill"], { env: { ...process.env, ...epmdEnv } });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const connection = await waitUntilReady(
      server,
      () => connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`),
      90_000,
    );
    connection.on("error", () => undefined);
    const publisher = await connection.createConfirmChannel();
    await publisher.assertQueue(QUEUE, { durable: true, arguments: { "x-queue-type": "quorum" } });
    const publish = (body: string) =>
      new Promise<void>((resolve, reject) => {
        publisher.sendToQueue(QUEUE, Buffer.from(body), { persistent: true }, (error: unknown) =>
          error ? reject(error) : resolve(),
        );
      });
    return {
      name: "RabbitMQ",
      pid: server.child.pid as number,
      send: publish,
      sendBatch: async (bodies) => {
        // Published back to back, confirmed together: the batching a confirm channel offers.
        await Promise.all(bodies.map(publish));
      },
      consume: async (onMessage, concurrency) => {
        const channel = await connection.createChannel();
        await channel.prefetch(concurrency);
        const { consumerTag } = await channel.consume(QUEUE, (message) => {
          if (!message) return;
          onMessage(message.content.toString());
          channel.ack(message);
        });
        return async () => {
          await channel.cancel(consumerTag);
          await channel.close();
        };
      },
      purge: async () => {
        await publisher.purgeQueue(QUEUE);
      },
      close: async () => {
        await connection.close().catch(() => undefined);
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
