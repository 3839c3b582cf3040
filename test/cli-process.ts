import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BUILT_CLI } from "./process.js";

export const run = promisify(execFile);

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real bin, as a user runs it from a script: stdout and stdin are pipes, not a terminal. */
export const runCli = (args: string[], env: Record<string, string>, stdin?: string): Promise<Outcome> =>
  new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BUILT_CLI, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin ?? "");
  });

/** The real bin on a pseudo-terminal (util-linux `script`), as a person at a shell runs it. */
export const runCliOnTerminal = (args: string[], env: Record<string, string>): Promise<Outcome> => {
  const quoted = [process.execPath, BUILT_CLI, ...args]
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`)
    .join(" ");
  return run("script", ["-qec", quoted, "/dev/null"], { env: { ...process.env, ...env } }).then(
    (result) => ({ code: 0, ...result }),
    (error: Outcome) => error,
  );
};

export const jsonLines = (stdout: string) =>
  stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
