import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** The repository's root, from dist/src/tools/bench/ where the built benchmark runs. */
export const ROOT = fileURLToPath(new URL("../../../..", import.meta.url));

/** A server under test: its own process, listening on loopback. */
export interface Target {
  name: string;
  url: string;
  child: ChildProcess;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a server and resolves with its URL once it prints that it listens. */
export function startProcess(
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
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A process's peak resident memory (Linux /proc). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

export function assertAlive(target: Target): void {
  if (target.child.exitCode !== null || target.child.signalCode !== null) {
    throw new Error(
      `${target.name} exited (${target.child.exitCode ?? target.child.signalCode}) during the run`,
    );
  }
}
