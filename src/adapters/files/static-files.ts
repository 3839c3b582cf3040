import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

import type { ReadStaticFile } from "../../service/ports.js";

/** The built console: `dist/console` of the package this module belongs to. */
export function consoleDirectory(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, "package.json")) && dirname(directory) !== directory) {
    directory = dirname(directory);
  }
  return join(directory, "dist", "console");
}

/** Reads files below `root`; a path that would leave it, or a missing file, is undefined. */
export function staticFiles(root: string): ReadStaticFile {
  return (path) => {
    const relative = normalize(path).replace(/^([/\\])+/, "");
    const file = join(root, relative);
    if (!file.startsWith(root + sep) || !existsSync(file)) return undefined;
    try {
      return {
        body: readFileSync(file),
        contentType: TYPES[extname(file)] ?? "application/octet-stream",
        // Vite puts a content hash in asset names.
        immutable: relative.startsWith(`assets${sep}`),
      };
    } catch {
      return undefined;
    }
  };
}
