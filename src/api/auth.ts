import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify, type KeyObject } from "jose";
import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";

export interface JwtSettings {
  issuer: string;
  audience: string;
  /** A JWKS endpoint (Entra ID) or, on the local host, its own public key. */
  key: { jwksUri: string } | { publicKey: KeyObject };
  /** Which claim names the tenant: Entra ID puts it in `tid`. */
  tenantClaim: string;
}

export type VerifyToken = (token: string) => Promise<Result<Principal>>;

const CACHE_ENTRIES = 10_000;
const CACHE_SECONDS = 300;

/**
 * Verifies bearer JWTs with jose: signature (JWKS or a local key), issuer,
 * audience, expiry and not-before. The tenant comes from the token only.
 *
 * A token that verified is remembered until its expiry (at most five
 * minutes): a signature check costs more than the rest of a small request,
 * and a JWT cannot be revoked before it expires anyway.
 */
export function jwtVerifier(settings: JwtSettings, nowMs: () => number = Date.now): VerifyToken {
  const key: KeyObject | JWTVerifyGetKey =
    "jwksUri" in settings.key ? createRemoteJWKSet(new URL(settings.key.jwksUri)) : settings.key.publicKey;
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
    try {
      const { payload } = await jwtVerify(token, key as KeyObject, {
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: 30,
        requiredClaims: ["exp"],
        currentDate: new Date(nowMs()),
      });
      const tenantId = payload[settings.tenantClaim];
      if (typeof tenantId !== "string" || tenantId.length === 0) {
        return fail("unauthorized", `the token has no "${settings.tenantClaim}" (tenant) claim`);
      }
      const roles = Array.isArray(payload.roles)
        ? payload.roles.filter((role) => typeof role === "string")
        : [];
      const untilMs = Math.min((payload.exp ?? 0) * 1000, nowMs() + CACHE_SECONDS * 1000);
      return ok({ principal: { tenantId, subject: payload.sub ?? "", roles }, untilMs });
    } catch (error) {
      const reason = (error as { code?: string }).code ?? "ERR_JWT_INVALID";
      return fail("unauthorized", `the bearer token was rejected (${reason})`);
    }
  }
}
