import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jwtVerifier, type VerifyToken } from "../src/api/auth.js";
import { loadConfig } from "../src/config.js";

/**
 * Tokens shaped like the ones Entra ID issues, signed by keys a local JWKS
 * server publishes the way login.microsoftonline.com does (v2.0 and v1.0 key
 * sets at separate endpoints), checked by the verifier built from the
 * settings infra/app/function.bicep writes. Claim shapes from
 * https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference:
 * a v2.0 token has `iss` `https://login.microsoftonline.com/{tid}/v2.0`, `aud`
 * the API's client id, `ver` "2.0" and `azp`; a v1.0 token has `iss`
 * `https://sts.windows.net/{tid}/`, `aud` the App ID URI (or client id) the
 * client asked for, `ver` "1.0" and `appid`.
 */
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
const API = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const V2 = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`;
const V1 = (tid: string) => `https://sts.windows.net/${tid}/`;

type Signer = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
const keys: Record<"v1" | "v2" | "stranger", { kid: string; privateKey: Signer }> = {} as never;
let server: Server;
let jwks: string;

beforeAll(async () => {
  const published: Record<string, unknown[]> = { v1: [], v2: [] };
  for (const name of ["v1", "v2", "stranger"] as const) {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    keys[name] = { kid: `kid-${name}`, privateKey };
    if (name !== "stranger")
      published[name]?.push({
        ...(await exportJWK(publicKey)),
        kid: `kid-${name}`,
        use: "sig",
        alg: "RS256",
      });
  }
  server = createServer((request, response) => {
    const set = request.url?.endsWith("/discovery/v2.0/keys")
      ? published.v2
      : request.url?.endsWith("/discovery/keys")
        ? published.v1
        : undefined;
    response.writeHead(set ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(set ? { keys: set } : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwks = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${TENANT}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The verifier the Functions app builds from the settings the templates give it. */
function verifierFor(extra: Record<string, string> = {}): VerifyToken {
  const { jwt } = loadConfig({
    CONVEYOR_JWT_ISSUER: `${V2(TENANT)},${V1(TENANT)}`,
    CONVEYOR_JWT_AUDIENCE: `${API},api://${API}`,
    CONVEYOR_JWT_JWKS_URI: `${jwks}/discovery/v2.0/keys,${jwks}/discovery/keys`,
    ...extra,
  });
  return jwtVerifier({
    issuer: jwt.issuers,
    audience: jwt.audiences,
    tenantClaim: jwt.tenantClaim,
    tenants: jwt.tenants,
    key: { jwksUri: jwt.jwksUri ?? [] },
  });
}

async function mint(
  claims: JWTPayload,
  signer: keyof typeof keys = "v2",
  ttlSeconds = 3600,
): Promise<string> {
  const { kid, privateKey } = keys[signer];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(privateKey);
}

const v2User = (tid = TENANT, extra: JWTPayload = {}): JWTPayload => ({
  iss: V2(tid),
  aud: API,
  tid,
  sub: "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
  oid: "690222be-ff1a-4d56-abd1-7e4f7d38e474",
  azp: CLIENT,
  azpacr: "0",
  scp: "access_as_user",
  roles: ["admin"],
  ver: "2.0",
  ...extra,
});
const v1User = (tid = TENANT, extra: JWTPayload = {}): JWTPayload => ({
  iss: V1(tid),
  aud: `api://${API}`,
  tid,
  sub: "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
  appid: CLIENT,
  appidacr: "0",
  roles: ["admin"],
  ver: "1.0",
  ...extra,
});

describe("Entra ID access tokens", () => {
  it("accepts a v2.0 user token whose audience is the API's client id, with its app roles", async () => {
    const result = await verifierFor()(await mint(v2User()));
    expect(result).toEqual({
      ok: true,
      value: { tenantId: TENANT, subject: v2User().sub, roles: ["admin"] },
    });
  });

  it("accepts a v1.0 token (sts.windows.net issuer, App ID URI audience) signed with the v1.0 keys", async () => {
    const result = await verifierFor()(await mint(v1User(), "v1"));
    expect(result).toMatchObject({ ok: true, value: { tenantId: TENANT, roles: ["admin"] } });
  });

  it("accepts an app-only v2.0 token (client credentials) carrying the admin role", async () => {
    const result = await verifierFor()(
      await mint(
        v2User(TENANT, { scp: undefined, sub: "c0ffee00-0000-4000-8000-000000000001", azpacr: "1" }),
      ),
    );
    expect(result).toMatchObject({ ok: true, value: { roles: ["admin"] } });
  });

  it.each([
    ["another API's audience", v2User(TENANT, { aud: "11111111-2222-4333-8444-555555555555" })],
    ["the issuer of another tenant than its tid", v2User(TENANT, { iss: V2(OTHER_TENANT) })],
    ["a v1.0 version with a v2.0 issuer", v2User(TENANT, { ver: "1.0" })],
    ["a v2.0 version with a v1.0 issuer", v1User(TENANT, { ver: "2.0", aud: API })],
    ["an issuer Entra does not use", v2User(TENANT, { iss: `https://login.microsoftonline.com/${TENANT}/` })],
    ["no tid", v2User(TENANT, { tid: undefined })],
  ])("rejects a token with %s", async (_case, claims) => {
    const result = await verifierFor()(await mint(claims));
    expect(result).toMatchObject({ ok: false, error: { code: "unauthorized" } });
  });

  it("rejects a token signed by a key neither key set publishes, and an expired one", async () => {
    const verify = verifierFor();
    expect(await verify(await mint(v2User(), "stranger"))).toMatchObject({ ok: false });
    expect(await verify(await mint(v2User(), "v2", -120))).toMatchObject({ ok: false });
  });

  it("rejects another tenant's token under the single-tenant settings the templates write", async () => {
    expect(await verifierFor()(await mint(v2User(OTHER_TENANT)))).toMatchObject({ ok: false });
  });

  describe("with a multi-tenant app registration", () => {
    const multiTenant = {
      CONVEYOR_JWT_ISSUER:
        "https://login.microsoftonline.com/{tenantid}/v2.0,https://sts.windows.net/{tenantid}/",
    };

    it("accepts each tenant's own issuer, as its own Conveyor tenant", async () => {
      const verify = verifierFor(multiTenant);
      expect(await verify(await mint(v2User(OTHER_TENANT)))).toMatchObject({
        ok: true,
        value: { tenantId: OTHER_TENANT },
      });
      expect(await verify(await mint(v1User(OTHER_TENANT), "v1"))).toMatchObject({ ok: true });
    });

    it("never accepts one tenant's issuer with another tenant's tid, nor a tid that is not a GUID", async () => {
      const verify = verifierFor(multiTenant);
      expect(await verify(await mint(v2User(OTHER_TENANT, { iss: V2(TENANT) })))).toMatchObject({
        ok: false,
      });
      expect(await verify(await mint(v2User("contoso", { iss: V2("contoso") })))).toMatchObject({
        ok: false,
      });
    });

    it("admits only the listed tenants when CONVEYOR_JWT_TENANTS is set", async () => {
      const verify = verifierFor({ ...multiTenant, CONVEYOR_JWT_TENANTS: TENANT });
      expect(await verify(await mint(v2User(TENANT)))).toMatchObject({ ok: true });
      expect(await verify(await mint(v2User(OTHER_TENANT)))).toMatchObject({ ok: false });
    });
  });
});
