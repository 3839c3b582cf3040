import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "./host.js";
import { BUILT_CLI, ROOT, requireBuild } from "./process.js";

const run = promisify(execFile);
let host: TestHost;

beforeAll(async () => {
  requireBuild();
  host = await startTestHost();
});
afterAll(() => host.close());

const conveyor = (args: string[]) =>
  run(process.execPath, [BUILT_CLI, ...args], {
    env: { ...process.env, CONVEYOR_DATA_DIR: host.dataDir },
  }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

describe("conveyor token", () => {
  it("prints one token and nothing else, which the local host accepts", async () => {
    const { code, stdout, stderr } = await conveyor([
      "token",
      "--tenant",
      "cli-tenant",
      "--roles",
      "admin",
      "--sub",
      "me",
    ]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = stdout.trim();
    expect(decodeJwt(token)).toMatchObject({
      tid: "cli-tenant",
      roles: ["admin"],
      sub: "me",
      iss: "conveyor-local",
    });
    const client = host.client(token);
    await client.createQueue({ name: "from-cli" });
    expect((await client.listQueues()).items.map((queue) => queue.name)).toEqual(["from-cli"]);
  });

  it("works as `npm run -s token`", async () => {
    const result = await run("npm", ["run", "-s", "token", "--", "--tenant", "npm-tenant"], {
      cwd: ROOT,
      env: { ...process.env, CONVEYOR_DATA_DIR: host.dataDir },
    });
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(result.stdout.trim()).tid).toBe("npm-tenant");
  });

  it("fails with exit code 2 and a message on bad usage", async () => {
    const missing = await conveyor(["token"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--tenant is required/);
    expect(missing.stdout).toBe("");
    const unknown = await conveyor(["token", "--tenant", "t", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/bogus/);
    const command = await conveyor(["frobnicate"]);
    expect(command.code).toBe(2);
  });

  it("prints help", async () => {
    const help = await conveyor(["token", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: conveyor token/);
  });
});
