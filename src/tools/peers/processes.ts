import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, sleep } from "../bench/processes.js";

/** How the benchmark starts, measures and stops the peers' servers (with the port and pause helpers of its own targets). */

export { freePort, sleep };

export interface Account {
  uid: number;
  gid: number;
  home: string;
}

/**
 * The account a server runs as: as root, the one its Debian package made
 * (postgres refuses root outright; the others need no more than their own
 * data directory); otherwise whoever runs the benchmark.
 */
export function accountFor(user: string): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user}: is its Debian package installed? (npm run setup:bench)`);
  const [, , uid, gid, , home] = line.split(":");
  return { uid: Number(uid), gid: Number(gid), home: home as string };
}

/** A fresh data directory the server's account owns. */
export function dataDirectory(name: string, account: Account | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), `conveyor-bench-${name}-`));
  if (account) chownSync(dir, account.uid, account.gid);
  return dir;
}

export interface Server {
  name: string;
  child: ChildProcess;
  /** Everything the server printed, for the report when it fails to start. */
  output(): string;
}

export function startServer(
  name: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; account?: Account | undefined; cwd?: string } = {},
): Server {
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.account ? { uid: options.account.uid, gid: options.account.gid } : {}),
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    // The tail is what says why a server stopped.
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (error) => keep(Buffer.from(String(error))));
  return { name, child, output: () => output };
}

/** Retries `probe` until it resolves, the server exits, or `timeoutMs` passes. */
export async function waitUntilReady<T>(
  server: Server,
  probe: () => Promise<T>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null)
      throw new Error(
        `${server.name} exited (${server.child.exitCode ?? server.child.signalCode}):\n${server.output()}`,
      );
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(
          `${server.name} did not answer within ${timeoutMs / 1000} s (${String(error)}):\n${server.output()}`,
        );
      await sleep(250);
    }
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopServer(server: Server, graceMs = 10_000): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, and cutime + cstime (reaped children), in seconds. */
  own: number;
  children: number;
}

const TICKS_PER_SECOND = 100;

/** Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const pid = Number(text.slice(0, text.indexOf(" ")));
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = (index: number) => Number(fields[index]);
  return {
    pid,
    ppid: ticks(1),
    own: (ticks(11) + ticks(12)) / TICKS_PER_SECOND,
    children: (ticks(13) + ticks(14)) / TICKS_PER_SECOND,
  };
}

/**
 * CPU seconds used by a process and all its descendants: a broker is more
 * than one process (PostgreSQL forks a backend per connection and its WAL
 * writer; RabbitMQ's VM has helpers), and what exited is in its parent's
 * reaped-children times.
 */
export function treeCpuSeconds(root: number): number {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      stats.push(parseProcStat(readFileSync(`/proc/${entry}/stat`, "utf8")));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return sumTree(stats, root);
}

export function sumTree(stats: readonly ProcStat[], root: number): number {
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of stats) byParent.set(stat.ppid, [...(byParent.get(stat.ppid) ?? []), stat]);
  let total = 0;
  const visit = (stat: ProcStat) => {
    total += stat.own + stat.children;
    for (const child of byParent.get(stat.pid) ?? []) visit(child);
  };
  const top = stats.find((stat) => stat.pid === root);
  if (top) visit(top);
  return total;
}

/** The loader's own CPU seconds (this process). */
export function loaderCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
