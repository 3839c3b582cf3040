import { generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { jwtVerifier } from "../src/api/auth.js";

async function setup() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  let now = Date.now();
  const verify = jwtVerifier(
    { issuer: "iss", audience: "aud", tenantClaim: "tid", key: { publicKey: publicKey as never } },
    () => now,
  );
  const sign = (expiresInSeconds: number) =>
    new SignJWT({ tid: "t1", roles: ["admin"] })
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("iss")
      .setAudience("aud")
      .setSubject("s")
      .setExpirationTime(Math.floor(now / 1000) + expiresInSeconds)
      .sign(privateKey);
  return { verify, sign, advance: (ms: number) => (now += ms) };
}

describe("JWT verification cache", () => {
  it("accepts a valid token and then answers from the cache", async () => {
    const { verify, sign } = await setup();
    const token = await sign(60);
    expect(await verify(token)).toEqual({
      ok: true,
      value: { tenantId: "t1", subject: "s", roles: ["admin"] },
    });
    expect((await verify(token)).ok).toBe(true);
  });

  it("never serves a cached token past its expiry", async () => {
    const { verify, sign, advance } = await setup();
    const token = await sign(60);
    expect((await verify(token)).ok).toBe(true);
    advance(61_000 + 30_000); // past exp and past jose's 30 s clock tolerance
    const again = await verify(token);
    expect(again.ok || again.error.code).toBe("unauthorized");
  });

  it("does not cache a rejected token", async () => {
    const { verify, sign } = await setup();
    const token = await sign(60);
    const tampered = `${token.slice(0, -4)}AAAA`;
    expect((await verify(tampered)).ok).toBe(false);
    expect((await verify(tampered)).ok).toBe(false);
  });
});

describe("JWT requirements", () => {
  it("rejects a token without an expiry", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const verify = jwtVerifier({
      issuer: "iss",
      audience: "aud",
      tenantClaim: "tid",
      key: { publicKey: publicKey as never },
    });
    const eternal = await new SignJWT({ tid: "t1" })
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("iss")
      .setAudience("aud")
      .sign(privateKey);
    const result = await verify(eternal);
    expect(result.ok || result.error.detail).toMatch(/ERR_JWT_CLAIM_VALIDATION_FAILED/);
  });
});
