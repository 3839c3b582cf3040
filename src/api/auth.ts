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

/**
 * Verifies bearer JWTs with jose: signature (JWKS or a local key), issuer,
 * audience, expiry and not-before. The tenant comes from the token only.
 */
export function jwtVerifier(settings: JwtSettings): VerifyToken {
  const key: KeyObject | JWTVerifyGetKey =
    "jwksUri" in settings.key ? createRemoteJWKSet(new URL(settings.key.jwksUri)) : settings.key.publicKey;
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, key as KeyObject, {
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: 30,
      });
      const tenantId = payload[settings.tenantClaim];
      if (typeof tenantId !== "string" || tenantId.length === 0) {
        return fail("unauthorized", `the token has no "${settings.tenantClaim}" (tenant) claim`);
      }
      const roles = Array.isArray(payload.roles)
        ? payload.roles.filter((role) => typeof role === "string")
        : [];
      return ok({ tenantId, subject: payload.sub ?? "", roles });
    } catch (error) {
      const reason = (error as { code?: string }).code ?? "ERR_JWT_INVALID";
      return fail("unauthorized", `the bearer token was rejected (${reason})`);
    }
  };
}
