import * as keys from "../../service/keys.js";
import { presentKey } from "../present.js";
import * as s from "../schemas/index.js";
import { pageOf, problems, respond, routesNamed, taggedRoute } from "./route.js";

const keyRoute = taggedRoute("Keys");

const createKey = keyRoute("POST /v1/keys", {
  summary: "Create an API key (shown once)",
  body: s.createKeyBody,
  responses: { 201: { description: "The key", schema: s.createdKeyResponse }, ...problems(403) },
  async handle({ principal, body }, { context }, reply) {
    return respond(await keys.createKey(context, principal, body), ({ record, key }) =>
      reply(201, { ...presentKey(record), key }),
    );
  },
});

const listKeys = keyRoute("GET /v1/keys", {
  summary: "The tenant's API keys, without secrets",
  query: s.pageQuery,
  responses: {
    200: { description: "A page", schema: s.keyPageResponse },
    ...problems(403),
  },
  async handle({ principal, query }, { context }, reply) {
    return respond(await keys.listKeys(context, principal, query), (page) =>
      reply(200, pageOf(page, presentKey)),
    );
  },
});

const deleteKey = keyRoute("DELETE /v1/keys/{id}", {
  summary: "Revoke an API key at once",
  responses: { 204: { description: "Revoked" }, ...problems(403, 404) },
  async handle({ principal, params }, { context }, reply) {
    return respond(await keys.deleteKey(context, principal, params.id), () => reply(204));
  },
});

export const keyRoutes = routesNamed({ createKey, listKeys, deleteKey });
