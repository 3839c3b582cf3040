import { randomBytes, timingSafeEqual } from "node:crypto";
import { isAdmin, type Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Grant } from "../domain/queue.js";
import type { ServiceContext } from "./context.js";
import type { ApiKeyRecord, Page, PageRequest } from "./ports.js";

/** API keys look like `cvk.key_<id>.<secret>`: the prefix lets secret scanners spot them. */
const KEY_PATTERN = /^cvk\.(key_[A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;

export const looksLikeApiKey = (token: string): boolean => token.startsWith("cvk.");

export interface CreateKeyInput {
  name: string;
  roles?: "admin"[];
  grants?: Record<string, Grant[]>;
}

export type PublicKey = Omit<ApiKeyRecord, "secretHash">;

/** Every key use case answers this to a caller without the admin role. */
const needsAdmin = () => fail("forbidden", "managing API keys needs the admin role");

export async function createKey(
  context: ServiceContext,
  principal: Principal,
  input: CreateKeyInput,
): Promise<Result<{ record: PublicKey; key: string }>> {
  if (!isAdmin(principal)) return needsAdmin();
  const id = `key_${randomBytes(16).toString("base64url")}`;
  const secret = randomBytes(32).toString("base64url");
  const record: ApiKeyRecord = {
    id,
    tenantId: principal.tenantId,
    name: input.name,
    secretHash: context.hashKeySecret(secret),
    roles: input.roles ?? [],
    grants: input.grants ?? {},
    createdAt: context.clock.now(),
  };
  await context.keys.createKey(record);
  return ok({ record: withoutSecret(record), key: `cvk.${id}.${secret}` });
}

export async function listKeys(
  context: ServiceContext,
  principal: Principal,
  page: PageRequest,
): Promise<Result<Page<PublicKey>>> {
  if (!isAdmin(principal)) return needsAdmin();
  const listed = await context.keys.listKeys(principal.tenantId, page);
  if (!listed.ok) return listed;
  return ok({ ...listed.value, items: listed.value.items.map(withoutSecret) });
}

export async function deleteKey(
  context: ServiceContext,
  principal: Principal,
  id: string,
): Promise<Result<void>> {
  if (!isAdmin(principal)) return needsAdmin();
  return (await context.keys.deleteKey(principal.tenantId, id))
    ? ok(undefined)
    : fail("key_not_found", `no key "${id}"`);
}

/** Resolves a presented API key to its principal; a revoked, unknown or wrong key is `unauthorized`. */
export async function authenticateKey(
  context: ServiceContext,
  presented: string,
): Promise<Result<Principal>> {
  const match = KEY_PATTERN.exec(presented);
  const record = match ? await context.keys.findKey(match[1] as string) : undefined;
  if (!match || !record || !sameHash(record.secretHash, context.hashKeySecret(match[2] as string))) {
    return fail("unauthorized", "the API key is not valid");
  }
  // A map, not the stored object: queue names such as "constructor" are properties of every plain object.
  const keyGrants = new Map(Object.entries(record.grants));
  return ok({ tenantId: record.tenantId, subject: record.id, roles: record.roles, keyGrants });
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

const withoutSecret = ({ secretHash: _hash, ...record }: ApiKeyRecord): PublicKey => record;
