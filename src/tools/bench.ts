import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  QueueServiceClient,
  StorageSharedKeyCredential,
} from "@azure/storage-queue";
import { loadOrCreateSigningKey, signDevToken } from "../adapters/files/local-secrets.js";
import { ConveyorClient } from "../client/index.js";

/**
 * `npm run bench`: Conveyor's local host against two references on
 * loopback, each its own process, driven by wrk (a multi-threaded C load
 * generator, so the generator is not the bottleneck; its own CPU is printed
 * beside each result):
 *  - the floor: a bare node:http server answering 201 (what one Node process does at all);
 *  - a peer: Azurite's queue service with its on-disk persistence.
 * 1 KiB messages. Results print as a table and go to bench/results/.
 */

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BODY = "x".repeat(1024);
// Azurite's well-known development account; it exists only inside Azurite.
const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

interface Target {
  name: string;
  url: string;
  child: ChildProcess;
}

interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrkCpuSeconds: number;
  /** Set by the receive scenario's Lua script: messages settled. */
  settled?: number;
}

export interface BenchRow {
  scenario: string;
  target: string;
  connections: number;
  requestsPerSecond: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrkCpuSeconds: number;
  serverCpuSecondsPer1000: number;
  serverRssMb: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function startProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<Target> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)|successfully listens on (http:\/\/\S+)/i.exec(output);
      if (match) resolve({ name, url: (match[1] ?? match[2]) as string, child });
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
    child.once("exit", (code) =>
      reject(new Error(`${name} exited (${code}) before it listened:\n${output}`)),
    );
  });
}

/** CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function parseDuration(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/** Runs wrk under /usr/bin/time, so the generator's own CPU is known. */
function wrk(url: string, script: string, connections: number, seconds: number): WrkResult {
  const threads = Math.min(2, connections);
  const result = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "cpu %U %S",
      "wrk",
      "--latency",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "-s",
      script,
      url,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`wrk failed: ${result.stderr}`);
  const out = result.stdout;
  const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(result.stderr);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const settled = /settled (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50Ms: parseDuration(/50%\s+(\S+)/.exec(out)?.[1] ?? ""),
    p99Ms: parseDuration(/99%\s+(\S+)/.exec(out)?.[1] ?? ""),
    errors:
      Number(errors?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
    wrkCpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN,
    ...(settled ? { settled: Number(settled[1]) } : {}),
  };
}

/**
 * The receive loop both receive scenarios share: ask for up to 10 messages,
 * hand their leases to `received`, send what `settlement` returns until it
 * returns nothing, and report the total of `settled` across wrk's threads.
 */
const receiveLoop = (queue: string, token: string, settling: string) => `
local auth = "Bearer ${token}"
settled = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
${settling}
function request()
  return settlement() or wrk.format("GET", "/v1/queues/${queue}/messages?max=10", { ["authorization"] = auth }, nil)
end
function response(status, headers, body)
  answered(status)
  if body and body:find('"messages"', 1, true) then
    local leases = {}
    for id, token in body:gmatch('"messageId":"([^"]+)".-"leaseToken":"([^"]+)"') do
      leases[#leases + 1] = { id = id, token = token }
    end
    if #leases > 0 then received(leases) end
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("settled") end
  io.write("settled " .. total .. "\\n")
end
`;

const lua = {
  post: (path: string, headers: Record<string, string>, body: string) => `
wrk.method = "POST"
wrk.path = ${JSON.stringify(path)}
wrk.body = ${JSON.stringify(body)}
${Object.entries(headers)
  .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
  .join("\n")}
`,
  /** Receive up to 10, then settle exactly those, and again; counts what it settled. */
  receiveAndSettle: (queue: string, token: string) =>
    receiveLoop(
      queue,
      token,
      `
local pending = nil
function settlement()
  local body = pending
  pending = nil
  return body and wrk.format("POST", "/v1/queues/${queue}/messages/settle",
    { ["authorization"] = auth, ["content-type"] = "application/json" }, body)
end
function received(leases)
  local acks = {}
  for _, lease in ipairs(leases) do
    acks[#acks + 1] = '{"messageId":"' .. lease.id .. '","leaseToken":"' .. lease.token .. '"}'
  end
  pending = '{"acks":[' .. table.concat(acks, ",") .. ']}'
  settled = settled + #leases
end
function answered(status) end
`,
    ),
  /** Receive up to 10, then ack each with its own request, and again; counts what it acked. */
  receiveAndAckEach: (queue: string, token: string) =>
    receiveLoop(
      queue,
      token,
      `
local pending = {}
function settlement()
  local lease = table.remove(pending)
  return lease and wrk.format("POST", "/v1/queues/${queue}/messages/" .. lease.id .. "/ack",
    { ["authorization"] = auth, ["content-type"] = "application/json" }, '{"leaseToken":"' .. lease.token .. '"}')
end
function received(leases)
  for _, lease in ipairs(leases) do pending[#pending + 1] = lease end
end
function answered(status)
  if status == 204 then settled = settled + 1 end
end
`,
    ),
};

