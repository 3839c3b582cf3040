import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import type { ApiRequest, ApiResponse } from "../api/http.js";
import { requestIdOf } from "../api/pipeline.js";
import { problemResponse } from "../api/problem.js";
import type { Conveyor } from "../app.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import type { Logger } from "../logger.js";
import {
  answerParserErrors,
  type ConnectionLimits,
  capacityRefusal,
  drainAfterAnswer,
  limitConnections,
} from "./connections.js";

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
    connections: ConnectionLimits;
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
        send(req, res, problemResponse({ code: "internal", detail: "an internal error occurred" }));
      else res.destroy();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  limitConnections(server, options.connections);
  answerParserErrors(server);

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = capacityRefusal(req);
    if (refusal) return send(req, res, refusal);
    const { path, query } = splitUrl(req.url ?? "/");
    const found = router.find(req.method as HTTPMethod, path);
    if (!found) {
      const allowed = METHODS.filter((method) => router.find(method, path));
      if (allowed.length === 0) {
        return send(
          req,
          res,
          problemResponse({ code: "not_found", detail: `no route ${req.method} ${path}` }),
        );
      }
      const refused = problemResponse({
        code: "method_not_allowed",
        detail: `${req.method} is not allowed on ${path}; ${allowed.join(", ")} are`,
      });
      refused.headers.allow = allowed.join(", ");
      return send(req, res, refused);
    }
    const { route } = found.store as { route: Conveyor["routes"][number] };
    // find-my-way has decoded each parameter once; a name is what the client sent.
    const params: Record<string, string> = Object.create(null);
    for (const key in found.params) {
      const name = key === "*" ? (/\{\*(\w+)\}/.exec(route.path)?.[1] ?? key) : key;
      params[name] = found.params[key] ?? "";
    }
    let stop: AbortController | undefined;
    const request: ApiRequest = {
      method: req.method ?? "GET",
      path,
      params,
      query,
      headers: req.headers as Record<string, string | undefined>,
      readBody: () => readBody(req, LIMITS.requestBodyBytes),
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
    if (!response.stream) return send(req, res, response);
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

/**
 * Writes an answer. The pipeline's carry their request id; the host's own
 * (no route, over capacity, a failure outside the pipeline) get one here.
 * A client still sending a body it was answered early for is drained.
 */
function send(req: IncomingMessage, res: ServerResponse, response: ApiResponse): void {
  if (res.destroyed) return;
  response.headers["x-request-id"] ??= requestIdOf(req.headers as ApiRequest["headers"]);
  const payload =
    response.body === undefined
      ? undefined
      : typeof response.body === "string" || Buffer.isBuffer(response.body)
        ? response.body
        : JSON.stringify(response.body);
  if (payload !== undefined) response.headers["content-length"] = String(Buffer.byteLength(payload));
  res.writeHead(response.status, response.headers);
  res.end(payload);
  drainAfterAnswer(req);
}

const METHODS: HTTPMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
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

/**
 * Reads the body, stopping at the limit so an oversized upload cannot
 * exhaust memory; one declared over the limit is refused unread.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Result<Buffer | undefined>> {
  const tooLarge = () => fail("payload_too_large", `the request body is over ${limit} bytes`);
  if (Number(req.headers["content-length"] ?? 0) > limit) return Promise.resolve(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", collect);
        req.pause();
        resolve(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", collect);
    req.on("end", () => resolve(ok(size === 0 ? undefined : Buffer.concat(chunks, size))));
    req.on("error", reject);
  });
}
