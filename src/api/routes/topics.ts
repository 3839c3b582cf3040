import { filterJson } from "../../domain/filter.js";
import type { Topic } from "../../domain/topic.js";
import * as topics from "../../service/topics.js";
import * as q from "../schemas/index.js";
import * as s from "../schemas/topics.js";
import { sendMessages, sentResponses } from "./batch.js";
import { pageOf, problems, respond, routesNamed, taggedRoute } from "./route.js";

const topicRoute = taggedRoute("Topics");
const topicErrors = problems(403, 404);
// Declared outside the route: spread inline into `responses`, a call's result is lost to tsc's inference of
// the route's answers, and `reply` would take no status.
const publishResponses = {
  ...sentResponses("Published", s.publishResponse, s.publishOkResponse),
  ...topicErrors,
};

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

const createTopic = topicRoute("POST /v1/topics", {
  summary: "Create a topic (admin)",
  body: s.createTopicBody,
  responses: { 201: { description: "Created", schema: s.topicResponse }, ...problems(403, 409) },
  async handle({ principal, body }, { topics: context }, reply) {
    return respond(await topics.createTopic(context, principal, body), (topic) =>
      reply(201, presentTopic(topic)),
    );
  },
});

const listTopics = topicRoute("GET /v1/topics", {
  summary: "List the tenant's topics the caller holds a grant on",
  query: q.pageQuery,
  responses: { 200: { description: "A page", schema: q.listOf(s.topicResponse, "TopicPage") } },
  async handle({ principal, query }, { topics: context }, reply) {
    return respond(await topics.listTopics(context, principal, query), (page) =>
      reply(200, pageOf(page, presentTopic)),
    );
  },
});

const getTopic = topicRoute("GET /v1/topics/{topic}", {
  summary: "A topic with its subscriptions and stats",
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

const deleteTopic = topicRoute("DELETE /v1/topics/{topic}", {
  summary: "Delete a topic and its subscriptions (never the subscribed queues)",
  responses: { 204: { description: "Deleted" }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.deleteTopic(context, principal, params.topic), () => reply(204));
  },
});

const listSubscriptions = topicRoute("GET /v1/topics/{topic}/subscriptions", {
  summary: "The topic's subscriptions with their filters and counts",
  responses: { 200: { description: "The list", schema: s.subscriptionListResponse }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.listSubscriptions(context, principal, params.topic), (views) =>
      reply(200, { items: views.map(presentSubscription) }),
    );
  },
});

const putSubscription = topicRoute("PUT /v1/topics/{topic}/subscriptions/{name}", {
  summary: "Create (201) or replace (200) a subscription: manage on the topic and on the queue",
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

const getSubscription = topicRoute("GET /v1/topics/{topic}/subscriptions/{name}", {
  summary: "A subscription with its filter and counts",
  responses: { 200: { description: "The subscription", schema: s.subscriptionResponse }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.getSubscription(context, principal, params.topic, params.name), (view) =>
      reply(200, presentSubscription(view)),
    );
  },
});

const deleteSubscription = topicRoute("DELETE /v1/topics/{topic}/subscriptions/{name}", {
  summary: "Unsubscribe: messages published afterwards no longer reach the queue",
  responses: { 204: { description: "Deleted" }, ...topicErrors },
  async handle({ principal, params }, { topics: context }, reply) {
    return respond(await topics.deleteSubscription(context, principal, params.topic, params.name), () =>
      reply(204),
    );
  },
});

const publish = topicRoute("POST /v1/topics/{topic}/messages", {
  summary:
    "Publish one message, or a batch of up to 100 as { messages: [...] }, to every matching subscription",
  headers: q.idempotencyHeaders,
  body: q.enqueueBody,
  responses: publishResponses,
  async handle({ principal, params, headers, body, rawBody }, { topics: context }, reply) {
    const sent = await sendMessages(
      { body, rawBody, idempotencyKey: headers["idempotency-key"] },
      (inputs, idempotencyKey) => topics.publish(context, principal, params.topic, inputs, idempotencyKey),
      (outcome) => outcome,
    );
    return respond(sent, (answer) =>
      answer.status === 201 ? reply(201, answer.body) : reply(200, answer.body),
    );
  },
});

/** The routes of docs/api.md "Topics and subscriptions". */
export const topicRoutes = routesNamed({
  createTopic,
  listTopics,
  getTopic,
  deleteTopic,
  listSubscriptions,
  putSubscription,
  getSubscription,
  deleteSubscription,
  publish,
});
