import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { rawRequest, requestBytes } from "./raw-http.js";

/**
 * One regression test for each finding of the hostile-client review
 * (issue 14), in its order. Each failed before its fix.
 */

let host: TestHost;
let admin: ConveyorClient;
let adminToken: string;

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_MAX_CONNECTIONS_PER_CLIENT: "64" });
  ({ token: adminToken, client: admin } = await host.adminSession("tenant-hostile"));
  await admin.createQueue({ name: "alpha" });
});
afterAll(() => host.close());

const isProblem = (answer: { headers: Record<string, string>; body: string }) => {
  expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body) as { code?: string; status?: number };
  expect(problem.code).toMatch(/^[a-z_]+$/);
  return problem;
};

describe("1. names that are properties of every JavaScript object", () => {
  it("a queue named like Object.prototype's members works with scoped API keys", async () => {
    for (const name of ["constructor", "hasownproperty", "tostring", "valueof"]) {
      await admin.createQueue({ name });
    }
    const scoped = await admin.createKey({ name: "scoped", grants: { alpha: ["read"] } });
    const everything = await admin.createKey({ name: "all", grants: { "*": ["read", "send"] } });
    expect((await host.client(scoped.key).raw("GET", "/v1/queues")).status).toBe(200);
    for (const key of [scoped.key, everything.key]) {
      const stats = await host.client(key).raw("GET", "/v1/queues/constructor/stats");
      expect(stats.status).toBe(key === scoped.key ? 403 : 200);
    }
    const sent = await host.client(everything.key).raw("POST", "/v1/queues/constructor/messages", {
      body: { body: "hello" },
    });
    expect(sent.status).toBe(201);
  });

  it("refuses grants for names that are not queue names, such as __proto__", async () => {
    const refused = await admin.raw("POST", "/v1/keys", {
      rawBody: '{"name":"sneaky","grants":{"__proto__":["manage"]}}',
      headers: { "content-type": "application/json" },
    });
    expect(refused.status).toBe(400);
  });
});

describe("2. credentials are checked before a body is read", () => {
  it("answers 401 at once to uploads without credentials, without waiting for their bodies", async () => {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 48 }, () =>
        rawRequest(
          host.url,
          requestBytes("POST", "/v1/queues/alpha/messages", {
            "Content-Type": "application/json",
            "Content-Length": "4000000",
          }),
          { waitMs: 3000 },
        ),
      ),
    );
    for (const answer of answers) expect(isProblem(answer).code).toBe("unauthorized");
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("caps the connections one client address may hold, with a problem document when full", async () => {
    const capped = await startTestHost({ CONVEYOR_MAX_CONNECTIONS_PER_CLIENT: "4" });
    try {
      const { connect } = await import("node:net");
      const { port } = new URL(capped.url);
      const held = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            new Promise<import("node:net").Socket>((resolve) => {
              const socket = connect(Number(port), "127.0.0.1", () => resolve(socket));
            }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await rawRequest(capped.url, requestBytes("GET", "/v1/health"));
      expect(refused.status).toBe(503);
      expect(refused.headers["retry-after"]).toBeDefined();
      expect(isProblem(refused).code).toBe("too_many_connections");
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await rawRequest(capped.url, requestBytes("GET", "/v1/health"))).status).toBe(200);
    } finally {
      await capped.close();
    }
  });
});

describe("3 and 4. path parameters are decoded once", () => {
  it("a malformed escape is a 4xx problem, never a 500", async () => {
    for (const [target, auth] of [
      ["/v1/queues/%25/stats", false],
      ["/v1/queues/%25/stats", true],
      ["/v1/queues/%25zz/stats", true],
      ["/v1/queues/%zz/stats", true],
      ["/console/%25", false],
      ["/console/%zz", false],
    ] as const) {
      const answer = await rawRequest(
        host.url,
        requestBytes("GET", target, auth ? { Authorization: `Bearer ${adminToken}` } : {}),
      );
      expect([target, answer.status < 500]).toEqual([target, true]);
      isProblem(answer);
    }
    const deleted = await rawRequest(
      host.url,
      requestBytes("DELETE", "/v1/keys/%25", { Authorization: `Bearer ${adminToken}` }),
    );
    expect(deleted.status).toBe(404);
  });

  it("%2561lpha names the queue `%61lpha`, not `alpha`", async () => {
    const answer = await admin.raw("GET", "/v1/queues/%2561lpha/stats");
    expect(answer.status).toBe(404);
    expect((answer.body as { code: string }).code).toBe("queue_not_found");
  });
});

describe("5. deeply nested JSON", () => {
  const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

  it("is refused with 400 and a code, single and in a batch", async () => {
    const single = await admin.raw("POST", "/v1/queues/alpha/messages", {
      rawBody: `{"body":${nested(10_000)}}`,
      headers: { "content-type": "application/json" },
    });
    expect(single.status).toBe(400);
    expect((single.body as { code: string }).code).toBe("validation_failed");
    const batch = await admin.raw("POST", "/v1/queues/alpha/messages", {
      rawBody: `{"messages":[{"body":1},{"body":${nested(10_000)}}]}`,
      headers: { "content-type": "application/json" },
    });
    expect(batch.status).toBe(400);
    const settings = await admin.raw("PATCH", "/v1/queues/alpha", {
      rawBody: `{"visibilityTimeoutSeconds":${nested(10_000)}}`,
      headers: { "content-type": "application/json" },
    });
    expect(settings.status).toBe(400);
  });

  it("keeps bodies nested as deep as the limit allows", async () => {
    const sent = await admin.raw("POST", "/v1/queues/alpha/messages", {
      rawBody: `{"body":${nested(60)}}`,
      headers: { "content-type": "application/json" },
    });
    expect(sent.status).toBe(201);
  });
});

