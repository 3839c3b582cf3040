import * as deadLetters from "../../service/dead-letters.js";
import { presentMessage } from "../present.js";
import * as s from "../schemas/index.js";
import { cursorOf, problems, type Route, respond, route } from "./route.js";

const queueErrors = problems(403, 404);

export const redrive = route({
  name: "redrive",
  method: "POST",
  path: "/v1/queues/{queue}/messages/retry",
  summary: "Return dead letters to the queue (by id, or all)",
  tag: "Dead letters",
  params: s.queueParams,
  body: s.redriveBody,
  responses: {
    200: { description: "Redriven", schema: s.redriveResponse },
    202: { description: "The first 1000 redriven; the rest continues as a task", schema: s.redriveResponse },
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

export const redriveTask = route({
  name: "redriveTask",
  method: "GET",
  path: "/v1/queues/{queue}/tasks/{taskId}",
  summary: "Progress of a background redrive",
  tag: "Dead letters",
  params: s.taskParams,
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

export const listDeadLetters = route({
  name: "listDeadLetters",
  method: "GET",
  path: "/v1/queues/{queue}/dlq",
  summary: "Browse dead letters, oldest first",
  tag: "Dead letters",
  params: s.queueParams,
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

export const purgeDeadLetters = route({
  name: "purgeDeadLetters",
  method: "DELETE",
  path: "/v1/queues/{queue}/dlq",
  summary: "Delete every dead letter",
  tag: "Dead letters",
  params: s.queueParams,
  responses: { 200: { description: "How many were deleted", schema: s.purgedResponse }, ...queueErrors },
  async handle({ principal, params }, { context }, reply) {
    return respond(await deadLetters.purgeDeadLetters(context, principal, params.queue), (purged) =>
      reply(200, { purged }),
    );
  },
});

export const deadLetterRoutes: Route[] = [redrive, redriveTask, listDeadLetters, purgeDeadLetters];
