import { app } from "@azure/functions";
import { routes } from "../api/routes.js";
import { handleFunctionsRequest } from "./http-adapter.js";
import { conveyor } from "./runtime.js";

/**
 * Every HTTP route, registered from the same registry the local host serves,
 * so no route can exist in one host only. Authentication is Conveyor's own
 * (bearer JWT or API key), hence `authLevel: "anonymous"`.
 */
for (const route of routes) {
  app.http(route.name, {
    methods: [route.method],
    route: route.path.slice(1),
    authLevel: "anonymous",
    handler: async (request) => handleFunctionsRequest(await conveyor(), route, request),
  });
}
