import type { ApiResponse } from "../src/api/http.js";
import type { Route } from "../src/api/routes.js";
import type { Conveyor } from "../src/app.js";

/**
 * Checks every answer the test hosts give against what its route declares:
 * the status must be one the route lists (so OpenAPI lists it too), and
 * the body must be what that status declares: one its schema parses, or
 * none where it declares none. Violations are kept and reported when the
 * host closes, failing the suite that caused them.
 */
export function checkAnswers(conveyor: Conveyor): { violations: string[] } {
  const violations: string[] = [];
  const handle = conveyor.handle.bind(conveyor);
  conveyor.handle = async (route: Route, request) => {
    const response = await handle(route, request);
    const problem = violationOf(route, response);
    if (problem) violations.push(`${route.name} ${request.method} ${request.path}: ${problem}`);
    return response;
  };
  return { violations };
}

function violationOf(route: Route, response: ApiResponse): string | undefined {
  const declared = route.responses[response.status];
  if (!declared) return `answered ${response.status}, which the route does not declare`;
  // Files and streams: what the route declares is their content type, not a shape.
  if (declared.contentType) return undefined;
  if (!declared.schema) {
    const hasBody = response.body !== undefined || response.stream !== undefined;
    return hasBody ? `answered ${response.status} with a body, which the route declares none for` : undefined;
  }
  if (response.stream) return `streamed a ${response.status}, which the route declares as JSON`;
  const parsed = declared.schema.safeParse(response.body);
  if (parsed.success) return undefined;
  return `the ${response.status} body does not match its schema: ${parsed.error.issues
    .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
    .join("; ")}`;
}
