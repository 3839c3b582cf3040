import { z } from "zod";
import type { ResponseDoc, Route } from "./routes/route.js";

const VERSION = "1.0.0";

/**
 * The OpenAPI 3.1 document, rendered from the same zod schemas the pipeline
 * validates with, so the document cannot drift from what the server accepts.
 */
export function buildOpenApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, unknown> = {};
  const toSchema = (schema: z.ZodType, io: "input" | "output") => renderSchema(schema, io, schemas);
  const parametersOf = (schema: z.ZodType | undefined, location: "path" | "query" | "header") => {
    if (!schema) return [];
    const json = toSchema(schema, "input") as { properties?: Record<string, unknown>; required?: string[] };
    return Object.entries(json.properties ?? {}).map(([name, property]) => ({
      name,
      in: location,
      required: location === "path" || (json.required ?? []).includes(name),
      schema: property,
    }));
  };
  for (const route of routes) {
    const operation: Record<string, unknown> = {
      operationId: route.name,
      summary: route.summary,
      tags: [route.tag],
      ...(route.public ? { security: [] } : {}),
      parameters: [
        ...parametersOf(route.params, "path"),
        ...parametersOf(route.query, "query"),
        ...parametersOf(route.headers, "header"),
      ],
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, doc]) => [
          status,
          { description: doc.description, ...contentOf(doc, toSchema) },
        ]),
      ),
    };
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: toSchema(route.body, "input") } },
      };
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Conveyor",
      version: VERSION,
      description:
        "A multi-tenant HTTP message queue. Errors are RFC 9457 problem documents with a stable `code`.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "An OAuth2 access token (JWT) or an API key (cvk.…)",
        },
      },
    },
    paths,
  };
}

function contentOf(doc: ResponseDoc, toSchema: (schema: z.ZodType, io: "output") => unknown) {
  if (doc.schema) {
    const mediaType = doc.problem ? "application/problem+json" : "application/json";
    return { content: { [mediaType]: { schema: toSchema(doc.schema, "output") } } };
  }
  return doc.contentType ? { content: { [doc.contentType]: {} } } : {};
}

/**
 * Renders one schema. Named schemas (`.meta({ id })`) come out of zod as
 * `$defs`; they are hoisted into `components.schemas` and referenced from
 * there, so a reference resolves wherever the schema is embedded.
 */
function renderSchema(
  schema: z.ZodType,
  io: "input" | "output",
  components: Record<string, unknown>,
): Record<string, unknown> {
  const rendered = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  const { $schema: _dialect, $defs: definitions, ...rest } = rendered;
  const pointAtComponents = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/'));
  for (const [name, definition] of Object.entries((definitions ?? {}) as Record<string, unknown>)) {
    // The same id can render differently as input and as output (defaults); the first rendering names it.
    components[name] ??= pointAtComponents(definition);
  }
  return pointAtComponents(rest) as Record<string, unknown>;
}
