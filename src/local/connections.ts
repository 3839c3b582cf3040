import { type IncomingMessage, type Server, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { ApiResponse } from "../api/http.js";
import { requestIdOf } from "../api/pipeline.js";
import { problemResponse } from "../api/problem.js";
import type { ErrorCode } from "../domain/errors.js";

export interface ConnectionLimits {
  /** Open connections the host holds at once; past it a new one is answered 503 and closed. */
  total: number;
  /** The same, for one client address. */
  perClient: number;
}

/** What a client that never stops uploading may still send after its answer: then it is cut off. */
const DRAIN = { bytes: 8 * 1024 * 1024, ms: 5_000 };
/** How long a refused connection may take to send the request its 503 answers. */
const REFUSED_GRACE_MS = 2_000;

const overCapacity = new WeakSet<Socket>();

/**
 * Counts connections per client address and in total. One past a cap is
 * let in only to be answered `too_many_connections` (so the client is told,
 * not silently dropped as `server.maxConnections` drops it) and closed.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  const perClient = new Map<string, number>();
  let total = 0;
  server.on("connection", (socket: Socket) => {
    const client = socket.remoteAddress ?? "";
    const held = perClient.get(client) ?? 0;
    if (total >= limits.total || held >= limits.perClient) {
      overCapacity.add(socket);
      socket.setTimeout(REFUSED_GRACE_MS, () => socket.destroy());
      return;
    }
    total += 1;
    perClient.set(client, held + 1);
    socket.once("close", () => {
      total -= 1;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left === 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });
}

/** The answer for a request on a connection past a cap, or undefined for one within them. */
export function capacityRefusal(req: IncomingMessage): ApiResponse | undefined {
  if (!overCapacity.has(req.socket)) return undefined;
  const response = problemResponse({
    code: "too_many_connections",
    detail: "this host holds as many connections as it allows (from your address or in all); retry shortly",
    retryAfterSeconds: 1,
  });
  response.headers.connection = "close";
  return response;
}

/**
 * Node's HTTP parser answers malformed requests itself with a bare status
 * line. This answers them as every other error is answered: a problem
 * document with a code and a request id.
 */
export function answerParserErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (error.code === "ECONNRESET" || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    const response = problemResponse(parserFailure(error.code));
    response.headers["x-request-id"] = requestIdOf({});
    response.headers.connection = "close";
    socket.end(serialize(response));
  });
}

function parserFailure(code: string | undefined): { code: ErrorCode; detail: string } {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return { code: "headers_too_large", detail: "the request line and headers are over 16 KiB" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { code: "request_timeout", detail: "the request did not arrive in time" };
    default:
      return {
        code: "bad_request",
        detail: `the request is not well-formed HTTP/1.1 (${code ?? "parse error"})`,
      };
  }
}

function serialize(response: ApiResponse): string {
  const body = JSON.stringify(response.body);
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? "Error"}`];
  for (const [name, value] of Object.entries(response.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${Buffer.byteLength(body)}`);
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/**
 * Reads and drops what a client goes on sending after it was answered early
 * (401, 413), so that it reads the answer instead of a connection reset, and
 * the connection stays usable when the body ends. One that sends more than
 * `DRAIN` allows is cut off: it was told long before.
 */
export function drainAfterAnswer(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let received = 0;
  const cutOff = () => req.socket.destroy();
  const timer = setTimeout(cutOff, DRAIN.ms);
  timer.unref();
  req.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (received > DRAIN.bytes) cutOff();
  });
  req.once("end", () => clearTimeout(timer));
  req.once("close", () => clearTimeout(timer));
  req.resume();
}
