import Table from "cli-table3";
import type { Command } from "commander";
import { ConveyorClient } from "../client/index.js";

/** Exit codes: 0 done; 1 the server refused (its problem code is printed); 2 the command line is wrong; 3 the server cannot be reached. */
export const EXIT = { refused: 1, usage: 2, unreachable: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Where results go: JSON lines when asked (`--json`) or when stdout is not a
 * terminal (a pipe, a file), so scripts read one format; tables for a person.
 */
export function jsonOutput(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json) || !process.stdout.isTTY;
}

export const note = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const jsonLine = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const cell = (value: unknown): string =>
  value === undefined || value === null
    ? ""
    : typeof value === "object"
      ? JSON.stringify(value)
      : String(value);

/** One result: a JSON line, or a two-column table of its fields. */
export function printOne(command: Command, value: object): void {
  if (jsonOutput(command)) return void jsonLine(value);
  const table = new Table({ style: { head: [], border: [], compact: true } });
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) table.push({ [key]: cell(field) });
  }
  process.stdout.write(`${table.toString()}\n`);
}

/**
 * Rows: JSON lines, or one table with the given columns (what fits a
 * terminal; `--json` has every field). `empty` is said on stderr when there
 * are none, so a person is not left with a blank screen.
 */
export function printRows<T extends object>(
  command: Command,
  rows: readonly T[],
  columns: readonly (keyof T & string)[],
  empty: string,
): void {
  if (rows.length === 0 && empty) note(empty);
  if (jsonOutput(command)) {
    for (const row of rows) jsonLine(row);
    return;
  }
  if (rows.length === 0) return;
  const table = new Table({ head: [...columns], style: { head: [], border: [], compact: true } });
  for (const row of rows) table.push(columns.map((column) => cell(row[column])));
  process.stdout.write(`${table.toString()}\n`);
}

/** An option's whole-number value within bounds, or a usage error naming the option. */
export const integer =
  (name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed))
      throw new CliError(`${name} must be a whole number, not "${value}"`, EXIT.usage);
    if (parsed < min || parsed > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      throw new CliError(`${name} must be ${range}`, EXIT.usage);
    }
    return parsed;
  };

/** A body given on the command line, in a file or on stdin: JSON when it parses, else the text itself. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function client(command: Command): ConveyorClient {
  const { url, token } = command.optsWithGlobals<{ url: string; token?: string }>();
  if (!token) throw new CliError("no credentials: pass --token or set CONVEYOR_TOKEN", EXIT.usage);
  return new ConveyorClient({ baseUrl: url, token });
}

/** Progress for long work on stderr: a live line on a terminal, a plain line every two seconds elsewhere. */
export function progress(label: string, total?: number) {
  const started = Date.now();
  let lastPlain = 0;
  const render = (done: number, final = false) => {
    const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
    const share = total ? ` ${Math.floor((done / total) * 100)}% of ${total}` : "";
    const line = `${label}: ${done}${share} (${rate}/s)`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${final ? "\n" : ""}`);
    else if (final || Date.now() - lastPlain >= 2000) {
      lastPlain = Date.now();
      note(line);
    }
  };
  return { update: (done: number) => render(done), finish: (done: number) => render(done, true) };
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every item of a paged list, page after page: the CLI prints whole lists. */
export async function allPages<T>(
  list: (page: { limit: number; cursor?: string }) => Promise<{ items: T[]; nextCursor?: string }>,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 1000, cursor });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** Refuses a destructive command run without --yes, saying what it would remove. */
export function requireYes(options: { yes?: boolean }, consequence: string): void {
  if (!options.yes) throw new CliError(`${consequence}: add --yes`, EXIT.usage);
}
