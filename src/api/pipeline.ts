import { randomUUID } from "node:crypto";
import type { z } from "zod";
import type { Principal } from "../domain/access.js";
import { type Failure, fail, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import type { Logger } from "../logger.js";
import { authenticateKey, looksLikeApiKey } from "../service/keys.js";
import type { VerifyToken } from "./auth.js";
import type { ApiRequest, ApiResponse } from "./http.js";
import { parseRequestJson } from "./json-body.js";
import { problemResponse } from "./problem.js";
import type { RateLimiter } from "./rate-limit.js";
import type { AnyRoute, Services } from "./routes/route.js";

export interface PipelineOptions {
  services: Services;
  verifyToken: VerifyToken;
  /** Absent when rate limiting is off. */
  rateLimiter?: RateLimiter;
  /** Tells store outages (503, retry) from bugs (500). */
  isUnavailable: (error: unknown) => boolean;
  logger: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ANONYMOUS: Principal = { tenantId: "", subject: "anonymous", roles: [] };

/** The caller's request id when it is a sane one, else a fresh one. */
export function requestIdOf(headers: ApiRequest["headers"]): string {
  const presented = headers["x-request-id"];
  return presented && REQUEST_ID.test(presented) ? presented : randomUUID();
}

export type HandleRequest = (route: AnyRoute, request: ApiRequest) => Promise<ApiResponse>;

/**
 * Everything every route gets, in one order: request id, content checks,
 * authentication, rate limit, validation (path, query, the headers the
 * route declares, body), the handler, and the mapping of failures to
 * problem documents. Both hosts call the function this returns.
 */
export function createPipeline(options: PipelineOptions): HandleRequest {
  return async (route, request) => {
    const requestId = requestIdOf(request.headers);
    const started = performance.now();
    // Filled once the caller is known, and carried by every answer after that, refusals included.
    const rateHeaders: Record<string, string> = {};
    let response: ApiResponse;
    try {
      response = await run(route, request, options, rateHeaders);
    } catch (error) {
      if (options.isUnavailable(error)) {
        options.logger.warn("store unavailable", { requestId, route: route.name, error: describe(error) });
        response = problemResponse(storeBusyProblem(error));
      } else {
        options.logger.error("request failed", { requestId, route: route.name, error: describe(error) });
        response = problemResponse({
          code: "internal",
          detail: `an internal error occurred (request ${requestId})`,
        });
      }
    }
    Object.assign(response.headers, rateHeaders);
    response.headers["x-request-id"] = requestId;
    if (response.body !== undefined && !response.headers["content-type"]) {
      response.headers["content-type"] = "application/json; charset=utf-8";
    }
    options.logger.debug("request", {
      requestId,
      method: request.method,
      path: request.path,
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return response;
  };
}

/**
 * Credentials come first, from the headers alone: a caller without them is
 * answered before a byte of its body is read, so unauthenticated uploads
 * cost the host no memory. Then the rate limit, validation and the handler.
 */
async function run(
  route: AnyRoute,
  request: ApiRequest,
  options: PipelineOptions,
  rateHeaders: Record<string, string>,
): Promise<ApiResponse> {
  let principal = ANONYMOUS;
  if (!route.public) {
    const authenticated = await authenticate(request, options);
    if (!authenticated.ok) return problemResponse(authenticated.error);
    principal = authenticated.value;
    if (options.rateLimiter) {
      const scope = request.params.queue
        ? `${principal.tenantId}\u0000${request.params.queue}`
        : principal.tenantId;
      const decision = options.rateLimiter.take(scope);
      rateHeaders["ratelimit-limit"] = String(decision.limit);
      rateHeaders["ratelimit-remaining"] = String(decision.remaining);
      rateHeaders["ratelimit-reset"] = String(decision.resetSeconds);
      if (!decision.allowed) {
        return problemResponse({
          code: "rate_limited",
          detail: "too many requests for this tenant and queue; slow down",
          retryAfterSeconds: decision.retryAfterSeconds,
        });
      }
    }
  }
  const result = await validateAndHandle(route, request, principal, options);
  return result.ok ? result.value : problemResponse(result.error);
}

async function validateAndHandle(
  route: AnyRoute,
  request: ApiRequest,
  principal: Principal,
  options: PipelineOptions,
): Promise<Result<ApiResponse>> {
  const params = validate(route.params, request.params, "");
  if (!params.ok) return params;
  const query = validate(route.query, request.query, "");
  if (!query.ok) return query;
  const headers = validate(route.headers, request.headers, "");
  if (!headers.ok) return headers;
  let rawBody: Buffer | undefined;
  let parsedBody: unknown;
  if (route.body) {
    const read = await request.readBody();
    if (!read.ok) return read;
    rawBody = read.value;
    const parsed = parseJsonBody(rawBody, request.headers["content-type"]);
    if (!parsed.ok) return parsed;
    parsedBody = parsed.value;
  }
  const body = validate(route.body, parsedBody, "");
  if (!body.ok) return body;
  return route.handle(
    {
      principal,
      params: params.value,
      query: query.value,
      headers: headers.value,
      body: body.value,
      rawBody,
      signal: request.signal,
    },
    options.services,
  );
}

async function authenticate(request: ApiRequest, options: PipelineOptions): Promise<Result<Principal>> {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) return fail("unauthorized", "send credentials as Authorization: Bearer <token or API key>");
  const token = match[1] as string;
  return looksLikeApiKey(token)
    ? authenticateKey(options.services.context, token)
    : options.verifyToken(token);
}

function parseJsonBody(bytes: Buffer | undefined, contentTypeHeader: string | undefined): Result<unknown> {
  if (bytes === undefined) return { ok: true, value: undefined };
  if (bytes.length > LIMITS.requestBodyBytes) {
    return fail("payload_too_large", `the request body is over ${LIMITS.requestBodyBytes} bytes`);
  }
  const contentType = contentTypeHeader?.split(";")[0]?.trim().toLowerCase();
  if (contentType !== "application/json" && !contentType?.endsWith("+json")) {
    return fail("unsupported_media_type", "send the body as application/json");
  }
  return parseRequestJson(bytes.toString("utf8"));
}

function validate<T>(schema: z.ZodType<T> | undefined, input: unknown, prefix: string): Result<T> {
  if (!schema) return { ok: true, value: undefined as T };
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors: Failure["errors"] = parsed.error.issues.map((issue) => ({
    path: prefix + issue.path.join("."),
    message: issue.message,
  }));
  const summary = errors
    .map((error) => (error.path ? `${error.path}: ${error.message}` : error.message))
    .join("; ");
  return fail("validation_failed", summary, { errors });
}

/**
 * What a store throws when its retry budget ran out (the Cosmos DB store's
 * StoreBusyError, src/adapters/cosmos/resilience.ts): the status to answer,
 * 429 while the store throttles or 503 while it is away, and the store's
 * hint of when to come back. Read by shape: the API does not import adapters.
 */
interface StoreBusy {
  status: 429 | 503;
  retryAfterSeconds: number;
}

function isStoreBusy(error: unknown): error is StoreBusy {
  const { status, retryAfterSeconds } = (error ?? {}) as Partial<StoreBusy>;
  return (
    (status === 429 || status === 503) &&
    typeof retryAfterSeconds === "number" &&
    Number.isInteger(retryAfterSeconds) &&
    retryAfterSeconds >= 1
  );
}

/** A store outage as a problem: 429 or 503 with Retry-After in whole seconds, the store's hint or 1. */
function storeBusyProblem(error: unknown): Failure {
  if (isStoreBusy(error) && error.status === 429) {
    return {
      code: "rate_limited",
      detail: "the store is throttling requests; retry after the time given",
      retryAfterSeconds: error.retryAfterSeconds,
    };
  }
  return {
    code: "unavailable",
    detail: "the store is unavailable; retry shortly",
    retryAfterSeconds: isStoreBusy(error) ? error.retryAfterSeconds : 1,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
