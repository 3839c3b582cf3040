import { ok } from "../../domain/errors.js";
import { openQueue } from "../../service/context.js";
import { streamQueueEvents } from "../../service/events.js";
import * as metrics from "../../service/metrics.js";
import * as queues from "../../service/queues.js";
import { presentQueue } from "../present.js";
import * as s from "../schemas/index.js";
import { pageOf, problem, problems, respond, routesNamed, taggedRoute } from "./route.js";

const queueRoute = taggedRoute("Queues");
const queueErrors = problems(403, 404);

const createQueue = queueRoute("POST /v1/queues", {
  summary: "Create a queue",
  body: s.createQueueBody,
  responses: { 201: { description: "Created", schema: s.queueResponse }, ...problems(403, 409) },
  async handle({ principal, body }, { context }, reply) {
    return respond(await queues.createQueue(context, principal, body), ({ queue, signingSecret }) =>
      reply(201, presentQueue(queue, signingSecret)),
    );
  },
});

const listQueues = queueRoute("GET /v1/queues", {
  summary: "List the tenant's queues the caller holds a grant on",
  query: s.pageQuery,
  responses: { 200: { description: "A page", schema: s.queuePageResponse } },
  async handle({ principal, query }, { context }, reply) {
    return respond(await queues.listQueues(context, principal, query), (page) =>
      reply(
        200,
        pageOf(page, (queue) => presentQueue(queue)),
      ),
    );
  },
});

const getQueue = queueRoute("GET /v1/queues/{queue}", {
  summary: "A queue with its stats and what the caller may do on it",
  responses: { 200: { description: "The queue", schema: s.queueDetailResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await queues.getQueue(context, principal, params.queue), ({ queue, stats, grants }) =>
      reply(200, { ...presentQueue(queue), stats, grants }),
    );
  },
});

const updateQueue = queueRoute("PATCH /v1/queues/{queue}", {
  summary: "Change a queue's settings (not its name or ordering)",
  body: s.updateQueueBody,
  responses: { 200: { description: "The updated queue", schema: s.queueResponse }, ...queueErrors },
  async handle({ principal, params, body }, { context }, reply) {
    return respond(
      await queues.updateQueue(context, principal, params.queue, body),
      ({ queue, signingSecret }) => reply(200, presentQueue(queue, signingSecret)),
    );
  },
});

const deleteQueue = queueRoute("DELETE /v1/queues/{queue}", {
  summary: "Delete a queue with its messages and dead letters",
  responses: { 204: { description: "Deleted" }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await queues.deleteQueue(context, principal, params.queue), () => reply(204));
  },
});

const queueEvents = queueRoute("GET /v1/queues/{queue}/events", {
  summary: "Server-Sent Events: message.dead_lettered, queue.stats and queue.backlog (local host)",
  responses: {
    200: { description: "The queue's live events", contentType: "text/event-stream" },
    501: problem("This host carries live events through Web PubSub: see .../events/negotiate"),
    ...queueErrors,
  },
  async handle({ principal, params }, { context, events }, reply) {
    return respond(await streamQueueEvents(context, events, principal, params.queue), (stream) =>
      reply(
        200,
        { stream },
        { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" },
      ),
    );
  },
});

const negotiateQueueEvents = queueRoute("GET /v1/queues/{queue}/events/negotiate", {
  summary: "Where to connect for the queue's live events (SSE locally, Web PubSub on Azure)",
  responses: { 200: { description: "Where to connect", schema: s.negotiateResponse }, ...queueErrors },
  async handle({ principal, params }, { context, events }, reply) {
    const opened = await openQueue(context, principal, params.queue, "read");
    if (!opened.ok) return opened;
    const streamPath = `/v1/queues/${encodeURIComponent(params.queue)}/events`;
    return ok(reply(200, await events.negotiate(principal.tenantId, opened.value.id, streamPath)));
  },
});

const queueStats = queueRoute("GET /v1/queues/{queue}/stats", {
  summary: "Message counts and totals",
  responses: { 200: { description: "Stats", schema: s.statsResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await queues.queueStats(context, principal, params.queue), (stats) => reply(200, stats));
  },
});

const queueMetrics = queueRoute("GET /v1/queues/{queue}/metrics", {
  summary: "The queue's stats over the last hour at most, for charts: samples kept by the store, then now",
  query: s.metricsQuery,
  responses: { 200: { description: "The history", schema: s.metricsResponse }, ...queueErrors },
  async handle({ principal, params, query }, { context }, reply) {
    return respond(await metrics.statsHistory(context, principal, params.queue, query.minutes), (history) =>
      reply(200, {
        sampleEverySeconds: history.sampleEverySeconds,
        points: history.points.map(({ at, ...stats }) => ({ at: at.toISOString(), ...stats })),
      }),
    );
  },
});

export const queueRoutes = routesNamed({
  createQueue,
  listQueues,
  getQueue,
  updateQueue,
  deleteQueue,
  queueEvents,
  negotiateQueueEvents,
  queueStats,
  queueMetrics,
});
