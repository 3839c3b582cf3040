import type { Result } from "../../domain/errors.js";
import * as explorer from "../../service/explorer.js";
import * as messages from "../../service/messages.js";
import type { Enqueued } from "../../service/ports.js";
import { hasNoEscapes } from "../json-text.js";
import { presentEnqueued, presentMessage, presentReceived } from "../present.js";
import { problemOf, statusOf } from "../problem.js";
import * as s from "../schemas/index.js";
import { batchResults, messageInput, validInputs } from "./batch.js";
import { cursorOf, problems, type Route, respond, route } from "./route.js";

const queueErrors = problems(403, 404);
const leaseErrors = problems(403, 404, 409);

export const enqueue = route({
  name: "enqueue",
  method: "POST",
  path: "/v1/queues/{queue}/messages",
  summary: "Send one message, or a batch of up to 100 as { messages: [...] }",
  tag: "Messages",
  params: s.queueParams,
  headers: s.idempotencyHeaders,
  body: s.enqueueBody,
  responses: {
    201: { description: "Enqueued", schema: s.enqueueResponse },
    200: {
      description: "A duplicate inside the window (single), or the batch's per-item results",
      schema: s.enqueueOkResponse,
    },
    ...queueErrors,
  },
  async handle({ principal, params, headers, body, rawBody }, { context }, reply) {
    const plain = hasNoEscapes(rawBody);
    if ("messages" in body) {
      const enqueued = await messages.enqueue(
        context,
        principal,
        params.queue,
        validInputs(body.messages, plain),
      );
      return respond(enqueued, (outcomes) =>
        reply(200, {
          results: batchResults(body.messages, outcomes, ({ message, duplicate }) =>
            presentEnqueued(message, duplicate),
          ),
        }),
      );
    }
    const input = messageInput(body, plain);
    const idempotencyKey = headers["idempotency-key"];
    const result = await messages.enqueue(context, principal, params.queue, [input], idempotencyKey);
    if (!result.ok) return result;
    const [item] = result.value as [Result<Enqueued>];
    return respond(item, ({ message, duplicate }) =>
      reply(duplicate ? 200 : 201, presentEnqueued(message, duplicate)),
    );
  },
});

export const receive = route({
  name: "receive",
  method: "GET",
  path: "/v1/queues/{queue}/messages",
  summary: "Receive (lease) up to max messages, waiting up to wait seconds for the first",
  tag: "Messages",
  params: s.queueParams,
  query: s.receiveQuery,
  responses: {
    200: { description: "Leased messages, maybe none", schema: s.receivedResponse },
    ...queueErrors,
  },
  async handle({ principal, params, query, signal }, { context }, reply) {
    const input = {
      max: query.max,
      visibilityTimeoutSeconds: query.visibilityTimeout,
      waitSeconds: query.wait,
    };
    return respond(await messages.receive(context, principal, params.queue, input, signal), (leased) =>
      reply(200, { messages: leased.map(presentReceived) }, { "cache-control": "no-store" }),
    );
  },
});

export const purgeMessages = route({
  name: "purgeMessages",
  method: "DELETE",
  path: "/v1/queues/{queue}/messages",
  summary: "Delete every message that is not dead-lettered",
  tag: "Messages",
  params: s.queueParams,
  responses: { 200: { description: "How many were deleted", schema: s.purgedResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await messages.purge(context, principal, params.queue), (purged) =>
      reply(200, { purged }),
    );
  },
});

export const settle = route({
  name: "settle",
  method: "POST",
  path: "/v1/queues/{queue}/messages/settle",
  summary: "Ack and nack many messages; each item reports its own status",
  tag: "Messages",
  params: s.queueParams,
  body: s.settleBody,
  responses: { 200: { description: "Per-item results", schema: s.settleResponse }, ...queueErrors },
  async handle({ principal, params, body }, { context }, reply) {
    return respond(await messages.settle(context, principal, params.queue, body), (results) =>
      reply(200, {
        results: results.map(({ messageId, result }) =>
          result.ok
            ? { messageId, status: 204 }
            : { messageId, status: statusOf(result.error.code), error: problemOf(result.error) },
        ),
      }),
    );
  },
});

export const peekMessage = route({
  name: "peekMessage",
  method: "GET",
  path: "/v1/queues/{queue}/messages/{messageId}",
  summary: "A message and its state, without leasing it",
  tag: "Messages",
  params: s.messageParams,
  responses: { 200: { description: "The message", schema: s.messageResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await messages.peek(context, principal, params.queue, params.messageId), (message) =>
      reply(200, presentMessage(message, context.clock.now())),
    );
  },
});

export const ack = route({
  name: "ack",
  method: "POST",
  path: "/v1/queues/{queue}/messages/{messageId}/ack",
  summary: "Acknowledge (delete) a received message",
  tag: "Messages",
  params: s.messageParams,
  body: s.ackBody,
  responses: { 204: { description: "Acked (again: still 204)" }, ...leaseErrors },
  async handle({ principal, params, body }, { context }, reply) {
    const result = await messages.ack(context, principal, params.queue, params.messageId, body.leaseToken);
    return respond(result, () => reply(204));
  },
});

export const nack = route({
  name: "nack",
  method: "POST",
  path: "/v1/queues/{queue}/messages/{messageId}/nack",
  summary: "Give a message back: redelivered after the backoff, or dead-lettered",
  tag: "Messages",
  params: s.messageParams,
  body: s.nackBody,
  responses: { 204: { description: "Released or dead-lettered" }, ...leaseErrors },
  async handle({ principal, params, body }, { context }, reply) {
    const { leaseToken, ...options } = body;
    const result = await messages.nack(
      context,
      principal,
      params.queue,
      params.messageId,
      leaseToken,
      options,
    );
    return respond(result, () => reply(204));
  },
});

export const extendLease = route({
  name: "extendLease",
  method: "POST",
  path: "/v1/queues/{queue}/messages/{messageId}/lease",
  summary: "Extend or shorten a lease (0 releases the message)",
  tag: "Messages",
  params: s.messageParams,
  body: s.leaseBody,
  responses: { 200: { description: "The new lease expiry", schema: s.leaseResponse }, ...leaseErrors },
  async handle({ principal, params, body }, { context }, reply) {
    const result = await messages.extendLease(
      context,
      principal,
      params.queue,
      params.messageId,
      body.leaseToken,
      body.visibilityTimeoutSeconds,
    );
    // A lease ends when its message is visible again (`visibleAt == leaseExpiresAt`, domain/lease.ts).
    return respond(result, (message) => reply(200, { leaseExpiresAt: message.visibleAt.toISOString() }));
  },
});

export const browseMessages = route({
  name: "browseMessages",
  method: "GET",
  path: "/v1/queues/{queue}/browse",
  summary: "Messages that are available, delayed or in flight, with their leases; nothing is leased",
  tag: "Messages",
  params: s.queueParams,
  query: s.browseQuery,
  responses: { 200: { description: "A page", schema: s.browseResponse }, ...queueErrors },
  async handle({ principal, params, query }, { context }, reply) {
    const { attribute, value, ...page } = query;
    const request = { ...page, ...(attribute ? { attribute: { name: attribute, value } } : {}) };
    return respond(await explorer.browseMessages(context, principal, params.queue, request), (found) => {
      const now = context.clock.now();
      return reply(200, {
        messages: found.items.map((message) => presentMessage(message, now)),
        ...cursorOf(found),
      });
    });
  },
});

export const messageRoutes: Route[] = [
  enqueue,
  receive,
  purgeMessages,
  settle,
  peekMessage,
  ack,
  nack,
  extendLease,
  browseMessages,
];
