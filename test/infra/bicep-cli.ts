import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../process.js";

const VERSION = "0.49.2";

/**
 * Finds a Bicep CLI without downloading from an unknown site: `bicep` on
 * PATH, the one az or azd installed, or NuGet's
 * Azure.Bicep.CommandLine.linux-x64 through `dotnet restore` of
 * infra/tools/bicep-cli.csproj. Returns the reason when none can be had.
 */
export function findBicep(): { path: string } | { missing: string } {
  const onPath = spawnSync("bicep", ["--version"], { encoding: "utf8" });
  if (onPath.status === 0) return { path: "bicep" };
  for (const candidate of [join(homedir(), ".azure/bin/bicep"), join(homedir(), ".azd/bin/bicep")]) {
    if (existsSync(candidate)) return { path: candidate };
  }
  const packages = process.env.NUGET_PACKAGES ?? join(homedir(), ".nuget/packages");
  const fromNuget = join(packages, "azure.bicep.commandline.linux-x64", VERSION, "tools/bicep");
  if (!existsSync(fromNuget)) {
    if (spawnSync("dotnet", ["--version"]).status !== 0) {
      return { missing: "no bicep on PATH, no az/azd Bicep and no dotnet to restore it from NuGet" };
    }
    try {
      execFileSync("dotnet", ["restore", join(ROOT, "infra/tools/bicep-cli.csproj")], { stdio: "pipe" });
    } catch (error) {
      return {
        missing: `dotnet restore of the Bicep CLI failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`,
      };
    }
  }
  if (!existsSync(fromNuget)) return { missing: `the NuGet package did not contain ${fromNuget}` };
  execFileSync("chmod", ["+x", fromNuget]);
  return { path: fromNuget };
}

export function bicep(cli: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(cli, args, { encoding: "utf8", cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
