import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** One function as the Functions host receives it from the Node worker. */
export interface CoreRegistration {
  name: string;
  bindings: Record<string, { type: string; direction: string; route?: string; methods?: string[] }>;
}

/**
 * Loads an entry point (package.json `main`) in its own Node process, with
 * the module the Node worker injects, `@azure/functions-core`, replaced by a
 * recorder, and returns what `@azure/functions` registered through it: the
 * same metadata (names, bindings, routes) the host would map. The library
 * reaches the worker only through `require("@azure/functions-core")`
 * (Azure/azure-functions-nodejs-library src/utils/tryGetCoreApiLazy.ts), so
 * NODE_PATH can supply the recorder without touching the package.
 */
export function registeredFunctions(
  entryPoint: string,
  env: Record<string, string> = {},
): CoreRegistration[] {
  const modules = mkdtempSync(join(tmpdir(), "conveyor-core-"));
  const core = join(modules, "@azure/functions-core");
  mkdirSync(core, { recursive: true });
  writeFileSync(
    join(core, "package.json"),
    JSON.stringify({ name: "@azure/functions-core", main: "index.js" }),
  );
  writeFileSync(
    join(core, "index.js"),
    [
      "const registered = (globalThis.__registered = []);",
      "exports.setProgrammingModel = () => {};",
      "exports.registerFunction = (metadata) => { registered.push(metadata); return { dispose() {} }; };",
      "exports.registerHook = () => ({ dispose() {} });",
      "exports.log = () => {};",
    ].join("\n"),
  );
  const script = `await import(${JSON.stringify(pathToFileURL(entryPoint).href)});
process.stdout.write("\\n@@" + JSON.stringify(globalThis.__registered ?? []));
process.exit(0);`;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH, NODE_PATH: modules, CONVEYOR_LOG_LEVEL: "warn", ...env },
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  const marker = output.lastIndexOf("\n@@");
  if (marker < 0) throw new Error(`the entry point printed no registrations:\n${output}`);
  return JSON.parse(output.slice(marker + 3)) as CoreRegistration[];
}
