import type { z } from "zod";
import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { openQueue, type ServiceContext } from "../service/context.js";
import type { Redriver } from "../service/dead-letters.js";
import * as deadLetters from "../service/dead-letters.js";
import { streamQueueEvents } from "../service/events.js";
import * as explorer from "../service/explorer.js";
import * as keys from "../service/keys.js";
import * as messages from "../service/messages.js";
import * as metrics from "../service/metrics.js";
import type { Enqueued, LiveEvents, ReadStaticFile } from "../service/ports.js";
import * as queues from "../service/queues.js";
import type { TopicContext } from "../service/topics.js";
import type { ApiRequest, ApiResponse } from "./http.js";
import { hasNoEscapes, jsonTextOf } from "./json-text.js";
import { presentEnqueued, presentKey, presentMessage, presentQueue, presentReceived } from "./present.js";
import { problemOf, statusOf } from "./problem.js";
import { topicRoutes } from "./routes/topics.js";
import * as s from "./schemas.js";

/** What handlers call into; built once per host by `src/app.ts`. */
export interface Services {
  context: ServiceContext;
  events: LiveEvents;
  /** The built web console's files. */
  consoleFiles: ReadStaticFile;
  redriver: Redriver;
  topics: TopicContext;
  health(): Promise<{ status: "ok" | "unavailable"; store: "sqlite" | "cosmos"; version: string }>;
  openApiDocument(): unknown;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HandlerInput<P, Q, B> {
  /** Undefined only on public routes. */
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  /** The bytes `body` was parsed from, when the route takes one. */
  rawBody: Buffer | undefined;
  request: ApiRequest;
}

export interface RouteResponseDoc {
  description: string;
  schema?: z.ZodType;
}

export interface Route<P = unknown, Q = unknown, B = unknown> {
  /** Unique; the Azure Functions function name. */
  name: string;
  method: HttpMethod;
  /** With `{param}` segments, as Azure Functions route templates write them. */
  path: string;
  summary: string;
  tag: "Queues" | "Messages" | "Dead letters" | "Topics" | "Keys" | "Service" | "Console";
  /** Public routes take no credentials and are not rate limited. */
  public?: boolean;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  responses: Record<number, RouteResponseDoc>;
  handle(input: HandlerInput<P, Q, B>, services: Services): Promise<Result<ApiResponse>>;
}

const problems = (...statuses: number[]): Record<number, RouteResponseDoc> =>
  Object.fromEntries(
    statuses.map((status) => [status, { description: "Problem", schema: s.problemResponse }]),
  );

// biome-ignore lint/suspicious/noExplicitAny: the registry holds routes of every input type
export type AnyRoute = Route<any, any, any>;

/**
 * A route with the problems the pipeline itself may answer added to what it
 * declares, so OpenAPI lists every status a route can give: 500 and 503
 * anywhere; 401 and 429 where credentials are checked; 400 where there is
 * input to validate; 413 and 415 where there is a body.
 */
export const route = <P, Q, B>(definition: Route<P, Q, B>): AnyRoute => ({
  ...definition,
  responses: {
    ...problems(
      500,
      503,
      ...(definition.public ? [] : [401, 429]),
      ...(definition.params || definition.query || definition.body ? [400] : []),
      ...(definition.body ? [413, 415] : []),
    ),
    ...definition.responses,
  },
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  status,
  headers,
  body,
});
// A fresh object each time: the pipeline adds per-request headers to the response it gets.
const noContent = (): ApiResponse => ({ status: 204, headers: {} });

const respond = <T>(result: Result<T>, toResponse: (value: T) => ApiResponse): Result<ApiResponse> =>
  result.ok ? ok(toResponse(result.value)) : result;

const itemError = (failure: Extract<Result<unknown>, { ok: false }>["error"]) => problemOf(failure);

const queueErrors = problems(403, 404);

export const routes: AnyRoute[] = [
  route({
    name: "health",
    method: "GET",
    path: "/v1/health",
    summary: "Liveness and store reachability",
    tag: "Service",
    public: true,
    responses: {
      200: { description: "Up", schema: s.healthResponse },
      503: { description: "The store is unreachable", schema: s.healthResponse },
    },
    async handle(_input, services) {
      const health = await services.health();
      return ok(json(health.status === "ok" ? 200 : 503, health));
    },
  }),
  route({
    name: "openapi",
    method: "GET",
    path: "/v1/openapi.json",
    summary: "This API's OpenAPI 3.1 document",
    tag: "Service",
    public: true,
    responses: { 200: { description: "The document" } },
    async handle(_input, services) {
      return ok(json(200, services.openApiDocument()));
    },
  }),

  // The web console: static files, no credentials needed (the page asks for them and calls the API).
  route({
    name: "consoleIndex",
    method: "GET",
    path: "/",
    summary: "The web console",
    tag: "Console",
    public: true,
    responses: { 200: { description: "text/html" } },
    async handle(_input, { consoleFiles }) {
      return serveFile(consoleFiles, "index.html");
    },
  }),
  route({
    name: "consoleAsset",
    method: "GET",
    path: "/console/{*asset}",
    summary: "The web console's files",
    tag: "Console",
    public: true,
    params: s.assetParams,
    responses: { 200: { description: "A file" }, 404: { description: "No such file" } },
    async handle({ params }, { consoleFiles }) {
      return serveFile(consoleFiles, params.asset || "index.html");
    },
  }),

  // Queues
  route({
    name: "createQueue",
    method: "POST",
    path: "/v1/queues",
    summary: "Create a queue",
    tag: "Queues",
    body: s.createQueueBody,
    responses: {
      201: { description: "Created", schema: s.queueResponse },
      ...problems(403, 409),
    },
    async handle({ principal, body }, { context }) {
      return respond(await queues.createQueue(context, principal, body), ({ queue, signingSecret }) =>
        json(201, presentQueue(queue, signingSecret)),
      );
    },
  }),
  route({
    name: "listQueues",
    method: "GET",
    path: "/v1/queues",
    summary: "List the tenant's queues the caller holds a grant on",
    tag: "Queues",
    query: s.pageQuery,
    responses: { 200: { description: "A page", schema: s.listOf(s.queueResponse, "QueuePage") } },
    async handle({ principal, query }, { context }) {
      return respond(await queues.listQueues(context, principal, query), (page) =>
        json(200, {
          items: page.items.map((queue) => presentQueue(queue)),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        }),
      );
    },
  }),
  route({
    name: "getQueue",
    method: "GET",
    path: "/v1/queues/{queue}",
    summary: "A queue with its stats and what the caller may do on it",
    tag: "Queues",
    params: s.queueParams,
    responses: { 200: { description: "The queue", schema: s.queueDetailResponse }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await queues.getQueue(context, principal, params.queue), ({ queue, stats, grants }) =>
        json(200, { ...presentQueue(queue), stats, grants }),
      );
    },
  }),
  route({
    name: "updateQueue",
    method: "PATCH",
    path: "/v1/queues/{queue}",
    summary: "Change a queue's settings (not its name or ordering)",
    tag: "Queues",
    params: s.queueParams,
    body: s.updateQueueBody,
    responses: { 200: { description: "The updated queue", schema: s.queueResponse }, ...queueErrors },
    async handle({ principal, params, body }, { context }) {
      return respond(
        await queues.updateQueue(context, principal, params.queue, body),
        ({ queue, signingSecret }) => json(200, presentQueue(queue, signingSecret)),
      );
    },
  }),
  route({
    name: "deleteQueue",
    method: "DELETE",
    path: "/v1/queues/{queue}",
    summary: "Delete a queue with its messages and dead letters",
    tag: "Queues",
    params: s.queueParams,
    responses: { 204: { description: "Deleted" }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await queues.deleteQueue(context, principal, params.queue), noContent);
    },
  }),
  route({
    name: "queueEvents",
    method: "GET",
    path: "/v1/queues/{queue}/events",
    summary: "Server-Sent Events: message.dead_lettered, queue.stats and queue.backlog (local host)",
    tag: "Queues",
    params: s.queueParams,
    responses: {
      200: { description: "text/event-stream" },
      501: { description: "This host carries live events through Web PubSub: see .../events/negotiate" },
      ...queueErrors,
    },
    async handle({ principal, params }, { context, events }) {
      return respond(await streamQueueEvents(context, events, principal, params.queue), (stream) => ({
        status: 200,
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
        },
        stream,
      }));
    },
  }),
  route({
    name: "negotiateQueueEvents",
    method: "GET",
    path: "/v1/queues/{queue}/events/negotiate",
    summary: "Where to connect for the queue's live events (SSE locally, Web PubSub on Azure)",
    tag: "Queues",
    params: s.queueParams,
    responses: { 200: { description: "{ transport, url }" }, ...queueErrors },
    async handle({ principal, params }, { context, events }) {
      const opened = await openQueue(context, principal, params.queue, "read");
      if (!opened.ok) return opened;
      const streamPath = `/v1/queues/${encodeURIComponent(params.queue)}/events`;
      return ok(json(200, await events.negotiate(principal.tenantId, opened.value.id, streamPath)));
    },
  }),
  route({
    name: "queueStats",
    method: "GET",
    path: "/v1/queues/{queue}/stats",
    summary: "Message counts and totals",
    tag: "Queues",
    params: s.queueParams,
    responses: { 200: { description: "Stats", schema: s.statsResponse }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await queues.queueStats(context, principal, params.queue), (stats) => json(200, stats));
    },
  }),

  route({
    name: "queueMetrics",
    method: "GET",
    path: "/v1/queues/{queue}/metrics",
    summary: "The queue's stats over the last hour at most, for charts: samples kept by the store, then now",
    tag: "Queues",
    params: s.queueParams,
    query: s.metricsQuery,
    responses: { 200: { description: "The history", schema: s.metricsResponse }, ...queueErrors },
    async handle({ principal, params, query }, { context }) {
      return respond(await metrics.statsHistory(context, principal, params.queue, query.minutes), (history) =>
        json(200, {
          sampleEverySeconds: history.sampleEverySeconds,
          points: history.points.map(({ at, ...stats }) => ({ at: at.toISOString(), ...stats })),
        }),
      );
    },
  }),
  // Messages
  route({
    name: "enqueue",
    method: "POST",
    path: "/v1/queues/{queue}/messages",
    summary: "Send one message, or a batch of up to 100 as { messages: [...] }",
    tag: "Messages",
    params: s.queueParams,
    body: s.enqueueBody,
    responses: {
      201: { description: "Enqueued", schema: s.enqueueResponse },
      200: { description: "A duplicate inside the window (single) or the batch's per-item results" },
      ...problems(403, 404),
    },
    async handle({ principal, params, body, rawBody, request }, { context }) {
      const idempotencyKey = request.headers["idempotency-key"];
      const plain = hasNoEscapes(rawBody);
      if ("messages" in body) return enqueueBatch(context, principal, params.queue, body.messages, plain);
      const input = toEnqueueInput(body, plain);
      const result = await messages.enqueue(context, principal, params.queue, [input], idempotencyKey);
      if (!result.ok) return result;
      const [item] = result.value;
      if (!item?.ok) return item as Extract<Result<never>, { ok: false }>;
      return ok(
        json(item.value.duplicate ? 200 : 201, presentEnqueued(item.value.message, item.value.duplicate)),
      );
    },
  }),
  route({
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
    async handle({ principal, params, query, request }, { context }) {
      const input = {
        max: query.max,
        visibilityTimeoutSeconds: query.visibilityTimeout,
        waitSeconds: query.wait,
      };
      return respond(
        await messages.receive(context, principal, params.queue, input, request.signal),
        (leased) => json(200, { messages: leased.map(presentReceived) }, { "cache-control": "no-store" }),
      );
    },
  }),
  route({
    name: "purgeMessages",
    method: "DELETE",
    path: "/v1/queues/{queue}/messages",
    summary: "Delete every message that is not dead-lettered",
    tag: "Messages",
    params: s.queueParams,
    responses: { 200: { description: "How many were deleted" }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await messages.purge(context, principal, params.queue), (purged) =>
        json(200, { purged }),
      );
    },
  }),
  route({
    name: "settle",
    method: "POST",
    path: "/v1/queues/{queue}/messages/settle",
    summary: "Ack and nack many messages; each item reports its own status",
    tag: "Messages",
    params: s.queueParams,
    body: s.settleBody,
    responses: { 200: { description: "Per-item results", schema: s.settleResponse }, ...queueErrors },
    async handle({ principal, params, body }, { context }) {
      return respond(await messages.settle(context, principal, params.queue, body), (results) =>
        json(200, {
          results: results.map(({ messageId, result }) =>
            result.ok
              ? { messageId, status: 204 }
              : { messageId, status: statusOf(result.error.code), error: itemError(result.error) },
          ),
        }),
      );
    },
  }),
  route({
    name: "redrive",
    method: "POST",
    path: "/v1/queues/{queue}/messages/retry",
    summary: "Return dead letters to the queue (by id, or all)",
    tag: "Dead letters",
    params: s.queueParams,
    body: s.redriveBody,
    responses: {
      200: { description: "Redriven", schema: s.redriveResponse },
      202: {
        description: "The first 1000 redriven; the rest continues as a task",
        schema: s.redriveResponse,
      },
      ...queueErrors,
    },
    async handle({ principal, params, body }, { redriver }) {
      return respond(await redriver.redrive(principal, params.queue, body), (outcome) =>
        outcome.task
          ? json(
              202,
              {
                redriven: outcome.redriven,
                remaining: outcome.remaining,
                taskId: outcome.task.id,
                status: "running",
              },
              { location: `/v1/queues/${encodeURIComponent(params.queue)}/tasks/${outcome.task.id}` },
            )
          : json(200, { redriven: outcome.redriven, remaining: outcome.remaining }),
      );
    },
  }),
  route({
    name: "redriveTask",
    method: "GET",
    path: "/v1/queues/{queue}/tasks/{taskId}",
    summary: "Progress of a background redrive",
    tag: "Dead letters",
    params: s.taskParams,
    responses: { 200: { description: "The task", schema: s.redriveResponse }, ...queueErrors },
    async handle({ principal, params }, { redriver }) {
      return respond(await redriver.task(principal, params.queue, params.taskId), (task) =>
        json(200, {
          taskId: task.id,
          status: task.status,
          redriven: task.redriven,
          remaining: task.remaining,
        }),
      );
    },
  }),
  route({
    name: "peekMessage",
    method: "GET",
    path: "/v1/queues/{queue}/messages/{messageId}",
    summary: "A message and its state, without leasing it",
    tag: "Messages",
    params: s.messageParams,
    responses: { 200: { description: "The message", schema: s.messageResponse }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await messages.peek(context, principal, params.queue, params.messageId), (message) =>
        json(200, presentMessage(message, context.clock.now())),
      );
    },
  }),
  route({
    name: "ack",
    method: "POST",
    path: "/v1/queues/{queue}/messages/{messageId}/ack",
    summary: "Acknowledge (delete) a received message",
    tag: "Messages",
    params: s.messageParams,
    body: s.ackBody,
    responses: {
      204: { description: "Acked (again: still 204)" },
      ...problems(403, 404, 409),
    },
    async handle({ principal, params, body }, { context }) {
      const result = await messages.ack(context, principal, params.queue, params.messageId, body.leaseToken);
      return respond(result, noContent);
    },
  }),
  route({
    name: "nack",
    method: "POST",
    path: "/v1/queues/{queue}/messages/{messageId}/nack",
    summary: "Give a message back: redelivered after the backoff, or dead-lettered",
    tag: "Messages",
    params: s.messageParams,
    body: s.nackBody,
    responses: {
      204: { description: "Released or dead-lettered" },
      ...problems(403, 404, 409),
    },
    async handle({ principal, params, body }, { context }) {
      const { leaseToken, ...options } = body;
      const result = await messages.nack(
        context,
        principal,
        params.queue,
        params.messageId,
        leaseToken,
        options,
      );
      return respond(result, noContent);
    },
  }),
  route({
    name: "extendLease",
    method: "POST",
    path: "/v1/queues/{queue}/messages/{messageId}/lease",
    summary: "Extend or shorten a lease (0 releases the message)",
    tag: "Messages",
    params: s.messageParams,
    body: s.leaseBody,
    responses: { 200: { description: "The new lease expiry" }, ...problems(403, 404, 409) },
    async handle({ principal, params, body }, { context }) {
      const result = await messages.extendLease(
        context,
        principal,
        params.queue,
        params.messageId,
        body.leaseToken,
        body.visibilityTimeoutSeconds,
      );
      return respond(result, (message) =>
        json(200, { leaseExpiresAt: message.leaseExpiresAt?.toISOString() }),
      );
    },
  }),

  // Dead letters
  route({
    name: "browseMessages",
    method: "GET",
    path: "/v1/queues/{queue}/browse",
    summary: "Messages that are available, delayed or in flight, with their leases; nothing is leased",
    tag: "Messages",
    params: s.queueParams,
    query: s.browseQuery,
    responses: { 200: { description: "A page", schema: s.browseResponse }, ...queueErrors },
    async handle({ principal, params, query }, { context }) {
      const { attribute, value, ...page } = query;
      const request = { ...page, ...(attribute ? { attribute: { name: attribute, value } } : {}) };
      return respond(await explorer.browseMessages(context, principal, params.queue, request), (found) => {
        const now = context.clock.now();
        return json(200, {
          messages: found.items.map((message) => presentMessage(message, now)),
          ...(found.nextCursor ? { nextCursor: found.nextCursor } : {}),
        });
      });
    },
  }),
  route({
    name: "listDeadLetters",
    method: "GET",
    path: "/v1/queues/{queue}/dlq",
    summary: "Browse dead letters, oldest first",
    tag: "Dead letters",
    params: s.queueParams,
    query: s.pageQuery,
    responses: { 200: { description: "A page", schema: s.deadLettersResponse }, ...queueErrors },
    async handle({ principal, params, query }, { context }) {
      return respond(await deadLetters.listDeadLetters(context, principal, params.queue, query), (page) => {
        const now = context.clock.now();
        return json(200, {
          messages: page.items.map((message) => presentMessage(message, now)),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        });
      });
    },
  }),
  route({
    name: "purgeDeadLetters",
    method: "DELETE",
    path: "/v1/queues/{queue}/dlq",
    summary: "Delete every dead letter",
    tag: "Dead letters",
    params: s.queueParams,
    responses: { 200: { description: "How many were deleted" }, ...queueErrors },
    async handle({ principal, params }, { context }) {
      return respond(await deadLetters.purgeDeadLetters(context, principal, params.queue), (purged) =>
        json(200, { purged }),
      );
    },
  }),

  // Keys
  route({
    name: "createKey",
    method: "POST",
    path: "/v1/keys",
    summary: "Create an API key (shown once)",
    tag: "Keys",
    body: s.createKeyBody,
    responses: { 201: { description: "The key", schema: s.keyResponse }, ...problems(403) },
    async handle({ principal, body }, { context }) {
      return respond(await keys.createKey(context, principal, body), ({ record, key }) =>
        json(201, { ...presentKey(record), key }),
      );
    },
  }),
  route({
    name: "listKeys",
    method: "GET",
    path: "/v1/keys",
    summary: "The tenant's API keys, without secrets",
    tag: "Keys",
    query: s.pageQuery,
    responses: {
      200: { description: "A page", schema: s.listOf(s.keyResponse, "KeyPage") },
      ...problems(403),
    },
    async handle({ principal, query }, { context }) {
      return respond(await keys.listKeys(context, principal, query), (page) =>
        json(200, {
          items: page.items.map(presentKey),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        }),
      );
    },
  }),
  route({
    name: "deleteKey",
    method: "DELETE",
    path: "/v1/keys/{id}",
    summary: "Revoke an API key at once",
    tag: "Keys",
    params: s.keyParams,
    responses: { 204: { description: "Revoked" }, ...problems(403, 404) },
    async handle({ principal, params }, { context }) {
      return respond(await keys.deleteKey(context, principal, params.id), noContent);
    },
  }),
  ...topicRoutes(),
];

