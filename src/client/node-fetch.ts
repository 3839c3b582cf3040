/**
 * A `fetch` over node:http and node:https with keep-alive agents, for the
 * client in Node.js. Node's own fetch runs undici behind the WHATWG stream
 * and WebIDL layers and spends several times the CPU of node:http on each
 * request (docs/performance.md, "The typed client"), which a client making
 * one request at a time pays in latency. Only what the client uses is
 * supported: a string URL, headers as a record, a string body, a signal.
 * Bodies are read whole, except event streams, which stream.
 *
 * The modules come from `process.getBuiltinModule` (Node.js 20.16 and
 * later: https://nodejs.org/en/blog/release/v20.16.0/), so nothing here is
 * imported where there is no Node.js: a browser build of the client gets
 * undefined and keeps the global fetch. The agent retires an idle socket
 * before the server's `Keep-Alive: timeout=` hint runs out (nodejs/node
 * lib/_http_agent.js, `keepSocketAlive`), so a reused socket is rarely one
 * the server is closing; when it is, the request fails as no answer, which
 * the producer and the consumer's settles retry.
 */

interface IncomingResponse {
  statusCode?: number;
  rawHeaders: string[];
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "end" | "close", listener: () => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  destroy(): void;
}

interface OutgoingRequest {
  on(event: "error", listener: (error: Error) => void): void;
  destroy(error?: unknown): void;
  end(body?: Uint8Array): void;
}

interface HttpModule {
  Agent: new (options: { keepAlive: boolean }) => unknown;
  request(
    url: URL,
    options: { method: string; headers: Record<string, string>; agent: unknown },
    callback: (response: IncomingResponse) => void,
  ): OutgoingRequest;
}

type Loader = (id: string) => unknown;

const encoder = new TextEncoder();

export function nodeFetch(): typeof fetch | undefined {
  const load = (globalThis as { process?: { getBuiltinModule?: Loader } }).process?.getBuiltinModule;
  if (!load) return undefined;
  const modules: Record<string, { module: HttpModule; agent: unknown }> = {};
  for (const protocol of ["http", "https"]) {
    const module = load(`node:${protocol}`) as HttpModule;
    modules[`${protocol}:`] = { module, agent: new module.Agent({ keepAlive: true }) };
  }
  return ((input: string, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      const target = modules[url.protocol];
      const signal = init.signal;
      if (!target) return reject(new TypeError(`fetch failed: ${url.protocol} is not http or https`));
      if (signal?.aborted) return reject(signal.reason);
      const body = typeof init.body === "string" ? encoder.encode(init.body) : undefined;
      const headers = { ...(init.headers as Record<string, string> | undefined) };
      if (body) headers["content-length"] = String(body.byteLength);
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", abort);
        reject(error);
      };
      const request = target.module.request(
        url,
        { method: init.method ?? "GET", headers, agent: target.agent },
        (response) => {
          const status = response.statusCode ?? 0;
          const responseHeaders = new Headers();
          for (let i = 0; i + 1 < response.rawHeaders.length; i += 2)
            responseHeaders.append(response.rawHeaders[i] as string, response.rawHeaders[i + 1] as string);
          if (responseHeaders.get("content-type")?.startsWith("text/event-stream")) {
            settled = true;
            resolve(new Response(streamOf(response), { status, headers: responseHeaders }));
            return;
          }
          const chunks: Uint8Array[] = [];
          let ended = false;
          response.on("data", (chunk) => chunks.push(chunk));
          response.on("error", (error) => fail(new TypeError("terminated", { cause: error })));
          response.on("close", () => {
            if (!ended)
              fail(new TypeError("terminated", { cause: new Error("the connection closed mid-answer") }));
          });
          response.on("end", () => {
            ended = true;
            if (settled) return;
            settled = true;
            signal?.removeEventListener("abort", abort);
            const empty = status === 204 || status === 304 || init.method === "HEAD";
            // Node's Buffers are Uint8Arrays over an ArrayBufferLike, which the DOM typings do not list.
            const bytes = empty ? null : (concat(chunks) as Uint8Array<ArrayBuffer>);
            resolve(new Response(bytes, { status, headers: responseHeaders }));
          });
        },
      );
      const abort = () => {
        request.destroy(signal?.reason);
        fail(signal?.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      // Shaped as the global fetch fails, so the client maps both the same way.
      request.on("error", (error) =>
        fail(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: error })),
      );
      request.end(body);
    })) as typeof fetch;
}

function streamOf(response: IncomingResponse): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      let open = true;
      const stop = (error?: unknown) => {
        if (!open) return;
        open = false;
        if (error) controller.error(new TypeError("terminated", { cause: error }));
        else controller.close();
      };
      response.on("data", (chunk) => {
        if (open) controller.enqueue(chunk);
      });
      response.on("end", () => stop());
      response.on("error", (error) => stop(error));
      response.on("close", () => stop(new Error("the connection closed mid-stream")));
    },
    cancel() {
      response.destroy();
    },
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}
