import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify, type KeyObject } from "jose";
import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";

export interface JwtSettings {
  /**
   * Accepted issuers. `{tenantid}` stands for the token's tenant claim, so
   * `https://login.microsoftonline.com/{tenantid}/v2.0` accepts each tenant's
   * own issuer, never another tenant's.
   */
  issuer: string | readonly string[];
  /** Accepted audiences: for Entra ID, the API's client id (v2.0 tokens) and its App ID URI (v1.0). */
  audience: string | readonly string[];
  /** JWKS endpoints, tried in order for the token's key id (Entra's v1.0 and v2.0 key sets), or a local public key. */
  key: { jwksUri: string | readonly string[] } | { publicKey: KeyObject };
  /** Which claim names the tenant: Entra ID puts it in `tid`. */
  tenantClaim: string;
  /** When set, only these tenants' tokens pass (a multi-tenant app registration admits any tenant). */
  tenants?: readonly string[] | undefined;
}

export type VerifyToken = (token: string) => Promise<Result<Principal>>;

const CACHE_ENTRIES = 10_000;
const CACHE_SECONDS = 300;
const TENANT = "{tenantid}";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const list = (value: string | readonly string[]): readonly string[] =>
  typeof value === "string" ? [value] : value;

/** Tries each key set in turn for the token's `kid`: Entra serves v1.0 and v2.0 keys at separate endpoints. */
function remoteKeys(uris: readonly string[]): JWTVerifyGetKey {
  const sets = uris.map((uri) => createRemoteJWKSet(new URL(uri)));
  return async (header, token) => {
    for (const [index, set] of sets.entries()) {
      try {
        return await set(header, token);
      } catch (error) {
        const last = index === sets.length - 1;
        if (last || (error as { code?: string }).code !== "ERR_JWKS_NO_MATCHING_KEY") throw error;
      }
    }
    throw new Error("no JWKS configured");
  };
}

/**
 * Verifies bearer JWTs with jose: signature (JWKS or a local key), audience,
 * expiry and not-before, then the issuer against the tenant the token names,
 * and for Entra ID the token version against the issuer's form: a v2.0
 * token's issuer ends in `/v2.0`, a v1.0 token's is
 * `https://sts.windows.net/{tenantid}/`. Claims per
 * https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
 * and issuer validation per
 * https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-issuer.
 *
 * A token that verified is remembered until its expiry (at most five
 * minutes): a signature check costs more than the rest of a small request,
 * and a JWT cannot be revoked before it expires anyway.
 */
export function jwtVerifier(settings: JwtSettings, nowMs: () => number = Date.now): VerifyToken {
  const key: KeyObject | JWTVerifyGetKey =
    "jwksUri" in settings.key ? remoteKeys(list(settings.key.jwksUri)) : settings.key.publicKey;
  const issuers = list(settings.issuer);
  const audiences = [...list(settings.audience)];
  const verified = new Map<string, { principal: Principal; untilMs: number }>();
  return async (token) => {
    const cached = verified.get(token);
    if (cached && cached.untilMs > nowMs()) return ok(cached.principal);
    verified.delete(token);
    const result = await verify(token);
    if (result.ok) {
      if (verified.size >= CACHE_ENTRIES) verified.delete(verified.keys().next().value as string);
      verified.set(token, { principal: result.value.principal, untilMs: result.value.untilMs });
      return ok(result.value.principal);
    }
    return result;
  };

  async function verify(token: string): Promise<Result<{ principal: Principal; untilMs: number }>> {
    let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
    try {
      ({ payload } = await jwtVerify(token, key as KeyObject, {
        audience: audiences,
        clockTolerance: 30,
        requiredClaims: ["exp", "iss"],
        currentDate: new Date(nowMs()),
      }));
    } catch (error) {
      const reason = (error as { code?: string }).code ?? "ERR_JWT_INVALID";
      // On the local host the likely cause is a token minted against another data directory's key.
      const hint =
        reason === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" && "publicKey" in settings.key
          ? ": it was not signed with this server's key; mint development tokens with `conveyor token` and the server's CONVEYOR_DATA_DIR"
          : "";
      return fail("unauthorized", `the bearer token was rejected (${reason})${hint}`);
    }
    const tenantId = payload[settings.tenantClaim];
    if (typeof tenantId !== "string" || tenantId.length === 0) {
      return fail("unauthorized", `the token has no "${settings.tenantClaim}" (tenant) claim`);
    }
    const issuer = issuers.find((candidate) =>
      candidate.includes(TENANT)
        ? GUID.test(tenantId) && candidate.replaceAll(TENANT, tenantId) === payload.iss
        : candidate === payload.iss,
    );
    if (issuer === undefined) {
      return fail(
        "unauthorized",
        "the bearer token was rejected (its issuer is not accepted for its tenant)",
      );
    }
    if (payload.ver !== undefined && payload.ver !== (payload.iss?.endsWith("/v2.0") ? "2.0" : "1.0")) {
      return fail("unauthorized", "the bearer token was rejected (its version does not match its issuer)");
    }
    if (settings.tenants && settings.tenants.length > 0 && !settings.tenants.includes(tenantId)) {
      return fail("unauthorized", "the bearer token was rejected (its tenant is not admitted)");
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter((role) => typeof role === "string")
      : [];
    const untilMs = Math.min((payload.exp ?? 0) * 1000, nowMs() + CACHE_SECONDS * 1000);
    return ok({ principal: { tenantId, subject: payload.sub ?? "", roles }, untilMs });
  }
}