export async function runBench(options: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<BenchRow[]> {
  const { quick, log } = options;
  const seconds = quick ? 3 : 10;
  const scratch = mkdtempSync(join(tmpdir(), "conveyor-bench-"));
  const scripts = join(scratch, "scripts");
  mkdirSync(scripts);
  const script = (name: string, text: string) => {
    const path = join(scripts, `${name}.lua`);
    writeFileSync(path, text);
    return path;
  };

  const dataDir = join(scratch, "conveyor");
  const conveyor = await startProcess("conveyor", process.execPath, [join(ROOT, "dist/src/local/main.js")], {
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_RATE_LIMIT: "off",
    CONVEYOR_LOG_LEVEL: "error",
  });
  const floor = await startProcess(
    "floor",
    process.execPath,
    [join(ROOT, "dist/src/tools/floor-server.js")],
    {},
  );
  const azuritePort = await freePort();
  const azurite = await startProcess(
    "azurite",
    join(ROOT, "node_modules/.bin/azurite-queue"),
    [
      "--queueHost",
      "127.0.0.1",
      "--queuePort",
      String(azuritePort),
      "--location",
      join(scratch, "azurite"),
      "--silent",
      // Loopback only: Azurite would otherwise send its own telemetry out.
      "--disableTelemetry",
    ],
    {},
  );
  const targets = [conveyor, floor, azurite];

  try {
    const key = await loadOrCreateSigningKey(dataDir);
    const token = await signDevToken(key, {
      tenant: "bench",
      subject: "bench",
      roles: ["admin"],
      ttlSeconds: 3600,
      issuer: "conveyor-local",
      audience: "conveyor",
    });
    const client = new ConveyorClient({ baseUrl: conveyor.url, token });
    await client.createQueue({ name: "bench", visibilityTimeoutSeconds: 300, deduplicationWindowSeconds: 0 });

    const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
    const azuriteBase = `http://127.0.0.1:${azuritePort}/${AZURITE_ACCOUNT}`;
    await new QueueServiceClient(azuriteBase, credential).createQueue("bench");
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse("rwdlacup"),
        resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
        services: AccountSASServices.parse("q").toString(),
      },
      credential,
    ).toString();

    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const single = JSON.stringify({ body: BODY });
    const batch = (size: number) =>
      JSON.stringify({ messages: Array.from({ length: size }, () => ({ body: BODY })) });
    const scenarios: {
      scenario: string;
      target: Target;
      url: string;
      script: string;
      perRequest: number;
      c: number;
    }[] = [];
    for (const c of [1, 16, 64]) {
      scenarios.push(
        {
          scenario: "enqueue 1",
          target: conveyor,
          url: conveyor.url,
          script: script(`c-single`, lua.post("/v1/queues/bench/messages", auth, single)),
          perRequest: 1,
          c,
        },
        {
          scenario: "enqueue 1",
          target: floor,
          url: floor.url,
          script: script(`f-single`, lua.post("/", auth, single)),
          perRequest: 1,
          c,
        },
        {
          scenario: "enqueue 1",
          target: azurite,
          url: `http://127.0.0.1:${azuritePort}`,
          script: script(
            `a-single`,
            lua.post(
              `/${AZURITE_ACCOUNT}/bench/messages?${sas}`,
              { "content-type": "application/xml" },
              `<QueueMessage><MessageText>${Buffer.from(BODY).toString("base64")}</MessageText></QueueMessage>`,
            ),
          ),
          perRequest: 1,
          c,
        },
      );
    }
    for (const size of [10, 100]) {
      scenarios.push({
        scenario: `enqueue batch ${size}`,
        target: conveyor,
        url: conveyor.url,
        script: script(`c-batch-${size}`, lua.post("/v1/queues/bench/messages", auth, batch(size))),
        perRequest: size,
        c: 16,
      });
    }

    const rows: BenchRow[] = [];
    const measure = (
      name: string,
      target: Target,
      url: string,
      path: string,
      perRequest: number,
      c: number,
    ) => {
      const pid = target.child.pid as number;
      const cpuBefore = cpuSeconds(pid);
      const result = wrk(url, path, c, seconds);
      const cpu = cpuSeconds(pid) - cpuBefore;
      const messages = result.settled ?? result.requestsPerSecond * seconds * perRequest;
      const row: BenchRow = {
        scenario: name,
        target: target.name,
        connections: c,
        requestsPerSecond: Math.round(result.requestsPerSecond),
        messagesPerSecond: Math.round(messages / seconds),
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        errors: result.errors,
        wrkCpuSeconds: Math.round(result.wrkCpuSeconds * 100) / 100,
        serverCpuSecondsPer1000:
          messages > 0 ? Math.round((cpu / messages) * 1000 * 1000) / 1000 : Number.NaN,
        serverRssMb: Math.round(rssMb(pid)),
      };
      rows.push(row);
      log(
        `${name.padEnd(18)} ${target.name.padEnd(9)} c=${String(c).padEnd(3)} ${String(row.requestsPerSecond).padStart(7)} req/s ${String(row.messagesPerSecond).padStart(7)} msg/s p50 ${row.p50Ms.toFixed(2)} ms p99 ${row.p99Ms.toFixed(2)} ms wrk cpu ${row.wrkCpuSeconds.toFixed(1)} s`,
      );
    };
    for (const { scenario, target, url, script: path, perRequest, c } of scenarios) {
      measure(scenario, target, url, path, perRequest, c);
    }
    if (conveyor.child.exitCode !== null || conveyor.child.signalCode !== null) {
      throw new Error(`the Conveyor server exited (${conveyor.child.exitCode ?? conveyor.child.signalCode})`);
    }
    // The client's keep-alive connection sat idle through the load runs; a stale socket is retried once.
    const backlog = (await client.stats("bench").catch(() => client.stats("bench"))).available;
    log(`backlog before receiving: ${backlog} messages`);
    const receive = script("c-receive", lua.receiveAndSettle("bench", token));
    for (const c of [1, 16]) measure("receive 10 + settle", conveyor, conveyor.url, receive, 1, c);
    const ackEach = script("c-receive-ack", lua.receiveAndAckEach("bench", token));
    measure("receive 10 + ack each", conveyor, conveyor.url, ackEach, 1, 16);
    return rows;
  } finally {
    for (const target of targets) target.child.kill("SIGTERM");
    await sleep(500);
    rmSync(scratch, { recursive: true, force: true });
  }
}

