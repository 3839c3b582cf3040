import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKey, signDevToken } from "../../adapters/files/local-secrets.js";
import { ConveyorApiError, ConveyorClient } from "../../client/index.js";
import { type ModelAccount, startModelAccount } from "../cosmos-model/account.js";

/** The hosts the crash harness kills: each its own process, on SQLite or on one shared Cosmos DB model account. */

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const between = ([low, high]: [number, number]) => low + Math.random() * (high - low);

/** A failure the client could not see the end of: the connection died, or the server was not there. */
export const isUnknown = (error: unknown) => !(error instanceof ConveyorApiError) || error.status >= 500;

class Server {
  private child: ChildProcess | undefined;
  url = "";

  constructor(
    private readonly entry: string,
    private readonly dataDir: string,
    private readonly fault: string | undefined,
    private readonly storeEnv: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [this.entry], {
      env: {
        ...process.env,
        CONVEYOR_DATA_DIR: this.dataDir,
        CONVEYOR_PORT: "0",
        CONVEYOR_RATE_LIMIT: "off",
        CONVEYOR_LOG_LEVEL: "error",
        ...this.storeEnv,
        ...(this.fault ? { CONVEYOR_CHAOS_FAULT: this.fault } : {}),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    this.url = await new Promise<string>((resolve, reject) => {
      let output = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`the server exited (${code}) before it listened`)));
    });
  }

  kill(): Promise<void> {
    return this.signalAndWait("SIGKILL");
  }

  stop(): Promise<void> {
    return this.signalAndWait("SIGTERM");
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }
}

export interface Hosts {
  instances: number;
  /** A client of host `instance` (modulo the count) at its current URL, which changes with every restart. */
  api(instance?: number): ConveyorClient;
  /** SIGKILLs a random host and starts it again; returns which. */
  killOne(): Promise<number>;
  /** The Cosmos DB model (cosmos only): its faults and what it charged. */
  account: ModelAccount | undefined;
  /** Stops every host and removes their data. */
  close(): Promise<void>;
}

export async function startHosts(options: {
  entry: string;
  fault: string | undefined;
  store: "sqlite" | "cosmos";
  instances: number;
  ruPerSecond?: number;
}): Promise<Hosts> {
  const { instances } = options;
  if (instances > 1 && options.store !== "cosmos") throw new Error("several instances need --store cosmos");
  const account =
    options.store === "cosmos"
      ? await startModelAccount({
          database: `chaos-${process.pid}-${Date.now()}`,
          ...(options.ruPerSecond ? { ruPerSecond: options.ruPerSecond } : {}),
        })
      : undefined;
  // A data directory per host (each has its own push dispatcher file), all with the first one's signing key.
  const dataDirs = Array.from({ length: instances }, () => mkdtempSync(join(tmpdir(), "conveyor-chaos-")));
  const [firstDir] = dataDirs as [string];
  const key = await loadOrCreateSigningKey(firstDir);
  for (const dir of dataDirs.slice(1))
    for (const file of readdirSync(firstDir)) copyFileSync(join(firstDir, file), join(dir, file));
  const servers = dataDirs.map((dir) => new Server(options.entry, dir, options.fault, account?.env ?? {}));
  // The first host creates the containers; then the others start beside it.
  await servers[0]?.start();
  await Promise.all(servers.slice(1).map((server) => server.start()));
  const token = await signDevToken(key, {
    tenant: "chaos",
    subject: "chaos",
    roles: ["admin"],
    ttlSeconds: 3600,
    issuer: "conveyor-local",
    audience: "conveyor",
  });
  return {
    instances,
    account,
    api: (instance = 0) =>
      new ConveyorClient({ baseUrl: (servers[instance % instances] as Server).url, token }),
    async killOne() {
      const victim = Math.floor(Math.random() * instances);
      const server = servers[victim] as Server;
      await server.kill();
      await server.start();
      return victim;
    },
    async close() {
      await Promise.all(servers.map((server) => server.stop()));
      await account?.close();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
