import { spawn } from "node:child_process";

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrkCpuSeconds: number;
  /** Set by the scripts that count: messages settled (or enqueued, for a producer). */
  settled?: number;
  /** Set by the scripts that time what wrk cannot: end-to-end or receive-only latency. */
  measured?: { count: number; p50Ms: number; p99Ms: number };
}

function parseDuration(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/**
 * What a wrk run printed: its report on stdout (with the lines the Lua
 * scripts add), and `/usr/bin/time`'s CPU line on stderr.
 */
export function parseWrkOutput(out: string, err: string): WrkResult {
  const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(err);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const settled = /^settled (\d+)$/m.exec(out);
  const measured = /^measured (\d+) p50 ([\d.]+) p99 ([\d.]+)$/m.exec(out);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    // Anchored: the thread-stats lines above end in percentages too ("86.50%"),
    // and wrk pads a value in seconds with a space ("1.24s ").
    p50Ms: parseDuration(/^\s+50%\s+(\S+)\s*$/m.exec(out)?.[1] ?? ""),
    p99Ms: parseDuration(/^\s+99%\s+(\S+)\s*$/m.exec(out)?.[1] ?? ""),
    errors:
      Number(errors?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
    wrkCpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN,
    ...(settled ? { settled: Number(settled[1]) } : {}),
    ...(measured
      ? { measured: { count: Number(measured[1]), p50Ms: Number(measured[2]), p99Ms: Number(measured[3]) } }
      : {}),
  };
}

/** Runs wrk under /usr/bin/time, so the generator's own CPU is known. */
export function wrk(url: string, script: string, connections: number, seconds: number): Promise<WrkResult> {
  const threads = Math.min(2, connections);
  const child = spawn(
    "/usr/bin/time",
    [
      "-f",
      "cpu %U %S",
      "wrk",
      "--latency",
      // wrk's default (2 s) counts a slow peer's answers as socket errors (docs/performance.md).
      "--timeout",
      "30s",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "-s",
      script,
      url,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`wrk failed (${code}): ${err || out}`));
      resolve(parseWrkOutput(out, err));
    });
  });
}

/** Runs `work` over `total` items, `concurrency` at a time, `chunk` items a call: how backlogs are filled. */
export async function inChunks(
  total: number,
  chunk: number,
  concurrency: number,
  work: (size: number) => Promise<unknown>,
  progress?: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  let reported = 0;
  const worker = async () => {
    while (next < total) {
      const size = Math.min(chunk, total - next);
      next += size;
      await work(size);
      done += size;
      if (progress && done - reported >= 100_000) {
        reported = done;
        progress(done);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