function ratios(rows: BenchRow[]): string[] {
  const lines: string[] = [];
  for (const c of [1, 16, 64]) {
    const of = (target: string) =>
      rows.find((row) => row.scenario === "enqueue 1" && row.target === target && row.connections === c);
    const conveyor = of("conveyor");
    const floor = of("floor");
    const azurite = of("azurite");
    if (!conveyor || !floor || !azurite) continue;
    lines.push(
      `enqueue 1 at c=${c}: Conveyor/floor ${(conveyor.requestsPerSecond / floor.requestsPerSecond).toFixed(3)}, Conveyor/Azurite ${(conveyor.requestsPerSecond / azurite.requestsPerSecond).toFixed(2)}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  if (spawnSync("wrk", ["--version"]).error) {
    process.stderr.write("bench: wrk is not installed (Debian: apt-get install wrk)\n");
    process.exitCode = 2;
    return;
  }
  const rows = await runBench({ quick: values.quick, log: (line) => process.stdout.write(`${line}\n`) });
  for (const line of ratios(rows)) process.stdout.write(`${line}\n`);
  const results = join(ROOT, "bench", "results");
  mkdirSync(results, { recursive: true });
  const file = join(results, `${new Date().toISOString().replaceAll(":", "-")}.json`);
  writeFileSync(file, `${JSON.stringify({ quick: values.quick, rows, ratios: ratios(rows) }, null, 2)}\n`);
  process.stdout.write(`results: ${file}\n`);
  const failed = rows.filter((row) => row.requestsPerSecond === 0 || row.errors > 0);
  if (failed.length > 0) {
    process.stderr.write(`bench: ${failed.length} scenarios failed or answered errors\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    process.stderr.write(
      `bench: ${error instanceof Error ? error.message : String(error)}${cause ? ` (${cause.code ?? cause.message})` : ""}\n`,
    );
    process.exitCode = 2;
  });
}
