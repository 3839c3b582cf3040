import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpRequest, type HttpResponseInit, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SqliteStore } from "../src/adapters/sqlite/store.js";
import { adminToken } from "./dev-token.js";
import { startTestHost, type TestHost } from "./host.js";
import { ROOT } from "./process.js";

/**
 * The Functions host cannot run here (Core Tools download binaries), so this
 * test records what `src/functions/` registers, with the library's real
 * `app` swapped for a recorder, and invokes the handlers as the host would:
 * with the library's own `HttpRequest` and `InvocationContext`.
 */
interface Registration {
  kind: "http" | "timer" | "serviceBusQueue" | "cosmosDB";
  name: string;
  options: {
    methods?: string[];
    route?: string;
    authLevel?: string;
    schedule?: string;
    handler: (trigger: unknown, context: InvocationContext) => Promise<unknown>;
  };
}

const registrations = vi.hoisted(() => [] as Registration[]);
const terminateHooks = vi.hoisted(() => [] as (() => Promise<void>)[]);

vi.mock("@azure/functions", async (importOriginal) =>
  (await import("./functions-recorder.js")).recordingFunctions(
    await importOriginal(),
    registrations,
    (handler: () => Promise<void>) => terminateHooks.push(handler),
  ),
);

const dataDir = mkdtempSync(join(tmpdir(), "conveyor-functions-"));
let local: TestHost;

beforeAll(async () => {
  process.env.CONVEYOR_DATA_DIR = dataDir;
  process.env.CONVEYOR_LOG_LEVEL = "warn";
  // The Functions app always has its push jobs' namespace; the client connects only to send.
  process.env.ServiceBusConnection__fullyQualifiedNamespace = "conveyor-test.servicebus.windows.net";
  await import("../src/functions/index.js");
  local = await startTestHost();
});
afterAll(async () => {
  await local.close();
});

const http = () => registrations.filter((registration) => registration.kind === "http");
/** The path a host route template serves (no route prefix: host.json). */
const pathOf = (route = "") => `/${route.replace(/^\//, "")}`;

async function invoke(
  name: string,
  method: string,
  path: string,
  init: { params?: Record<string, string>; body?: unknown; token?: string } = {},
): Promise<HttpResponseInit & { json: unknown }> {
  const registration = http().find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`no function ${name}`);
  const request = new HttpRequest({
    method,
    url: `http://localhost:7071${path}`,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    params: init.params ?? {},
    ...(init.body !== undefined ? { body: { string: JSON.stringify(init.body) } } : {}),
  });
  const context = new InvocationContext({ functionName: name, invocationId: `test-${name}` });
  const response = (await registration.options.handler(request, context)) as HttpResponseInit;
  return { ...response, json: typeof response.body === "string" ? JSON.parse(response.body) : undefined };
}

describe("Azure Functions registrations", () => {
  it("register exactly the routes the local host serves, anonymously at the Functions level", () => {
    const functionsTable = http()
      .map(({ options }) => `${options.methods?.join(",")} ${pathOf(options.route)}`)
      .sort();
    const localTable = local.routeTable.map(({ method, path }) => `${method} ${path}`).sort();
    expect(functionsTable).toEqual(localTable);
    expect(new Set(http().map((registration) => registration.name)).size).toBe(http().length);
    expect(http().every(({ options }) => options.authLevel === "anonymous")).toBe(true);
  });

  it("routes every registered Functions route on the local host too", async () => {
    const client = local.client();
    for (const { options } of http()) {
      // A catch-all names a file that exists (the console's index); other parameters get samples.
      const path = pathOf(options.route)
        .replace(/\{\*\w+\}/g, "index.html")
        .replace(/\{(\w+)\}/g, "sample-$1");
      const response = await client.raw(options.methods?.[0] ?? "GET", path);
      expect([path, (response.body as { code?: string } | undefined)?.code]).not.toEqual([path, "not_found"]);
      expect(response.status).not.toBe(405);
    }
  });

  it("serve a whole message round trip through HttpRequest and InvocationContext", async () => {
    const token = await adminToken(dataDir, "functions-tenant", "tester");
    const created = await invoke("createQueue", "POST", "/v1/queues", { body: { name: "fq" }, token });
    expect(created.status).toBe(201);
    expect((created.headers as Record<string, string>)["x-request-id"]).toBeTruthy();

    const params = { queue: "fq" };
    const sent = await invoke("enqueue", "POST", "/v1/queues/fq/messages", {
      params,
      body: { body: { hello: "functions" } },
      token,
    });
    expect(sent.status).toBe(201);

    const received = await invoke("receive", "GET", "/v1/queues/fq/messages?max=5", { params, token });
    const [message] = (
      received.json as { messages: { messageId: string; leaseToken: string; body: unknown }[] }
    ).messages;
    expect(message?.body).toEqual({ hello: "functions" });

    const acked = await invoke("ack", "POST", `/v1/queues/fq/messages/${message?.messageId}/ack`, {
      params: { queue: "fq", messageId: message?.messageId ?? "" },
      body: { leaseToken: message?.leaseToken },
      token,
    });
    expect(acked.status).toBe(204);

    const unauthenticated = await invoke("queueStats", "GET", "/v1/queues/fq/stats", { params });
    expect(unauthenticated.status).toBe(401);
    const stats = await invoke("queueStats", "GET", "/v1/queues/fq/stats", { params, token });
    expect(stats.json).toMatchObject({ enqueuedTotal: 1, ackedTotal: 1 });
  });

  it("serve the console at / with a route template the host keeps, instead of its home page", async () => {
    const consoleIndex = http().find((registration) => registration.name === "consoleIndex");
    // An empty or blank template becomes the function's name (ScriptHost.ValidateHttpFunction).
    expect(consoleIndex?.options.route).toBe("/");
    const page = await invoke("consoleIndex", "GET", "/");
    expect(page.status).toBe(200);
    expect((page.headers as Record<string, string>)["content-type"]).toMatch(/^text\/html/);
    const host = JSON.parse(readFileSync(join(ROOT, "host.json"), "utf8")) as {
      extensions: { http: { routePrefix: string } };
    };
    expect(host.extensions.http.routePrefix).toBe("");
  });

  it("register the housekeeping timer, which runs against the same store", async () => {
    const timer = registrations.find((registration) => registration.name === "housekeeping");
    expect(timer?.options.schedule).toBe("0 */5 * * * *");
    const context = new InvocationContext({ functionName: "housekeeping" });
    const log = vi.spyOn(context, "log").mockImplementation(() => undefined);
    await timer?.options.handler({ isPastDue: false }, context);
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/^removed \d+ expired tombstones$/));
  });

  it("close the store when the host shuts the worker down (appTerminate), so its file is free", async () => {
    // The worker's Conveyor holds the data directory's exclusive lock once it has served.
    await registrations
      .find((registration) => registration.name === "housekeeping")
      ?.options.handler(
        { isPastDue: false },
        new InvocationContext({ functionName: "housekeeping", logHandler: () => undefined }),
      );
    expect(() => new SqliteStore({ dataDir })).toThrow(/in use by another Conveyor process/);
    expect(terminateHooks).toHaveLength(1);
    await terminateHooks[0]?.();
    const reopened = new SqliteStore({ dataDir });
    await reopened.close();
  });
});
