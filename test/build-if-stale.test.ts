import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./process.js";

/**
 * scripts/build-if-stale.mjs in a scratch project whose tsc and vite are
 * stand-ins that log their runs and write the outputs the script watches.
 */
const INPUTS = ["src/a.ts", "console/src/main.tsx", "tsconfig.json", "package.json", "package-lock.json"];

function scratchProject() {
  const dir = mkdtempSync(join(tmpdir(), "conveyor-stale-"));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  mkdirSync(join(dir, "scripts"));
  copyFileSync(join(ROOT, "scripts/build-if-stale.mjs"), join(dir, "scripts/build-if-stale.mjs"));
  const standIn = (name: string, output: string) =>
    `const fs = require("node:fs"); fs.appendFileSync(${JSON.stringify(join(dir, "runs.log"))}, "${name}\\n");` +
    `fs.mkdirSync(${JSON.stringify(dirname(join(dir, output)))}, { recursive: true }); fs.writeFileSync(${JSON.stringify(join(dir, output))}, "");`;
  write("node_modules/typescript/bin/tsc", standIn("tsc", "dist/src/local/main.js"));
  write("node_modules/vite/bin/vite.js", standIn("vite", "dist/console/index.html"));
  write("node_modules/typescript/package.json", '{"type":"commonjs"}');
  write("node_modules/vite/package.json", '{"type":"commonjs"}');
  for (const file of INPUTS) write(file, "");
  const age = (path: string, secondsAgo: number) => {
    const when = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(dir, path), when, when);
  };
  for (const file of INPUTS) age(file, 60);
  const build = () => {
    writeFileSync(join(dir, "runs.log"), "", { flag: "a" });
    const before = readFileSync(join(dir, "runs.log"), "utf8").length;
    execFileSync(process.execPath, [join(dir, "scripts/build-if-stale.mjs")], { cwd: dir });
    return readFileSync(join(dir, "runs.log"), "utf8").slice(before).split("\n").filter(Boolean);
  };
  return { build, touch: (path: string) => age(path, 0) };
}

describe("scripts/build-if-stale.mjs", () => {
  it("builds what is missing, nothing when nothing changed, and only what a change touches", () => {
    const project = scratchProject();
    expect(project.build()).toEqual(["tsc", "vite"]);
    expect(project.build()).toEqual([]);
    project.touch("console/src/main.tsx");
    expect(project.build()).toEqual(["vite"]);
    project.touch("src/a.ts");
    expect(project.build()).toEqual(["tsc", "vite"]);
    expect(project.build()).toEqual([]);
  });
});
