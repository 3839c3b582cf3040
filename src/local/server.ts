import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import type { ApiRequest, ApiResponse } from "../api/http.js";
import { requestIdOf } from "../api/pipeline.js";
import { problemResponse } from "../api/problem.js";
import type { Conveyor } from "../app.js";
import { LIMITS } from "../domain/limits.js";
import type { Logger } from "../logger.js";

export interface LocalHost {
  url: string;
  server: Server;
  /** The method and path template of every route this host serves. */
  routeTable: { method: string; path: string }[];
  /** Stops accepting, answers waiting long polls, lets in-flight requests finish, closes the store. */
  close(): Promise<void>;
}

/**
 * The local host: node:http, the same route registry as the Functions app
 * (routed with find-my-way), the same pipeline.
 */
export async function startLocalHost(
  conveyor: Conveyor,
  options: {
    host: string;
    port: number;
    logger: Logger;
    /** Runs once the host stops accepting requests and before the store closes (background workers). */
    beforeClose?: () => Promise<void>;
  },
): Promise<LocalHost> {
  const router = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true });
  // Each request's signal aborts when its client leaves or the host shuts down.
  const liveRequests = new Set<AbortController>();
  let shuttingDown = false;
  const inFlight = new Set<Promise<void>>();

  const routeTable: LocalHost["routeTable"] = [];
  for (const route of conveyor.routes) {
    // `{*name}` (a catch-all, as Functions writes it) is find-my-way's `*`.
    const template = route.path.replace(/\{\*\w+\}/g, "*").replace(/\{(\w+)\}/g, ":$1");
    router.on(route.method as HTTPMethod, template, () => undefined, { route });
    routeTable.push({ method: route.method, path: route.path });
  }

  const server = createServer((req, res) => {
    const work = serve(req, res).catch((error: unknown) => {
      options.logger.error("local host failed to answer", { error: String(error) });
      if (!res.headersSent)
        send(res, problemResponse({ code: "internal", detail: "an internal error occurred" }));
      else res.destroy();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitUrl(req.url ?? "/");
    const found = router.find(req.method as HTTPMethod, path);
    if (!found) {
      await drain(req);
      const known = router.find("GET", path) ?? router.find("POST", path);
      return send(
        res,
        withRequestId(
          req,
          problemResponse(
            known
              ? { code: "method_not_allowed", detail: `${req.method} is not allowed on ${path}` }
              : { code: "not_found", detail: `no route ${req.method} ${path}` },
          ),
        ),
      );
    }
    const { route } = found.store as { route: Conveyor["routes"][number] };
    const body = await readBody(req, LIMITS.requestBodyBytes);
    if (body === "too_large") {
      res.setHeader("connection", "close");
      return send(
        res,
        problemResponse({
          code: "payload_too_large",
          detail: `the request body is over ${LIMITS.requestBodyBytes} bytes`,
        }),
      );
    }
    const params: Record<string, string> = {};
    for (const key in found.params) {
      const name = key === "*" ? (/\{\*(\w+)\}/.exec(route.path)?.[1] ?? key) : key;
      params[name] = decodeURIComponent(found.params[key] ?? "");
    }
    let stop: AbortController | undefined;
    const request: ApiRequest = {
      method: req.method ?? "GET",
      path,
      params,
      query,
      headers: req.headers as Record<string, string | undefined>,
      body,
      // Only long polls and streams listen, so most requests never pay for a controller and a listener.
      get signal() {
        if (stop) return stop.signal;
        const controller = new AbortController();
        stop = controller;
        if (shuttingDown || res.destroyed) controller.abort();
        liveRequests.add(controller);
        res.on("close", () => {
          liveRequests.delete(controller);
          // "close" also follows a normal answer; only a client that left first is news.
          if (!res.writableFinished) controller.abort();
        });
        return controller.signal;
      },
    };
    const response = await conveyor.handle(route, request);
    if (!response.stream) return send(res, response);
    res.writeHead(response.status, response.headers);
    res.flushHeaders();
    await response.stream((chunk) => res.write(chunk), request.signal);
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    server,
    routeTable,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shuttingDown = true;
      for (const request of liveRequests) request.abort();
      server.closeIdleConnections();
      await Promise.allSettled([...inFlight, options.beforeClose?.()]);
      server.closeAllConnections();
      await closed;
      await conveyor.close();
    },
  };
}

/** For the few answers the host gives before a request reaches the pipeline. */
function withRequestId(req: IncomingMessage, response: ApiResponse): ApiResponse {
  response.headers["x-request-id"] = requestIdOf(req.headers as ApiRequest["headers"]);
  return response;
}

function send(res: ServerResponse, response: ApiResponse): void {
  if (res.destroyed) return;
  const payload =
    response.body === undefined
      ? undefined
      : typeof response.body === "string" || Buffer.isBuffer(response.body)
        ? response.body
        : JSON.stringify(response.body);
  if (payload !== undefined) response.headers["content-length"] = String(Buffer.byteLength(payload));
  res.writeHead(response.status, response.headers);
  res.end(payload);
}

const PLAIN_PATH = /^[A-Za-z0-9/_-]*$/;
const NO_QUERY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * The path and query of a request target. A plain path (no dots, escapes or
 * query, as nearly every API call is) is taken as it is: WHATWG URL parsing
 * costs more than routing. Anything else goes through URL, which resolves
 * dot segments and normalizes escapes.
 */
function splitUrl(target: string): { path: string; query: Record<string, string> } {
  if (PLAIN_PATH.test(target) && target.startsWith("/")) return { path: target, query: NO_QUERY };
  const url = new URL(target, "http://localhost");
  return { path: url.pathname, query: Object.fromEntries(url.searchParams) };
}

/** Reads the body, stopping at the limit so an oversized upload cannot exhaust memory. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | "too_large"> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      req.resume();
      return resolve("too_large");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve("too_large");
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(size === 0 ? undefined : Buffer.concat(chunks, size)));
    req.on("error", reject);
  });
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.on("end", resolve);
    req.on("error", () => resolve());
  });
}
