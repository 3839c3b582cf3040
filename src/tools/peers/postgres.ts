import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import PgBoss from "pg-boss";
import {
  accountFor,
  dataDirectory,
  freePort,
  sleep,
  startServer,
  stopServer,
  waitUntilReady,
} from "./processes.js";
import type { System } from "./system.js";

const QUEUE = "peers";
/**
 * pg-boss has no push and no long poll: each worker fetches a batch, hands
 * it to the handler, completes it, and waits out the rest of its polling
 * interval (0.5 s is the least it allows, src/attorney.js; src/worker.js).
 * So its consumer is sized by jobs a fetch, not by handlers: 4 workers of
 * 250 reach 2,000 msg/s, above the end-to-end rate.
 */
const WORKERS = 4;
const BATCH_SIZE = 250;
const POLL_SECONDS = 0.5;

/** Debian installs each major version's binaries under /usr/lib/postgresql/<major>/bin; the newest wins. */
function binaries(): string {
  const majors = readdirSync("/usr/lib/postgresql")
    .filter((entry) => /^\d+$/.test(entry))
    .sort((a, b) => Number(b) - Number(a));
  if (!majors[0])
    throw new Error("no /usr/lib/postgresql/<major>/bin: npm run setup:bench installs postgresql");
  return join("/usr/lib/postgresql", majors[0], "bin");
}

/**
 * pg-boss on a PostgreSQL cluster of its own (initdb in a fresh directory,
 * as the `postgres` account when run as root: the server refuses root).
 * Only TCP on 127.0.0.1 (`listen_addresses`), its socket in its own
 * directory. Durability is PostgreSQL's default, equal to Conveyor's:
 * `fsync = on` and `synchronous_commit = on` flush the WAL before a commit
 * is answered; nothing here changes them.
 */
export async function startPostgres(): Promise<System> {
  const bin = binaries();
  const account = accountFor("postgres");
  const dir = dataDirectory("postgres", account);
  const data = join(dir, "data");
  const asAccount = account ? { uid: account.uid, gid: account.gid } : {};
  const init = spawnSync(
    join(bin, "initdb"),
    ["-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-instructions"],
    { ...asAccount, encoding: "utf8", cwd: dir },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.error}): ${init.stderr}`);
  }
  const port = await freePort();
  const server = startServer(
    "PostgreSQL",
    join(bin, "postgres"),
    [
      "-D",
      data,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${dir}`,
    ],
    { account, cwd: dir },
  );
  const stopAll = async () => {
    // SIGTERM is PostgreSQL's "smart" shutdown; its pg-boss connections are closed by then.
    await stopServer(server, 30_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const boss = await waitUntilReady(
      server,
      async () => {
        const candidate = new PgBoss({
          host: "127.0.0.1",
          port,
          user: "bench",
          database: "postgres",
          max: 20,
          // Maintenance and cron would add their own queries to the measured ones.
          supervise: false,
          schedule: false,
        });
        candidate.on("error", () => undefined);
        try {
          await candidate.start();
          return candidate;
        } catch (error) {
          await candidate.stop({ graceful: false, wait: true }).catch(() => undefined);
          throw error;
        }
      },
      30_000,
    );
    await boss.createQueue(QUEUE);
    const db = boss.getDb();
    const active = async () =>
      Number(
        (
          (await db.executeSql(
            "select count(*)::int as n from pgboss.job where name = $1 and state = 'active'",
            [QUEUE],
          )) as { rows: { n: number }[] }
        ).rows[0]?.n ?? 0,
      );
    return {
      name: "pg-boss",
      pid: server.child.pid as number,
      send: async (body) => {
        await boss.send(QUEUE, { body });
      },
      sendBatch: async (bodies) => {
        await boss.insert(bodies.map((body) => ({ name: QUEUE, data: { body } })));
      },
      consume: async (onMessage) => {
        for (let i = 0; i < WORKERS; i++) {
          await boss.work<{ body: string }>(
            QUEUE,
            { batchSize: BATCH_SIZE, pollingIntervalSeconds: POLL_SECONDS },
            async (jobs) => {
              for (const job of jobs) onMessage(job.data.body);
            },
          );
        }
        return async () => {
          await boss.offWork(QUEUE);
          // pg-boss completes a fetched batch without awaiting it (src/manager.js): wait for the last ones.
          for (let waited = 0; waited < 30_000 && (await active()) > 0; waited += 50) await sleep(50);
        };
      },
      purge: async () => {
        // Completed jobs too: with maintenance off nothing archives them, and a growing table would slow later rounds.
        await db.executeSql("delete from pgboss.job where name = $1", [QUEUE]);
      },
      close: async () => {
        await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
