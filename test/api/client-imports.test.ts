import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The typed client takes its types from the API's schemas, but a browser or
 * an application importing it must not load the server: what it imports at
 * run time is its own modules and the domain's pure rules (its limits), never
 * the API, the use cases or an adapter. Type-only imports are erased by the
 * compile, so they are allowed.
 */

const root = resolve(import.meta.dirname, "../..");

/** The relative modules a source file imports once compiled, as source paths. */
function runtimeImports(file: string): string[] {
  const compiled = ts.transpileModule(readFileSync(file, "utf8"), {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2023,
      verbatimModuleSyntax: true,
    },
  }).outputText;
  const specifiers = [...compiled.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)].map(
    (match) => match[1] as string,
  );
  return specifiers.map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
}

describe("the typed client", () => {
  it("loads only its own modules and the domain's at run time", () => {
    const seen = new Set<string>();
    const pending = [resolve(root, "src/client/index.ts")];
    while (pending.length > 0) {
      const file = pending.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      pending.push(...runtimeImports(file));
    }
    const loaded = [...seen].map((file) => relative(root, file));
    expect(loaded.filter((file) => !/^src\/(client|domain)\//.test(file))).toEqual([]);
    expect(loaded).toContain("src/client/consumer.ts");
  });
});
