#!/usr/bin/env node
// Builds what is older than its sources, so `npm start`, `npm run -s token` and
// `npm run -s conveyor` start at once when nothing changed. `npm run build`
// always builds everything (CI, the Functions remote build). A step is stale
// when any input is newer than an output it always rewrites.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");

/** The newest modification time under the given files and folders (node_modules and dist skipped). */
function newest(paths) {
  let latest = 0;
  const visit = (path) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path))
        if (entry !== "node_modules" && entry !== "dist") visit(join(path, entry));
    } else latest = Math.max(latest, stat.mtimeMs);
  };
  for (const path of paths) visit(join(root, path));
  return latest;
}

const steps = [
  {
    output: "dist/src/local/main.js",
    inputs: ["src", "tsconfig.json", "package.json", "package-lock.json"],
    run: () =>
      execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
        cwd: root,
        stdio: "inherit",
      }),
  },
  {
    output: "dist/console/index.html",
    inputs: ["console", "src", "package-lock.json"],
    run: () =>
      execFileSync(
        process.execPath,
        [
          join(root, "node_modules/vite/bin/vite.js"),
          "build",
          "--config",
          "console/vite.config.ts",
          "--logLevel",
          "warn",
        ],
        {
          cwd: root,
          stdio: "inherit",
        },
      ),
  },
];

for (const step of steps) {
  const output = join(root, step.output);
  const builtAt = existsSync(output) ? statSync(output).mtimeMs : 0;
  if (newest(step.inputs) < builtAt) continue;
  step.run();
}
