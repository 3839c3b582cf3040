import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const BUILT_SERVER = join(ROOT, "dist/src/local/main.js");
export const BUILT_CLI = join(ROOT, "dist/src/cli/conveyor.js");

export function requireBuild(): void {
  if (!existsSync(BUILT_SERVER) || !existsSync(BUILT_CLI)) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it first)");
  }
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
}

/** Starts the built local host as its own process and waits for its banner. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  requireBuild();
  const child = spawn(process.execPath, [BUILT_SERVER], {
    env: { ...process.env, CONVEYOR_PORT: "0", CONVEYOR_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15_000);
    const look = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on("data", look);
    void exited.then(() => reject(new Error(`server exited before it started:\n${output}`)));
  });
  return { url, child, output: () => output, exited };
}

/**
 * Kills `server` with SIGKILL while `workers` writers are in flight: each
 * writes until the kill, and stops at its first failure (the connection
 * died with the server, so that write's outcome is unknown). The kill comes
 * once `enough` writes were acknowledged; resolves when every writer has
 * stopped, with the ids acknowledged and how many writes were attempted.
 */
export async function killDuringWrites(
  server: ServerProcess,
  { workers, enough }: { workers: number; enough: number },
  write: (worker: number, n: number) => Promise<string>,
): Promise<{ acknowledged: Set<string>; attempted: number }> {
  const acknowledged = new Set<string>();
  let attempted = 0;
  let stop = false;
  const writer = async (worker: number) => {
    for (let n = 0; !stop; n++) {
      attempted++;
      try {
        acknowledged.add(await write(worker, n));
      } catch {
        return;
      }
    }
  };
  const writers = Array.from({ length: workers }, (_, worker) => writer(worker));
  while (acknowledged.size < enough) await new Promise((resolve) => setTimeout(resolve, 5));
  server.child.kill("SIGKILL");
  const exited = await server.exited;
  stop = true;
  await Promise.all(writers);
  if (exited !== "SIGKILL") throw new Error(`the server ended with ${exited}, not by the kill`);
  return { acknowledged, attempted };
}
