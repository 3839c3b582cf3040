import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestError } from "@azure/core-rest-pipeline";
import { beforeAll, describe, expect, it, vi } from "vitest";

/**
 * The Functions worker's start-up right after `azd up`: Key Vault answers 403
 * until the app's role assignment has taken effect, which "can sometimes take
 * up to 30 minutes" (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting).
 * Key Vault cannot run here, so its SDK client is faked; everything else
 * (config, the SQLite store, the Service Bus client's construction) is real.
 */
const vault = vi.hoisted(() => ({ forbidden: true, clients: 0, reads: 0 }));

vi.mock("@azure/keyvault-secrets", () => ({
  SecretClient: class {
    constructor() {
      vault.clients++;
    }
    async getSecret(name: string) {
      vault.reads++;
      // Let concurrent callers pile up on one start-up before it settles.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (vault.forbidden) {
        throw new RestError("Caller is not authorized to perform action on resource.", {
          code: "Forbidden",
          statusCode: 403,
        });
      }
      return { name, value: `secret-of-${name}` };
    }
  },
}));

beforeAll(() => {
  Object.assign(process.env, {
    CONVEYOR_DATA_DIR: mkdtempSync(join(tmpdir(), "conveyor-runtime-")),
    CONVEYOR_LOG_LEVEL: "error",
    KEY_VAULT_URI: "https://conveyor-test.vault.azure.net/",
    ServiceBusConnection__fullyQualifiedNamespace: "conveyor-test.servicebus.windows.net",
  });
});

describe("the Functions worker's start-up", () => {
  it("a start-up that failed (Key Vault 403) is tried again on the next call, once for concurrent calls", async () => {
    const { conveyor } = await import("../src/functions/runtime.js");
    await expect(conveyor()).rejects.toMatchObject({ statusCode: 403 });
    await expect(conveyor()).rejects.toMatchObject({ statusCode: 403 });

    vault.forbidden = false;
    const clientsBefore = vault.clients;
    const [first, second, third] = await Promise.all([conveyor(), conveyor(), conveyor()]);
    expect(first).toBe(second);
    expect(third).toBe(first);
    // One build for the three concurrent calls: one vault client, its two secrets.
    expect(vault.clients - clientsBefore).toBe(1);

    expect(first.context.push.signingMaster.toString()).toBe("secret-of-conveyor-push-signing-master");
    // Later calls reuse the built instance.
    const reads = vault.reads;
    expect(await conveyor()).toBe(first);
    expect(vault.reads).toBe(reads);
  });
});
