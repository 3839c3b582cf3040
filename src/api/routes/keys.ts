import * as keys from "../../service/keys.js";
import { presentKey } from "../present.js";
import * as s from "../schemas/index.js";
import { pageOf, problems, type Route, respond, route } from "./route.js";

export const createKey = route({
  name: "createKey",
  method: "POST",
  path: "/v1/keys",
  summary: "Create an API key (shown once)",
  tag: "Keys",
  body: s.createKeyBody,
  responses: { 201: { description: "The key", schema: s.createdKeyResponse }, ...problems(403) },
  async handle({ principal, body }, { context }, reply) {
    return respond(await keys.createKey(context, principal, body), ({ record, key }) =>
      reply(201, { ...presentKey(record), key }),
    );
  },
});

export const listKeys = route({
  name: "listKeys",
  method: "GET",
  path: "/v1/keys",
  summary: "The tenant's API keys, without secrets",
  tag: "Keys",
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

export const deleteKey = route({
  name: "deleteKey",
  method: "DELETE",
  path: "/v1/keys/{id}",
  summary: "Revoke an API key at once",
  tag: "Keys",
  params: s.keyParams,
  responses: { 204: { description: "Revoked" }, ...problems(403, 404) },
  async handle({ principal, params }, { context }, reply) {
    return respond(await keys.deleteKey(context, principal, params.id), () => reply(204));
  },
});

export const keyRoutes: Route[] = [createKey, listKeys, deleteKey];
