// Messages a second through the typed client against the built local host, plain calls beside the
// producer and the consumer. Not a test: `npx tsc -p tsconfig.json && node test/client/measure.mjs [seconds] [name part]`.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKey, signDevToken } from "../../dist/src/adapters/files/local-secrets.js";
import { ConveyorClient } from "../../dist/src/client/index.js";

const seconds = Number(process.argv[2] ?? 5);
const rounds = 3;
const body = { pad: "x".repeat(1000) };
const dataDir = mkdtempSync(join(tmpdir(), "conveyor-measure-"));
const server = spawn(process.execPath, [join(import.meta.dirname, "../../dist/src/local/main.js")], {
  env: {
    ...process.env,
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_RATE_LIMIT: "off",
    CONVEYOR_LOG_LEVEL: "warn",
  },
  stdio: ["ignore", "pipe", "inherit"],
});
const url = await new Promise((resolve) => {
  let output = "";
  server.stdout.on("data", (chunk) => {
    output += chunk;
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match) resolve(match[1]);
  });
});
const token = await signDevToken(await loadOrCreateSigningKey(dataDir), {
  tenant: "measure",
  subject: "measure",
  roles: ["admin"],
  ttlSeconds: 3600,
  issuer: "conveyor-local",
  audience: "conveyor",
});
const client = new ConveyorClient({ baseUrl: url, token });
const viaFetch = new ConveyorClient({ baseUrl: url, token, fetch: globalThis.fetch.bind(globalThis) });
await client.createQueue({ name: "m", visibilityTimeoutSeconds: 300 });

/** `callers` loops, each awaiting `send` before its next, for `seconds`; messages a second. */
async function sendLoop(callers, send) {
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < until) {
        await send();
        sent++;
      }
    }),
  );
  return sent / ((Date.now() - started) / 1000);
}

async function fill(count) {
  for (let from = 0; from < count; from += 100)
    await client.sendBatch(
      "m",
      Array.from({ length: Math.min(100, count - from) }, () => ({ body })),
    );
}

const backlog = 20_000;

/** Time to receive and ack a backlog of `backlog`: 16 loops of receive 10 + settle. */
async function drainPlain() {
  await fill(backlog);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const batch = await client.receive("m", { max: 10 });
        if (batch.length === 0) return;
        await client.settle("m", {
          acks: batch.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken })),
        });
      }
    }),
  );
  return backlog / ((Date.now() - started) / 1000);
}

async function drainConsumer() {
  await fill(backlog);
  let done = 0;
  let finished;
  const all = new Promise((resolve) => {
    finished = resolve;
  });
  const started = Date.now();
  const consumer = client.consume(
    "m",
    () => {
      if (++done === backlog) finished();
    },
    { concurrency: 64, prefetch: 64 },
  );
  await all;
  const rate = backlog / ((Date.now() - started) / 1000);
  await consumer.stop();
  return rate;
}

const scenarios = {
  "send, plain over the global fetch, c=1": () => sendLoop(1, () => viaFetch.send("m", { body })),
  "send, plain, c=1": () => sendLoop(1, () => client.send("m", { body })),
  "send, producer, c=1": () => sendLoop(1, () => lone.send({ body })),
  "send, producer without dedup ids, c=1": () => sendLoop(1, () => plainIds.send({ body })),
  "send, plain over the global fetch, 64 concurrent": () => sendLoop(64, () => viaFetch.send("m", { body })),
  "send, plain, 64 concurrent": () => sendLoop(64, () => client.send("m", { body })),
  "send, producer, 64 concurrent": () => sendLoop(64, () => producer.send({ body })),
  "send, producer without dedup ids, 64 concurrent": () => sendLoop(64, () => plainIds.send({ body })),
  // The producer's ids before they were time-ordered: random, on random pages of the server's dedup index.
  "send, producer with random (v4) dedup ids, 64 concurrent": () =>
    sendLoop(64, () => plainIds.send({ body, deduplicationId: crypto.randomUUID() })),
  "consume + ack a 20,000 backlog, plain receive 10 + settle, 16 loops": drainPlain,
  "consume + ack a 20,000 backlog, consumer c=64 prefetch 64": drainConsumer,
};
// A second argument keeps only the scenarios whose name contains it.
for (const name of Object.keys(scenarios))
  if (process.argv[3] && !name.includes(process.argv[3])) delete scenarios[name];
const lone = client.producer("m");
const producer = client.producer("m");
const plainIds = client.producer("m", { generateDeduplicationIds: false });

/** The server's user + system CPU in ms, from /proc (clock ticks of 10 ms). */
function serverCpuMs() {
  const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const results = Object.fromEntries(Object.keys(scenarios).map((name) => [name, []]));
const cpu = Object.fromEntries(Object.keys(scenarios).map((name) => [name, { loader: [], server: [] }]));
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of Object.entries(scenarios)) {
    await client.purge("m");
    const loaderBefore = process.cpuUsage();
    const serverBefore = serverCpuMs();
    const wallBefore = Date.now();
    results[name].push(await run());
    const wall = Date.now() - wallBefore;
    const loader = process.cpuUsage(loaderBefore);
    cpu[name].loader.push((loader.user + loader.system) / 1000 / wall);
    cpu[name].server.push((serverCpuMs() - serverBefore) / wall);
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percent = (share) => `${Math.round(share * 100)}%`;
process.stdout.write(`${seconds} s a run, ${rounds} rounds, 1 KiB bodies\n`);
process.stdout.write(
  "| scenario | msg/s min / median / max | loader CPU | server CPU |\n| --- | --- | --- | --- |\n",
);
for (const [name, values] of Object.entries(results)) {
  const sorted = values.sort((a, b) => a - b).map((v) => Math.round(v).toLocaleString("en"));
  const shares = `${percent(median(cpu[name].loader))} | ${percent(median(cpu[name].server))}`;
  process.stdout.write(`| ${name} | ${sorted[0]} / ${sorted[1]} / ${sorted[2]} | ${shares} |\n`);
}
server.kill("SIGTERM");
await new Promise((resolve) => server.on("exit", resolve));
rmSync(dataDir, { recursive: true, force: true });
