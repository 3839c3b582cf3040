import type { z } from "zod";
import { ok, type Result } from "../../domain/errors.js";
import { filterJson } from "../../domain/filter.js";
import type { Topic } from "../../domain/topic.js";
import type { EnqueueInput } from "../../service/messages.js";
import * as topics from "../../service/topics.js";
import type { ApiResponse } from "../http.js";
import { hasNoEscapes, jsonTextOf } from "../json-text.js";
import { problemOf, statusOf } from "../problem.js";
import { type AnyRoute, type RouteResponseDoc, route } from "../routes.js";
import * as s from "../schemas/topics.js";
import * as q from "../schemas.js";

const problems = (...statuses: number[]): Record<number, RouteResponseDoc> =>
  Object.fromEntries(
    statuses.map((status) => [status, { description: "Problem", schema: q.problemResponse }]),
  );
const topicErrors = problems(403, 404);
const json = (status: number, body: unknown): ApiResponse => ({ status, headers: {}, body });
const noContent = (): ApiResponse => ({ status: 204, headers: {} });

const respond = async <T>(result: Promise<Result<T>>, toResponse: (value: T) => ApiResponse) => {
  const settled = await result;
  return settled.ok ? ok(toResponse(settled.value)) : settled;
};

export function presentTopic(topic: Topic) {
  const { tenantId: _tenant, id, name, access, deduplicationWindowSeconds, createdAt, updatedAt } = topic;
  return {
    id,
    name,
    access,
    deduplicationWindowSeconds,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  };
}

export function presentSubscription({ subscription, stats }: topics.SubscriptionView) {
  return {
    name: subscription.name,
    queue: subscription.queueName,
    filter: subscription.filter === null ? null : filterJson(subscription.filter),
    createdAt: subscription.createdAt.toISOString(),
    updatedAt: subscription.updatedAt.toISOString(),
    stats,
  };
}

const toInput = ({ body, ...options }: z.infer<typeof q.messageInput>, plain: boolean): EnqueueInput => ({
  ...options,
  bodyJson: jsonTextOf(body, plain),
});

