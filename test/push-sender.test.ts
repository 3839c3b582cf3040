import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendWebhook } from "../src/adapters/http/webhook-sender.js";

let server: Server | undefined;
afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

async function receiver(
  answer: (request: IncomingMessage, body: string) => [number, Record<string, string>?] | "hang",
) {
  const seen: { headers: IncomingMessage["headers"]; body: string }[] = [];
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      seen.push({ headers: request.headers, body });
      const result = answer(request, body);
      if (result === "hang") return;
      response.writeHead(result[0], result[1]);
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { seen, port };
}

const post = (url: string, allowPrivate: boolean, timeoutMs = 2000) =>
  sendWebhook({
    url,
    body: '{"a":1}',
    headers: { "content-type": "application/json" },
    timeoutMs,
    allowPrivate,
  });

describe("webhook sender, over real sockets", () => {
  it("delivers the body and reports the status", async () => {
    const { seen, port } = await receiver(() => [204]);
    expect(await post(`http://127.0.0.1:${port}/hook`, true)).toEqual({ kind: "response", status: 204 });
    expect(seen[0]?.body).toBe('{"a":1}');
  });

  it("refuses loopback targets, by literal and by name, without connecting", async () => {
    const { seen, port } = await receiver(() => [200]);
    const literal = await post(`http://127.0.0.1:${port}/`, false);
    const byName = await post(`http://localhost:${port}/`, false);
    expect(literal).toMatchObject({ kind: "failed", error: expect.stringMatching(/refused: .*loopback/) });
    expect(byName).toMatchObject({ kind: "failed", error: expect.stringMatching(/refused: .*loopback/) });
    expect(seen).toEqual([]);
  });

  it("never follows a redirect", async () => {
    const { seen, port } = await receiver((request) =>
      request.url === "/start" ? [302, { location: "/elsewhere" }] : [200],
    );
    expect(await post(`http://127.0.0.1:${port}/start`, true)).toEqual({ kind: "response", status: 302 });
    expect(seen).toHaveLength(1);
  });

  it("gives up at the deadline", async () => {
    const { port } = await receiver(() => "hang");
    const started = Date.now();
    const outcome = await post(`http://127.0.0.1:${port}/`, true, 300);
    expect(outcome).toMatchObject({ kind: "failed", error: expect.stringMatching(/timed out/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("reports a refused connection", async () => {
    const { port } = await receiver(() => [200]);
    await new Promise<void>((done) => server?.close(() => done()));
    server = undefined;
    expect(await post(`http://127.0.0.1:${port}/`, true)).toMatchObject({
      kind: "failed",
      error: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