function serveFile(files: ReadStaticFile, path: string): Result<ApiResponse> {
  const file = files(path);
  if (!file) {
    return fail(
      "not_found",
      path === "index.html" ? "the console is not built: run npm run build" : `no console file ${path}`,
    );
  }
  return ok({
    status: 200,
    headers: {
      "content-type": file.contentType,
      "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    },
    body: file.body,
  });
}

function toEnqueueInput(
  { body, ...options }: z.infer<typeof s.messageInput>,
  plain: boolean,
): messages.EnqueueInput {
  return { ...options, bodyJson: jsonTextOf(body, plain) };
}

/** Each batch item is validated and enqueued on its own; the batch fails whole only when malformed. */
async function enqueueBatch(
  context: ServiceContext,
  principal: Principal,
  queueName: string,
  items: unknown[],
  plain: boolean,
): Promise<Result<ApiResponse>> {
  const parsed = items.map((item) => s.messageInput.safeParse(item));
  const valid = parsed.flatMap((item) => (item.success ? [toEnqueueInput(item.data, plain)] : []));
  const enqueued = await messages.enqueue(context, principal, queueName, valid);
  if (!enqueued.ok) return enqueued;
  let next = 0;
  const results = parsed.map((item, index) => {
    if (!item.success) {
      const error = problemOf({
        code: "validation_failed",
        detail: `message ${index} is not valid`,
        errors: item.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
      });
      return { index, status: 400, error };
    }
    const outcome = enqueued.value[next++] as Result<Enqueued>;
    if (!outcome.ok) return { index, status: statusOf(outcome.error.code), error: itemError(outcome.error) };
    const { message, duplicate } = outcome.value;
    return { index, status: duplicate ? 200 : 201, ...presentEnqueued(message, duplicate) };
  });
  return ok(json(200, { results }));
}
