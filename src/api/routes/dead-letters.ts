import { LIMITS } from "../../domain/limits.js";
import * as deadLetters from "../../service/dead-letters.js";
import { presentMessage } from "../present.js";
import * as s from "../schemas/index.js";
import { cursorOf, problems, respond, routesNamed, taggedRoute } from "./route.js";

const deadLetterRoute = taggedRoute("Dead letters");
const queueErrors = problems(403, 404);

const redrive = deadLetterRoute("POST /v1/queues/{queue}/messages/retry", {
  summary: "Return dead letters to the queue (by id, or all)",
  body: s.redriveBody,
  responses: {
    200: { description: "Redriven", schema: s.redriveResponse },
    202: {
      description: `The first ${LIMITS.redriveChunk} redriven; the rest continues as a task`,
      schema: s.redriveResponse,
    },
    ...queueErrors,
  },
  async handle({ principal, params, body }, { redriver }, reply) {
    return respond(await redriver.redrive(principal, params.queue, body), ({ redriven, remaining, task }) =>
      task
        ? reply(
            202,
            { redriven, remaining, taskId: task.id, status: "running" },
            { location: `/v1/queues/${encodeURIComponent(params.queue)}/tasks/${task.id}` },
          )
        : reply(200, { redriven, remaining }),
    );
  },
});

const redriveTask = deadLetterRoute("GET /v1/queues/{queue}/tasks/{taskId}", {
  summary: "Progress of a background redrive",
  responses: { 200: { description: "The task", schema: s.redriveResponse }, ...queueErrors },
  async handle({ principal, params }, { redriver }, reply) {
    return respond(await redriver.task(principal, params.queue, params.taskId), (task) =>
      reply(200, {
        taskId: task.id,
        status: task.status,
        redriven: task.redriven,
        remaining: task.remaining,
      }),
    );
  },
});

const listDeadLetters = deadLetterRoute("GET /v1/queues/{queue}/dlq", {
  summary: "Browse dead letters, oldest first",
  query: s.pageQuery,
  responses: { 200: { description: "A page", schema: s.deadLettersResponse }, ...queueErrors },
  async handle({ principal, params, query }, { context }, reply) {
    return respond(await deadLetters.listDeadLetters(context, principal, params.queue, query), (page) => {
      const now = context.clock.now();
      return reply(200, {
        messages: page.items.map((message) => presentMessage(message, now)),
        ...cursorOf(page),
      });
    });
  },
});

const purgeDeadLetters = deadLetterRoute("DELETE /v1/queues/{queue}/dlq", {
  summary: "Delete every dead letter",
  responses: { 200: { description: "How many were deleted", schema: s.purgedResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await deadLetters.purgeDeadLetters(context, principal, params.queue), (purged) =>
      reply(200, { purged }),
    );
  },
});

export const deadLetterRoutes = routesNamed({ redrive, redriveTask, listDeadLetters, purgeDeadLetters });
