import { app, type HttpHandler } from "@azure/functions";
import { type AnyRoute, routes } from "../api/routes.js";
import { handleFunctionsRequest } from "./http-adapter.js";
import { conveyor } from "./runtime.js";

/**
 * The host's route template for a registry path (host.json sets no route
 * prefix). The host replaces an empty or blank template with the function's
 * name (Azure/azure-functions-host src/WebJobs.Script/Host/ScriptHost.cs,
 * ValidateHttpFunction), so the console's `/` stays `/`: a template of no
 * segments, which matches the empty path only. With
 * AzureWebJobsDisableHomepage set (infra/app/function.bicep) the host's own
 * page no longer answers there (src/WebJobs.Script.WebHost/Middleware/HomepageMiddleware.cs).
 */
const routeTemplate = (path: string): string => (path === "/" ? "/" : path.slice(1));

/** The handler of one registry route: the shared pipeline behind the Functions HTTP types. */
export function routeHandler(route: AnyRoute): HttpHandler {
  return async (request) => handleFunctionsRequest(await conveyor(), route, request);
}

/**
 * Every HTTP route, registered from the same registry the local host serves,
 * so no route can exist in one host only. Authentication is Conveyor's own
 * (bearer JWT or API key), hence `authLevel: "anonymous"`.
 */
for (const route of routes) {
  app.http(route.name, {
    methods: [route.method],
    route: routeTemplate(route.path),
    authLevel: "anonymous",
    handler: routeHandler(route),
  });
}
