import type { TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import type { SecretSource } from "../../service/ports.js";

/** The secret names the infrastructure creates in the vault (read-only for the app). */
export const KEY_VAULT_SECRETS = { apiKeyPepper: "conveyor-api-key-pepper" } as const;

/**
 * Secrets from Azure Key Vault, read with the app's managed identity (Key
 * Vault Secrets User) once and cached for the life of the process.
 */
export function keyVaultSecrets(vaultUri: string, credential: TokenCredential): SecretSource {
  const client = new SecretClient(vaultUri, credential);
  let pepper: Promise<Buffer> | undefined;
  return {
    apiKeyPepper() {
      pepper ??= client.getSecret(KEY_VAULT_SECRETS.apiKeyPepper).then((secret) => {
        if (!secret.value) throw new Error(`Key Vault secret ${KEY_VAULT_SECRETS.apiKeyPepper} is empty`);
        return Buffer.from(secret.value, "base64");
      });
      return pepper;
    },
  };
}
