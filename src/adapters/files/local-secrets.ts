import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyObject, SignJWT } from "jose";
import type { SecretSource } from "../../service/ports.js";

/**
 * The local host's secrets, kept in its data directory (mode 0600): the ES256
 * key that signs development tokens, and the pepper that API key hashes are
 * keyed with. On Azure these come from Key Vault instead.
 */
const SIGNING_KEY_FILE = "signing-key.json";
const PEPPER_FILE = "api-key-pepper";
const PUSH_MASTER_FILE = "push-signing-master";
const ALGORITHM = "ES256";

export interface LocalSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export async function loadOrCreateSigningKey(dataDir: string): Promise<LocalSigningKey> {
  const stored = readOrCreate(dataDir, SIGNING_KEY_FILE, async () => {
    const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const jwk = await exportJWK(privateKey);
    return JSON.stringify({ ...jwk, kid: randomBytes(8).toString("hex"), alg: ALGORITHM });
  });
  return keyOf(await stored);
}

/** The signing key a local host made in its data directory, or undefined where none has run. */
export async function loadSigningKey(dataDir: string): Promise<LocalSigningKey | undefined> {
  try {
    return await keyOf(readFileSync(join(dataDir, SIGNING_KEY_FILE), "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function keyOf(stored: string): Promise<LocalSigningKey> {
  const jwk = JSON.parse(stored) as JWK & { kid: string };
  const privateKey = (await importJWK(jwk, ALGORITHM)) as KeyObject;
  const { d: _private, ...publicJwk } = jwk;
  const publicKey = (await importJWK(publicJwk, ALGORITHM)) as KeyObject;
  return { kid: jwk.kid, privateKey, publicKey };
}

/** The local host's secrets, from (and created in) its data directory. */
export function fileSecrets(dataDir: string): SecretSource {
  return {
    apiKeyPepper: () => randomSecret(dataDir, PEPPER_FILE),
    pushSigningMaster: () => randomSecret(dataDir, PUSH_MASTER_FILE),
  };
}

async function randomSecret(dataDir: string, name: string): Promise<Buffer> {
  const stored = await readOrCreate(dataDir, name, async () => randomBytes(32).toString("base64"));
  return Buffer.from(stored.trim(), "base64");
}

export interface DevTokenClaims {
  tenant: string;
  subject: string;
  roles: string[];
  ttlSeconds: number;
  issuer: string;
  audience: string;
}

export function signDevToken(key: LocalSigningKey, claims: DevTokenClaims): Promise<string> {
  return new SignJWT({ tid: claims.tenant, roles: claims.roles })
    .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: "JWT" })
    .setSubject(claims.subject)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`)
    .sign(key.privateKey);
}

/** Creates the file exclusively, so a server and a token command starting together agree on one secret. */
async function readOrCreate(dataDir: string, name: string, create: () => Promise<string>): Promise<string> {
  const path = join(dataDir, name);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const content = await create();
  try {
    writeFileSync(path, content, { flag: "wx", mode: 0o600 });
    return content;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readFileSync(path, "utf8");
    throw error;
  }
}
