import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { ConveyorClient } from "../../src/client/index.js";
import type { TestHost } from "../host.js";

export interface SeenRequest {
  method: string;
  path: string;
  body: unknown;
}

/** A client whose every request is recorded, so tests can count how its calls were coalesced. */
export async function recordingClient(
  host: TestHost,
  tenant: string,
  options: { baseUrl?: string; timeoutMs?: number } = {},
): Promise<{ client: ConveyorClient; requests: SeenRequest[] }> {
  const requests: SeenRequest[] = [];
  const token = await host.token(tenant, { roles: ["admin"] });
  const client = new ConveyorClient({
    baseUrl: options.baseUrl ?? host.url,
    token,
    timeoutMs: options.timeoutMs,
    fetch: (input, init) => {
      const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
      requests.push({ method: init?.method ?? "GET", path: new URL(String(input)).pathname, body });
      return fetch(input, init);
    },
  });
  return { client, requests };
}

export type ProxyAction =
  | "forward"
  /** Forward the request, then close the connection instead of relaying the answer. */
  | "lose-answer"
  | "hang"
  /** Answer a head and half a body, then close the connection. */
  | "cut-answer"
  | { status: number; headers: Record<string, string>; body: string };

export interface Proxy {
  url: string;
  /** Requests seen, in order. */
  seen: { method: string; url: string; action: ProxyAction }[];
  close(): Promise<void>;
}

/** A real HTTP proxy on loopback in front of `upstream` that can refuse, lose answers or hang, per request. */
export async function startProxy(
  upstream: string,
  decide: (request: IncomingMessage, index: number) => ProxyAction,
): Promise<Proxy> {
  const seen: Proxy["seen"] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const action = decide(request, seen.length);
    seen.push({ method: request.method ?? "GET", url: request.url ?? "/", action });
    if (action === "hang") return;
    if (action === "cut-answer") {
      response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      response.write('{"status":');
      setTimeout(() => request.socket.destroy(), 20);
      return;
    }
    if (typeof action === "object") {
      response.writeHead(action.status, action.headers).end(action.body);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ["authorization", "content-type", "idempotency-key"]) {
      const value = request.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const body = Buffer.concat(chunks);
    const answer = await fetch(`${upstream}${request.url}`, {
      method: request.method,
      headers,
      body: body.length > 0 ? body : undefined,
    });
    const text = await answer.text();
    if (action === "lose-answer") {
      request.socket.destroy();
      return;
    }
    response
      .writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" })
      .end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(10);
  }
}

/** A loopback port nothing listens on (free when asked: a server may take it next). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
