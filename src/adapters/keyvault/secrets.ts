import type { TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import type { SecretSource } from "../../service/ports.js";

/** The secret names the infrastructure creates in the vault (read-only for the app). */
export const KEY_VAULT_SECRETS = {
  apiKeyPepper: "conveyor-api-key-pepper",
  pushSigningMaster: "conveyor-push-signing-master",
} as const;

/**
 * Secrets from Azure Key Vault, read with the app's managed identity (Key
 * Vault Secrets User) once and cached for the life of the process.
 */
export function keyVaultSecrets(vaultUri: string, credential: TokenCredential): SecretSource {
  const client = new SecretClient(vaultUri, credential);
  const cache = new Map<string, Promise<Buffer>>();
  const read = (name: string): Promise<Buffer> => {
    let value = cache.get(name);
    if (!value) {
      value = client.getSecret(name).then((secret) => {
        if (!secret.value) throw new Error(`Key Vault secret ${name} is empty`);
        // Key material is the secret string itself (azd generates it as a random password).
        return Buffer.from(secret.value, "utf8");
      });
      value.catch(() => cache.delete(name));
      cache.set(name, value);
    }
    return value;
  };
  return {
    apiKeyPepper: () => read(KEY_VAULT_SECRETS.apiKeyPepper),
    pushSigningMaster: () => read(KEY_VAULT_SECRETS.pushSigningMaster),
  };
}
