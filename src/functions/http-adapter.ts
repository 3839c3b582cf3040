import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { ApiRequest } from "../api/http.js";
import { problemResponse } from "../api/problem.js";
import type { AnyRoute } from "../api/routes.js";
import type { Conveyor } from "../app.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";

const pick = (headers: Record<string, string>, name: string): Record<string, string> =>
  headers[name] === undefined ? {} : { [name]: headers[name] as string };

/** Translates a Functions HTTP invocation into the host-independent request and back. */
export async function handleFunctionsRequest(
  conveyor: Conveyor,
  route: AnyRoute,
  request: HttpRequest,
): Promise<HttpResponseInit> {
  const apiRequest: ApiRequest = {
    method: request.method,
    path: new URL(request.url).pathname,
    params: { ...request.params },
    query: Object.fromEntries(request.query),
    headers: Object.fromEntries(request.headers),
    readBody: () => readFunctionsBody(request),
    // The Functions host does not tell a handler that its client left; a long poll runs to its deadline.
    signal: new AbortController().signal,
  };
  const response = await conveyor.handle(route, apiRequest);
  if (response.stream) {
    // The Functions host answers once; live events reach dashboards through Web PubSub there.
    const problem = problemResponse({
      code: "not_implemented",
      detail: "this host does not stream; GET .../events/negotiate for where live events are",
    });
    return {
      status: problem.status,
      headers: { ...problem.headers, ...pick(response.headers, "x-request-id") },
      body: JSON.stringify(problem.body),
    };
  }
  return {
    status: response.status,
    headers: response.headers,
    body:
      response.body === undefined
        ? undefined
        : typeof response.body === "string" || Buffer.isBuffer(response.body)
          ? response.body
          : JSON.stringify(response.body),
  };
}

/** The body, refused unread when its declared length is already over the limit. */
async function readFunctionsBody(request: HttpRequest): Promise<Result<Buffer | undefined>> {
  if (!request.body) return ok(undefined);
  if (Number(request.headers.get("content-length") ?? 0) > LIMITS.requestBodyBytes) {
    return fail("payload_too_large", `the request body is over ${LIMITS.requestBodyBytes} bytes`);
  }
  const bytes = Buffer.from(await request.arrayBuffer());
  return ok(bytes.length > 0 ? bytes : undefined);
}
