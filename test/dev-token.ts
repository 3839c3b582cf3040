import { loadOrCreateSigningKey, signDevToken } from "../src/adapters/files/local-secrets.js";
import { ConveyorClient } from "../src/client/index.js";

/**
 * An admin token signed with the development key in `dataDir`, with the
 * issuer and audience a host started without overrides accepts: for tests
 * that run a host they did not start through `startTestHost`.
 */
export async function adminToken(dataDir: string, tenant: string, subject: string): Promise<string> {
  return signDevToken(await loadOrCreateSigningKey(dataDir), {
    tenant,
    subject,
    roles: ["admin"],
    ttlSeconds: 600,
    issuer: "conveyor-local",
    audience: "conveyor",
  });
}

/** A client on `url` holding `adminToken(dataDir, tenant, subject)`. */
export async function adminClient(
  url: string,
  dataDir: string,
  tenant: string,
  subject: string,
): Promise<ConveyorClient> {
  return new ConveyorClient({ baseUrl: url, token: await adminToken(dataDir, tenant, subject) });
}
