import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SETTING_NAMES } from "../src/config.js";
import { ROOT } from "./process.js";

describe("README", () => {
  it("lists every setting the configuration reads in its configuration table", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const start = readme.indexOf("## Configuration");
    const table = readme.slice(start, readme.indexOf("\n## ", start + 1));
    const rows = table.split("\n").filter((line) => line.startsWith("| `"));
    const documented = new Set(
      rows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1])),
    );
    expect(SETTING_NAMES.filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !SETTING_NAMES.includes(name as string))).toEqual([]);
  });
});