describe("6. an attribute named __proto__", () => {
  it("is refused, not silently dropped", async () => {
    const answer = await admin.raw("POST", "/v1/queues/alpha/messages", {
      rawBody: '{"body":"x","attributes":{"__proto__":"polluted","kind":"a"}}',
      headers: { "content-type": "application/json" },
    });
    expect(answer.status).toBe(400);
    expect((answer.body as { errors: { path: string }[] }).errors[0]?.path).toBe("attributes.__proto__");
  });
});

describe("7. push URLs that embed a private IPv4 address in IPv6", () => {
  it("refuses IPv4-compatible IPv6 literals on create and update", async () => {
    for (const url of ["https://[::a9fe:a9fe]/hook", "https://[::127.0.0.1]/hook", "https://[::10.0.0.1]/"]) {
      const created = await admin.raw("POST", "/v1/queues", { body: { name: "pushy", push: { url } } });
      expect([url, created.status]).toEqual([url, 400]);
      const updated = await admin.raw("PATCH", "/v1/queues/alpha", { body: { push: { url } } });
      expect([url, updated.status]).toEqual([url, 400]);
    }
  });
});

describe("8 and 9. errors from the HTTP parser", () => {
  it("answer with a problem document, a code and a request id", async () => {
    const cases: [string, string | Buffer, number][] = [
      [
        "both Content-Length and Transfer-Encoding",
        requestBytes(
          "POST",
          "/v1/queues/alpha/messages",
          { "Content-Length": "5", "Transfer-Encoding": "chunked" },
          "0\r\n\r\n",
        ),
        400,
      ],
      ["a 20 KB header", requestBytes("GET", "/v1/health", { "X-Big": "a".repeat(20_000) }), 431],
      ["a 64 KB URL", requestBytes("GET", `/v1/health?${"a".repeat(64 * 1024)}`), 431],
      [
        "a bad chunk size",
        requestBytes(
          "POST",
          "/v1/queues/alpha/messages",
          { "Transfer-Encoding": "chunked" },
          "zz\r\nabc\r\n",
        ),
        400,
      ],
    ];
    for (const [name, bytes, status] of cases) {
      const answer = await rawRequest(host.url, bytes);
      expect([name, answer.status]).toEqual([name, status]);
      isProblem(answer);
      expect([name, answer.headers["x-request-id"]]).toEqual([name, expect.any(String)]);
    }
  });

  it("an early 413 carries a request id", async () => {
    const answer = await rawRequest(
      host.url,
      requestBytes("POST", "/v1/queues/alpha/messages", {
        Authorization: `Bearer ${adminToken}`,
        "Content-Type": "application/json",
        "Content-Length": String(5 * 1024 * 1024),
      }),
    );
    expect(answer.status).toBe(413);
    expect(answer.headers["x-request-id"]).toBeDefined();
    isProblem(answer);
  });
});

describe("10. rate-limit headers", () => {
  it("come on refusals of a rate-limited route too", async () => {
    const limited = await startTestHost({ CONVEYOR_RATE_LIMIT_RPS: "100", CONVEYOR_RATE_LIMIT_BURST: "50" });
    try {
      const tenantAdmin = await limited.admin();
      await tenantAdmin.createQueue({ name: "q" });
      const reader = limited.client(await limited.token("tenant-other-limited", { roles: [] }));
      const answers = [
        await tenantAdmin.raw("POST", "/v1/queues/q/messages", { body: { nobody: 1 } }),
        await tenantAdmin.raw("GET", "/v1/queues/missing/stats"),
        await reader.raw("POST", "/v1/queues", { body: { name: "nope" } }),
      ];
      expect(answers.map((answer) => answer.status)).toEqual([400, 404, 403]);
      for (const answer of answers) {
        expect(answer.headers.get("ratelimit-limit")).toBe("50");
        expect(answer.headers.get("ratelimit-remaining")).toMatch(/^\d+$/);
      }
    } finally {
      await limited.close();
    }
  });
});

describe("11. an early 413 to a client still uploading", () => {
  it("is read by the client before the connection closes, not lost to a reset", async () => {
    const headers = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
    for (const [framing, extra] of [
      ["declared too large", { "Content-Length": String(6 * 1024 * 1024) }],
      ["found too large while streaming", { "Transfer-Encoding": "chunked" }],
    ] as const) {
      const answer = await rawRequest(
        host.url,
        requestBytes("POST", "/v1/queues/alpha/messages", { ...headers, ...extra }),
        {
          uploadBytes: 6 * 1024 * 1024,
          chunked: framing !== "declared too large",
          watchClose: true,
          waitMs: 2000,
        },
      );
      expect([framing, answer.status]).toEqual([framing, 413]);
      expect([framing, answer.ended]).not.toEqual([framing, "reset"]);
    }
  });
});
