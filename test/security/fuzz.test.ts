import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { rawRequest, requestBytes } from "./raw-http.js";

/**
 * Property-based fuzzing of every route in the API document: arbitrary path
 * parameters (escapes and malformed ones among them), queries and JSON
 * bodies, with and without credentials. Never a 5xx, every refusal a
 * problem document with a code, the host alive after it, and the messages
 * another tenant had sent before it all still there.
 */

interface Operation {
  method: string;
  path: string;
  query: string[];
}

const SENTINELS = 20;

let host: TestHost;
let sentinel: ConveyorClient;
let fuzzerToken: string;
let operations: Operation[];

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_RATE_LIMIT: "off" });
  sentinel = await host.admin("tenant-sentinel");
  await sentinel.createQueue({ name: "kept" });
  for (let index = 0; index < SENTINELS; index++) {
    const sent = await sentinel.raw("POST", "/v1/queues/kept/messages", { body: { body: { index } } });
    expect(sent.status).toBe(201);
  }
  fuzzerToken = await host.token("tenant-fuzzer", { roles: ["admin"] });
  const fuzzer = host.client(fuzzerToken);
  await fuzzer.createQueue({ name: "target" });
  await fuzzer.raw("POST", "/v1/queues/target/messages", { body: { body: "x" } });
  const document = (await fuzzer.raw("GET", "/v1/openapi.json")).body as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
  };
  operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      query: (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
    })),
  );
});
afterAll(() => host.close());

/** Path segments as a client might send them: plain, percent-encoded, or raw and malformed. */
const segment = fc.oneof(
  fc.constantFrom(
    "target",
    "kept",
    "constructor",
    "__proto__",
    "%",
    "%25",
    "%zz",
    "%2e%2e",
    "..",
    "%00",
    "a%2Fb",
  ),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  fc.stringMatching(/^[A-Za-z0-9%._~-]{1,30}$/),
);

const queryValue = fc.oneof(
  fc.constantFrom("0", "-1", "1e9", "NaN", "", "true", "%", "999999999999999999999"),
  fc.string({ maxLength: 20 }),
);

/** JSON bodies: arbitrary values, and objects shaped like the API's with wrong and odd values. */
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record(
    {
      body: fc.jsonValue({ maxDepth: 3 }),
      name: fc.oneof(fc.string(), fc.constantFrom("constructor", "__proto__", "a".repeat(70))),
      messages: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
      attributes: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 }),
      leaseToken: fc.string(),
      grants: fc.dictionary(fc.string({ maxLength: 10 }), fc.array(fc.string(), { maxLength: 3 })),
      visibilityTimeoutSeconds: fc.oneof(fc.integer(), fc.double(), fc.string()),
      priority: fc.oneof(fc.integer(), fc.string()),
      push: fc.record({ url: fc.webUrl() }, { requiredKeys: [] }),
      all: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
);

const request = fc.record({
  operation: fc.integer({ min: 0, max: 1000 }),
  segments: fc.array(segment, { minLength: 3, maxLength: 3 }),
  query: fc.dictionary(fc.string({ maxLength: 12 }), queryValue, { maxKeys: 3 }),
  knownQuery: fc.array(queryValue, { minLength: 3, maxLength: 3 }),
  body: fc.option(body, { nil: undefined }),
  credential: fc.constantFrom("fuzzer", "none", "garbage"),
});

describe("fuzzing every route", () => {
  it("never answers 5xx, always a problem document, and loses nothing", async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const operation = operations[input.operation % operations.length] as Operation;
        let index = 0;
        const path = operation.path.replace(/\{\*?\w+\}/g, () => input.segments[index++ % 3] as string);
        const query = new URLSearchParams();
        operation.query.forEach((name, at) => {
          query.set(name, input.knownQuery[at % 3] as string);
        });
        for (const [name, value] of Object.entries(input.query)) query.set(name, value);
        if (operation.path.endsWith("/messages") && operation.method === "GET") query.set("wait", "0");
        const target = query.size > 0 ? `${path}?${query}` : path;
        const text = input.body === undefined ? "" : JSON.stringify(input.body);
        const headers: Record<string, string> = { Connection: "close" };
        if (input.credential === "fuzzer") headers.Authorization = `Bearer ${fuzzerToken}`;
        if (input.credential === "garbage") headers.Authorization = "Bearer not.a.token";
        if (text) {
          headers["Content-Type"] = "application/json";
          headers["Content-Length"] = String(Buffer.byteLength(text));
        }
        const answer = await rawRequest(host.url, requestBytes(operation.method, target, headers, text), {
          waitMs: 3000,
        }).catch((error: unknown) => {
          // Only the live-events stream may stay open past the wait, and only with credentials.
          if (operation.path.endsWith("/events") && input.credential === "fuzzer") return undefined;
          throw error;
        });
        sent++;
        if (!answer) return;
        expect([operation.method, target, answer.status < 500]).toEqual([operation.method, target, true]);
        if (answer.status >= 400) {
          expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect((JSON.parse(answer.body) as { code: unknown }).code).toMatch(/^[a-z_]+$/);
        }
      }),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 100_000) },
    );
    expect(sent).toBe(400);

    expect((await host.client().raw("GET", "/v1/health")).status).toBe(200);
    const stats = (await sentinel.raw("GET", "/v1/queues/kept/stats")).body as { available: number };
    expect(stats.available).toBe(SENTINELS);
    const received = (await sentinel.raw("GET", `/v1/queues/kept/messages?max=${SENTINELS}`)).body as {
      messages: { body: { index: number } }[];
    };
    expect(received.messages.map((message) => message.body.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: SENTINELS }, (_, index) => index),
    );
  }, 240_000);
});
