import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import ignore from "ignore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CoreRegistration, registeredFunctions } from "./functions-core.js";
import { ROOT } from "./process.js";

/**
 * What `azd deploy` uploads, built the way the Flex Consumption remote build
 * does. azd zips the service folder, leaving out what `.funcignore` matches
 * (gitignore rules, whole ignored folders skipped), the `.funcignore` file
 * itself, `local.settings.json` and `.azure/` (Azure/azure-dev
 * cli/azd/pkg/project/project_utils.go, createDeployableZip); Oryx then runs
 * `npm install` and `npm run build` in it (microsoft/Oryx
 * src/BuildScriptGenerator/Node/NodeBashBuildSnippet.sh.tpl). The folder
 * starts as a clean checkout of the working tree: the tracked and the
 * untracked-but-not-git-ignored files, as `git clone` of it would give.
 */
const stage = mkdtempSync(join(tmpdir(), "conveyor-package-"));

function packagedFiles(): string[] {
  const funcignore = ignore().add(readFileSync(join(ROOT, ".funcignore"), "utf8"));
  const checkout = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter((file) => file !== "" && existsSync(join(ROOT, file)));
  return checkout.filter(
    (file) =>
      !funcignore.ignores(file) &&
      ![".funcignore", "local.settings.json"].includes(basename(file)) &&
      !file.split("/").includes(".azure"),
  );
}

function run(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { cwd: stage, stdio: "pipe", env: { ...process.env, CI: "true" } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(
      `${command} ${args.join(" ")} failed in the package:\n${stdout ?? ""}${stderr ?? ""}`.slice(-4000),
    );
  }
}

let files: string[];
let registered: CoreRegistration[];

beforeAll(() => {
  files = packagedFiles();
  for (const file of files) {
    mkdirSync(join(stage, dirname(file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(stage, file));
  }
  // The real install from the lock file, as the remote build does, better-sqlite3's native build included:
  // 2.5 minutes on an idle 2-core machine, 10 on a loaded one.
  run("npm", ["ci", "--no-audit", "--no-fund"]);
  run("npm", ["run", "build"]);
  const { main } = JSON.parse(readFileSync(join(stage, "package.json"), "utf8")) as { main: string };
  registered = registeredFunctions(join(stage, main), { CONVEYOR_DATA_DIR: join(stage, ".conveyor") });
}, 1_200_000);

afterAll(() => {
  rmSync(stage, { recursive: true, force: true });
}, 600_000);

describe("the package azd deploys", () => {
  it("keeps the build inputs and leaves out what the package does not need", () => {
    for (const input of ["package.json", "package-lock.json", "tsconfig.json", "host.json"])
      expect(files).toContain(input);
    expect(files.some((file) => file.startsWith("src/functions/"))).toBe(true);
    expect(files).toContain("console/vite.config.ts");
    for (const left of ["test/", "src/tools/", "infra/", "docs/", "node_modules/", "dist/", ".ci/"])
      expect(files.filter((file) => file.startsWith(left))).toEqual([]);
  });

  it("excludes node_modules, which azd requires with `remoteBuild: true`", () => {
    // resolveFunctionAppRemoteBuild in Azure/azure-dev service_target_functionapp.go fails otherwise.
    expect(
      ignore()
        .add(readFileSync(join(ROOT, ".funcignore"), "utf8"))
        .ignores("node_modules/"),
    ).toBe(true);
    expect(readFileSync(join(ROOT, "azure.yaml"), "utf8")).toMatch(/remoteBuild: true/);
  });

  it("builds with npm ci and npm run build into the entry point package.json names, and the console", () => {
    const { main } = JSON.parse(readFileSync(join(stage, "package.json"), "utf8")) as { main: string };
    expect(existsSync(join(stage, main))).toBe(true);
    expect(readdirSync(join(stage, "dist/console"))).toContain("index.html");
  });

  it("registers every function from that entry point", async () => {
    // Expected from the package's own sources and build, so a change elsewhere in the tree cannot race the copy.
    const { routes } = (await import(pathToFileURL(join(stage, "dist/src/api/routes.js")).href)) as {
      routes: { name: string }[];
    };
    const functionsDir = join(stage, "src/functions");
    // Non-HTTP triggers are declared one call each: app.timer("name", ...), app.cosmosDB("name", ...).
    const declared = readdirSync(functionsDir)
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) =>
        [...readFileSync(join(functionsDir, file), "utf8").matchAll(/\bapp\.\w+\(\s*"([^"]+)"/g)].map(
          (match) => match[1] as string,
        ),
      );
    const expected = [...routes.map((route) => route.name), ...declared].sort();
    expect(registered.map((registration) => registration.name).sort()).toEqual(expected);
    const http = registered.filter((registration) =>
      Object.values(registration.bindings).some((binding) => binding.type === "httpTrigger"),
    );
    expect(http).toHaveLength(routes.length);
    // What the host maps: the console's template must not be blank, or the host names it after the function.
    const consoleIndex = registered.find((registration) => registration.name === "consoleIndex");
    expect(
      Object.values(consoleIndex?.bindings ?? {}).find((binding) => binding.type === "httpTrigger")?.route,
    ).toBe("/");
  });
});
