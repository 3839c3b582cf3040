import type { Result } from "../../domain/errors.js";
import { filterJson } from "../../domain/filter.js";
import type { Topic } from "../../domain/topic.js";
import * as topics from "../../service/topics.js";
import { hasNoEscapes } from "../json-text.js";
import * as q from "../schemas/index.js";
import * as s from "../schemas/topics.js";
import { batchResults, messageInput, validInputs } from "./batch.js";
import { pageOf, problems, type Route, respond, route } from "./route.js";

const topicErrors = problems(403, 404);

export function presentTopic(topic: Topic) {
  const { id, name, access, deduplicationWindowSeconds, createdAt, updatedAt } = topic;
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

export const createTopic = route({
  name: "createTopic",
  method: "POST",
  path: "/v1/topics",
  summary: "Create a topic (admin)",
  tag: "Topics",
  body: s.createTopicBody,
  responses: { 201: { description: "Created", schema: s.topicResponse }, ...problems(403, 409) },
  async handle({ principal, body }, { topics: context }, reply) {
    return respond(await topics.createTopic(context, principal, body), (topic) =>
      reply(201, presentTopic(topic)),
    );
  },
});

export const listTopics = route({
  name: "listTopics",
  method: "GET",
  path: "/v1/topics",
  summary: "List the tenant's topics the caller holds a grant on",
  tag: "Topics",
  query: q.pageQuery,
  responses: { 200: { description: "A page", schema: q.listOf(s.topicResponse, "TopicPage") } },
  async handle({ principal, query }, { topics: context }, reply) {
    return respond(await topics.listTopics(context, principal, query), (page) =>
      reply(200, pageOf(page, presentTopic)),
    );
  },
});

export const getTopic = route({
  name: "getTopic",
  method: "GET",
  path: "/v1/topics/{topic}",
  summary: "A topic with its subscriptions and stats",
  tag: "Topics",
  params: s.topicParams,
  responses: { 200: { description: "The topic", schema: s.topicDetailResponse }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.getTopic(context, principal, params.topic), (view) =>
      reply(200, {
        ...presentTopic(view.topic),
        subscriptions: view.subscriptions.map(presentSubscription),
        stats: view.stats,
        grants: view.grants,
      }),
    );
  },
});

export const deleteTopic = route({
  name: "deleteTopic",
  method: "DELETE",
  path: "/v1/topics/{topic}",
  summary: "Delete a topic and its subscriptions (never the subscribed queues)",
  tag: "Topics",
  params: s.topicParams,
  responses: { 204: { description: "Deleted" }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.deleteTopic(context, principal, params.topic), () => reply(204));
  },
});

export const listSubscriptions = route({
  name: "listSubscriptions",
  method: "GET",
  path: "/v1/topics/{topic}/subscriptions",
  summary: "The topic's subscriptions with their filters and counts",
  tag: "Topics",
  params: s.topicParams,
  responses: { 200: { description: "The list", schema: s.subscriptionListResponse }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.listSubscriptions(context, principal, params.topic), (views) =>
      reply(200, { items: views.map(presentSubscription) }),
    );
  },
});

export const putSubscription = route({
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
  async handle({ principal, params, body }, { topics: context }, reply) {
    return respond(
      await topics.putSubscription(context, principal, params.topic, params.name, body),
      ({ view, created }) => reply(created ? 201 : 200, presentSubscription(view)),
    );
  },
});

export const getSubscription = route({
  name: "getSubscription",
  method: "GET",
  path: "/v1/topics/{topic}/subscriptions/{name}",
  summary: "A subscription with its filter and counts",
  tag: "Topics",
  params: s.subscriptionParams,
  responses: { 200: { description: "The subscription", schema: s.subscriptionResponse }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.getSubscription(context, principal, params.topic, params.name), (view) =>
      reply(200, presentSubscription(view)),
    );
  },
});

export const deleteSubscription = route({
  name: "deleteSubscription",
  method: "DELETE",
  path: "/v1/topics/{topic}/subscriptions/{name}",
  summary: "Unsubscribe: messages published afterwards no longer reach the queue",
  tag: "Topics",
  params: s.subscriptionParams,
  responses: { 204: { description: "Deleted" }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.deleteSubscription(context, principal, params.topic, params.name), () =>
      reply(204),
    );
  },
});

export const publish = route({
  name: "publish",
  method: "POST",
  path: "/v1/topics/{topic}/messages",
  summary:
    "Publish one message, or a batch of up to 100 as { messages: [...] }, to every matching subscription",
  tag: "Topics",
  params: s.topicParams,
  headers: q.idempotencyHeaders,
  body: q.enqueueBody,
  responses: {
    201: { description: "Published", schema: s.publishResponse },
    200: {
      description: "A duplicate inside the window (single), or the batch's per-item results",
      schema: s.publishOkResponse,
    },
    ...topicErrors,
  },
  async handle({ principal, params, headers, body, rawBody }, { topics: context }, reply) {
    const plain = hasNoEscapes(rawBody);
    if ("messages" in body) {
      const published = await topics.publish(
        context,
        principal,
        params.topic,
        validInputs(body.messages, plain),
      );
      return respond(published, (outcomes) =>
        reply(200, { results: batchResults(body.messages, outcomes, (outcome) => outcome) }),
      );
    }
    const idempotencyKey = headers["idempotency-key"];
    const result = await topics.publish(
      context,
      principal,
      params.topic,
      [messageInput(body, plain)],
      idempotencyKey,
    );
    if (!result.ok) return result;
    const [item] = result.value as [Result<topics.PublishOutcome>];
    return respond(item, (outcome) => reply(outcome.duplicate ? 200 : 201, outcome));
  },
});

/** The routes of docs/api.md "Topics and subscriptions". */
export const topicRoutes: Route[] = [
  createTopic,
  listTopics,
  getTopic,
  deleteTopic,
  listSubscriptions,
  putSubscription,
  getSubscription,
  deleteSubscription,
  publish,
];