/** The routes of docs/api.md "Topics and subscriptions"; a function, so it runs once `route` is defined. */
export const topicRoutes = (): AnyRoute[] => [
  route({
    name: "createTopic",
    method: "POST",
    path: "/v1/topics",
    summary: "Create a topic (admin)",
    tag: "Topics",
    body: s.createTopicBody,
    responses: { 201: { description: "Created", schema: s.topicResponse }, ...problems(403, 409) },
    handle: ({ principal, body }, { topics: context }) =>
      respond(topics.createTopic(context, principal, body), (topic) => json(201, presentTopic(topic))),
  }),
  route({
    name: "listTopics",
    method: "GET",
    path: "/v1/topics",
    summary: "List the tenant's topics the caller holds a grant on",
    tag: "Topics",
    query: q.pageQuery,
    responses: {
      200: { description: "A page", schema: q.listOf(s.topicResponse, "TopicPage") },
    },
    handle: ({ principal, query }, { topics: context }) =>
      respond(topics.listTopics(context, principal, query), (page) =>
        json(200, {
          items: page.items.map(presentTopic),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        }),
      ),
  }),
  route({
    name: "getTopic",
    method: "GET",
    path: "/v1/topics/{topic}",
    summary: "A topic with its subscriptions and stats",
    tag: "Topics",
    params: s.topicParams,
    responses: { 200: { description: "The topic", schema: s.topicDetailResponse }, ...topicErrors },
    handle: ({ principal, params }, { topics: context }) =>
      respond(topics.getTopic(context, principal, params.topic), (view) =>
        json(200, {
          ...presentTopic(view.topic),
          subscriptions: view.subscriptions.map(presentSubscription),
          stats: view.stats,
          grants: view.grants,
        }),
      ),
  }),
  route({
    name: "deleteTopic",
    method: "DELETE",
    path: "/v1/topics/{topic}",
    summary: "Delete a topic and its subscriptions (never the subscribed queues)",
    tag: "Topics",
    params: s.topicParams,
    responses: { 204: { description: "Deleted" }, ...topicErrors },
    handle: ({ principal, params }, { topics: context }) =>
      respond(topics.deleteTopic(context, principal, params.topic), noContent),
  }),
  route({
    name: "listSubscriptions",
    method: "GET",
    path: "/v1/topics/{topic}/subscriptions",
    summary: "The topic's subscriptions with their filters and counts",
    tag: "Topics",
    params: s.topicParams,
    responses: { 200: { description: "The list", schema: s.subscriptionListResponse }, ...topicErrors },
    handle: ({ principal, params }, { topics: context }) =>
      respond(topics.listSubscriptions(context, principal, params.topic), (views) =>
        json(200, { items: views.map(presentSubscription) }),
      ),
  }),
  route({
    name: "putSubscription",
    method: "PUT",
    path: "/v1/topics/{topic}/subscriptions/{name}",
    summary: "Create (201) or replace (200) a subscription: manage on the topic and on the queue",
    tag: "Topics",
    params: s.subscriptionParams,
    body: s.putSubscriptionBody,
    responses: {
      201: { description: "Created", schema: s.subscriptionResponse },
      200: { description: "Replaced", schema: s.subscriptionResponse },
      ...problems(403, 404, 409),
    },
    handle: ({ principal, params, body }, { topics: context }) =>
      respond(
        topics.putSubscription(context, principal, params.topic, params.name, body),
        ({ view, created }) => json(created ? 201 : 200, presentSubscription(view)),
      ),
  }),
  route({
    name: "getSubscription",
    method: "GET",
    path: "/v1/topics/{topic}/subscriptions/{name}",
    summary: "A subscription with its filter and counts",
    tag: "Topics",
    params: s.subscriptionParams,
    responses: { 200: { description: "The subscription", schema: s.subscriptionResponse }, ...topicErrors },
    handle: ({ principal, params }, { topics: context }) =>
      respond(topics.getSubscription(context, principal, params.topic, params.name), (view) =>
        json(200, presentSubscription(view)),
      ),
  }),
  route({
    name: "deleteSubscription",
    method: "DELETE",
    path: "/v1/topics/{topic}/subscriptions/{name}",
    summary: "Unsubscribe: messages published afterwards no longer reach the queue",
    tag: "Topics",
    params: s.subscriptionParams,
    responses: { 204: { description: "Deleted" }, ...topicErrors },
    handle: ({ principal, params }, { topics: context }) =>
      respond(topics.deleteSubscription(context, principal, params.topic, params.name), noContent),
  }),
  route({
    name: "publish",
    method: "POST",
    path: "/v1/topics/{topic}/messages",
    summary:
      "Publish one message, or a batch of up to 100 as { messages: [...] }, to every matching subscription",
    tag: "Topics",
    params: s.topicParams,
    body: q.enqueueBody,
    responses: {
      201: { description: "Published", schema: s.publishResponse },
      200: { description: "A duplicate inside the window (single) or the batch's per-item results" },
      ...topicErrors,
    },
    async handle({ principal, params, body, rawBody, request }, { topics: context }) {
      const plain = hasNoEscapes(rawBody);
      if ("messages" in body) return publishBatch(context, principal, params.topic, body.messages, plain);
      const result = await topics.publish(
        context,
        principal,
        params.topic,
        [toInput(body, plain)],
        request.headers["idempotency-key"],
      );
      if (!result.ok) return result;
      const [item] = result.value;
      if (!item?.ok) return item as Extract<Result<never>, { ok: false }>;
      return ok(json(item.value.duplicate ? 200 : 201, item.value));
    },
  }),
];

/** Each item is validated and published on its own; the batch fails whole only when malformed. */
async function publishBatch(
  context: topics.TopicContext,
  principal: Parameters<typeof topics.publish>[1],
  topicName: string,
  items: unknown[],
  plain: boolean,
): Promise<Result<ApiResponse>> {
  const parsed = items.map((item) => q.messageInput.safeParse(item));
  const valid = parsed.flatMap((item) => (item.success ? [toInput(item.data, plain)] : []));
  const published = await topics.publish(context, principal, topicName, valid);
  if (!published.ok) return published;
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
    const outcome = published.value[next++] as Result<topics.PublishOutcome>;
    if (!outcome.ok) return { index, status: statusOf(outcome.error.code), error: problemOf(outcome.error) };
    return { index, status: outcome.value.duplicate ? 200 : 201, ...outcome.value };
  });
  return ok(json(200, { results }));
}
