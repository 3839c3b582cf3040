import type { z } from "zod";
import type * as q from "../api/schemas/index.js";
import type * as s from "../api/schemas/topics.js";
import { apiErrorOf } from "./errors.js";
import type { RawResponse } from "./index.js";

/** Typed calls of the topic routes (docs/api.md "Topics and subscriptions"); `client.topics` on a ConveyorClient. */

export type CreateTopicRequest = z.input<typeof s.createTopicBody>;
export type TopicView = z.output<typeof s.topicResponse>;
export type TopicDetailView = z.output<typeof s.topicDetailResponse>;
export type SubscriptionView = z.output<typeof s.subscriptionResponse>;
export type PutSubscriptionRequest = z.input<typeof s.putSubscriptionBody>;
export type PublishedView = z.output<typeof s.publishResponse>;
export type PublishBatchView = z.output<typeof s.publishBatchResponse>;
type MessageRequest = z.input<typeof q.messageInput>;

interface Raw {
  raw(
    method: string,
    path: string,
    init?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<RawResponse>;
}

const topicPath = (name: string) => `/v1/topics/${encodeURIComponent(name)}`;
const subscriptionPath = (topic: string, name: string) =>
  `${topicPath(topic)}/subscriptions/${encodeURIComponent(name)}`;

export class TopicsClient {
  constructor(private readonly http: Raw) {}

  private async call<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const response = await this.http.raw(method, path, init);
    if (response.status >= 400) throw apiErrorOf(response);
    return response.body as T;
  }

  create(request: CreateTopicRequest): Promise<TopicView> {
    return this.call("POST", "/v1/topics", { body: request });
  }

  list(page: { limit?: number; cursor?: string } = {}): Promise<{ items: TopicView[]; nextCursor?: string }> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set("limit", String(page.limit));
    if (page.cursor !== undefined) query.set("cursor", page.cursor);
    const suffix = query.size > 0 ? `?${query}` : "";
    return this.call("GET", `/v1/topics${suffix}`);
  }

  get(name: string): Promise<TopicDetailView> {
    return this.call("GET", topicPath(name));
  }

  async delete(name: string): Promise<void> {
    await this.call("DELETE", topicPath(name));
  }

  /** Creates or replaces the subscription; `created` says which. */
  async subscribe(
    topic: string,
    name: string,
    request: PutSubscriptionRequest,
  ): Promise<SubscriptionView & { created: boolean }> {
    const response = await this.http.raw("PUT", subscriptionPath(topic, name), { body: request });
    if (response.status >= 400) throw apiErrorOf(response);
    return { ...(response.body as SubscriptionView), created: response.status === 201 };
  }

  subscription(topic: string, name: string): Promise<SubscriptionView> {
    return this.call("GET", subscriptionPath(topic, name));
  }

  async subscriptions(topic: string): Promise<SubscriptionView[]> {
    return (await this.call<{ items: SubscriptionView[] }>("GET", `${topicPath(topic)}/subscriptions`)).items;
  }

  async unsubscribe(topic: string, name: string): Promise<void> {
    await this.call("DELETE", subscriptionPath(topic, name));
  }

  /** One message; `idempotencyKey` makes a retry inside the topic's window a duplicate. */
  publish(
    topic: string,
    message: MessageRequest,
    options: { idempotencyKey?: string } = {},
  ): Promise<PublishedView> {
    const headers = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : undefined;
    return this.call("POST", `${topicPath(topic)}/messages`, {
      body: message,
      ...(headers ? { headers } : {}),
    });
  }

  /** Up to 100 messages, each with its own result. */
  publishBatch(topic: string, messages: MessageRequest[]): Promise<PublishBatchView> {
    return this.call("POST", `${topicPath(topic)}/messages`, { body: { messages } });
  }
}
