import type { z } from "zod";
import { ok } from "../../domain/errors.js";
import * as s from "../schemas/index.js";
import { routesNamed, taggedRoute } from "./route.js";

const serviceRoute = taggedRoute("Service");

const health = serviceRoute("GET /v1/health", {
  summary: "Liveness and store reachability",
  public: true,
  responses: {
    200: { description: "Up", schema: s.healthResponse },
    503: { description: "The store is unreachable", schema: s.healthResponse },
  },
  async handle(_input, services, reply) {
    const health = await services.health();
    return ok(reply(health.status === "ok" ? 200 : 503, health));
  },
});

const openapi = serviceRoute("GET /v1/openapi.json", {
  summary: "This API's OpenAPI 3.1 document",
  public: true,
  responses: { 200: { description: "The document", schema: s.openApiResponse } },
  async handle(_input, services, reply) {
    // The document `buildOpenApiDocument` renders, built once by the composition root.
    return ok(reply(200, services.openApiDocument() as z.input<typeof s.openApiResponse>));
  },
});

export const serviceRoutes = routesNamed({ health, openapi });
