import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { ApiRequest } from "../api/http.js";
import type { AnyRoute } from "../api/routes.js";
import type { Conveyor } from "../app.js";

/** Translates a Functions HTTP invocation into the host-independent request and back. */
export async function handleFunctionsRequest(
  conveyor: Conveyor,
  route: AnyRoute,
  request: HttpRequest,
): Promise<HttpResponseInit> {
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const apiRequest: ApiRequest = {
    method: request.method,
    path: new URL(request.url).pathname,
    params: { ...request.params },
    query: Object.fromEntries(request.query),
    headers: Object.fromEntries(request.headers),
    body: body && body.length > 0 ? body : undefined,
    // The Functions host does not tell a handler that its client left; a long poll runs to its deadline.
    signal: new AbortController().signal,
  };
  const response = await conveyor.handle(route, apiRequest);
  return {
    status: response.status,
    headers: response.headers,
    body:
      response.body === undefined
        ? undefined
        : typeof response.body === "string"
          ? response.body
          : JSON.stringify(response.body),
  };
}
