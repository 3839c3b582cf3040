import * as explorer from "../../service/explorer.js";
import * as messages from "../../service/messages.js";
import { presentEnqueued, presentMessage, presentReceived } from "../present.js";
import { problemOf, statusOf } from "../problem.js";
import * as s from "../schemas/index.js";
import { sendMessages, sentResponses } from "./batch.js";
import { cursorOf, problems, respond, routesNamed, taggedRoute } from "./route.js";

const messageRoute = taggedRoute("Messages");
const queueErrors = problems(403, 404);
const leaseErrors = problems(403, 404, 409);
// Declared outside the route: spread inline into `responses`, a call's result is lost to tsc's inference of
// the route's answers, and `reply` would take no status.
const enqueueResponses = {
  ...sentResponses("Enqueued", s.enqueueResponse, s.enqueueOkResponse),
  ...queueErrors,
};

const enqueue = messageRoute("POST /v1/queues/{queue}/messages", {
  summary: "Send one message, or a batch of up to 100 as { messages: [...] }",
  headers: s.idempotencyHeaders,
  body: s.enqueueBody,
  responses: enqueueResponses,
  async handle({ principal, params, headers, body, rawBody }, { context }, reply) {
    const sent = await sendMessages(
      { body, rawBody, idempotencyKey: headers["idempotency-key"] },
      (inputs, idempotencyKey) => messages.enqueue(context, principal, params.queue, inputs, idempotencyKey),
      ({ message, duplicate }) => presentEnqueued(message, duplicate),
    );
    return respond(sent, (answer) =>
      answer.status === 201 ? reply(201, answer.body) : reply(200, answer.body),
    );
  },
});

const receive = messageRoute("GET /v1/queues/{queue}/messages", {
  summary: "Receive (lease) up to max messages, waiting up to wait seconds for the first",
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

const purgeMessages = messageRoute("DELETE /v1/queues/{queue}/messages", {
  summary: "Delete every message that is not dead-lettered",
  responses: { 200: { description: "How many were deleted", schema: s.purgedResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await messages.purge(context, principal, params.queue), (purged) =>
      reply(200, { purged }),
    );
  },
});

const settle = messageRoute("POST /v1/queues/{queue}/messages/settle", {
  summary: "Ack and nack many messages; each item reports its own status",
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

const peekMessage = messageRoute("GET /v1/queues/{queue}/messages/{messageId}", {
  summary: "A message and its state, without leasing it",
  responses: { 200: { description: "The message", schema: s.messageResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await messages.peek(context, principal, params.queue, params.messageId), (message) =>
      reply(200, presentMessage(message, context.clock.now())),
    );
  },
});

const ack = messageRoute("POST /v1/queues/{queue}/messages/{messageId}/ack", {
  summary: "Acknowledge (delete) a received message",
  body: s.ackBody,
  responses: { 204: { description: "Acked (again: still 204)" }, ...leaseErrors },
  async handle({ principal, params, body }, { context }, reply) {
    const result = await messages.ack(context, principal, params.queue, params.messageId, body.leaseToken);
    return respond(result, () => reply(204));
  },
});

const nack = messageRoute("POST /v1/queues/{queue}/messages/{messageId}/nack", {
  summary: "Give a message back: redelivered after the backoff, or dead-lettered",
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

const extendLease = messageRoute("POST /v1/queues/{queue}/messages/{messageId}/lease", {
  summary: "Extend or shorten a lease (0 releases the message)",
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

const browseMessages = messageRoute("GET /v1/queues/{queue}/browse", {
  summary: "Messages that are available, delayed or in flight, with their leases; nothing is leased",
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

export const messageRoutes = routesNamed({
  enqueue,
  receive,
  purgeMessages,
  settle,
  peekMessage,
  ack,
  nack,
  extendLease,
  browseMessages,
});
