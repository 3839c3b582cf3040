import type { z } from "zod";
import type * as s from "../api/schemas/index.js";
import { type ConsumeOptions, type Consumer, type Handler, QueueConsumer } from "./consumer.js";
import { apiErrorOf, ConveyorApiError, ConveyorError } from "./errors.js";
import { nodeFetch } from "./node-fetch.js";
import { Producer, type ProducerOptions } from "./producer.js";
import { TopicsClient } from "./topics.js";

export type { ConsumeOptions, Consumer, ConsumerErrorContext, Handler } from "./consumer.js";
export { ConveyorApiError, ConveyorError, type RetryOptions } from "./errors.js";
export { Producer, type ProducerMessage, type ProducerOptions } from "./producer.js";

/**
 * A typed client for Conveyor's HTTP API v1. Request types come from the
 * same zod schemas the server validates with; failures throw
 * `ConveyorApiError` carrying the problem document's stable `code`, or
 * `ConveyorError` when no answer came. `producer` and `consume` are the
 * batching, retrying ways to send and to process messages.
 */

export type CreateQueueRequest = z.input<typeof s.createQueueBody>;
export type UpdateQueueRequest = z.input<typeof s.updateQueueBody>;
export type MessageRequest = z.input<typeof s.messageInput>;
export type NackRequest = Omit<z.input<typeof s.nackBody>, "leaseToken">;
export type SettleRequest = z.input<typeof s.settleBody>;
export type RedriveRequest = z.input<typeof s.redriveBody>;
export type CreateKeyRequest = z.input<typeof s.createKeyBody>;
export type PageRequest = z.input<typeof s.pageQuery>;
export type ReceiveRequest = z.input<typeof s.receiveQuery>;
export type BrowseRequest = z.input<typeof s.browseQuery>;
export type MetricsRequest = z.input<typeof s.metricsQuery>;

export type QueueView = z.output<typeof s.queueResponse>;
export type QueuePageView = z.output<typeof s.queuePageResponse>;
export type QueueStatsView = z.output<typeof s.statsResponse>;
export type QueueDetailView = z.output<typeof s.queueDetailResponse>;
export type QueueMetricsView = z.output<typeof s.metricsResponse>;
export type NegotiationView = z.output<typeof s.negotiateResponse>;
export type MessagePageView = z.output<typeof s.browseResponse>;
export type EnqueuedView = z.output<typeof s.enqueueResponse>;
export type BatchResultView = z.output<typeof s.batchResponse>;
/** A leased message, its body typed as the consumer expects it. */
export type ReceivedMessage<T = unknown> = Omit<
  z.output<typeof s.receivedResponse>["messages"][number],
  "body"
> & { body: T };
export type MessageView = z.output<typeof s.messageResponse>;
export type LeaseView = z.output<typeof s.leaseResponse>;
export type SettleResultView = z.output<typeof s.settleResponse>;
export type PurgedView = z.output<typeof s.purgedResponse>;
export type DeadLettersView = z.output<typeof s.deadLettersResponse>;
export type RedriveView = z.output<typeof s.redriveResponse>;
export type KeyView = z.output<typeof s.keyResponse>;
export type KeyPageView = z.output<typeof s.keyPageResponse>;
export type CreatedKeyView = z.output<typeof s.createdKeyResponse>;
export type ProblemView = z.output<typeof s.problemResponse>;
export type HealthView = z.output<typeof s.healthResponse>;

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:7071` */
  baseUrl: string;
  /** A bearer JWT or an API key. */
  token?: string;
  fetch?: typeof fetch;
  /** How long a request may take before it fails with `ConveyorError` `timeout` (default 30 s; a receive adds its wait). */
  timeoutMs?: number;
}

export class ConveyorClient {
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  /** Topics and subscriptions: publish once, fan out to queues. */
  readonly topics: TopicsClient = new TopicsClient(this);

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? defaultFetch();
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A producer for one queue: concurrent sends go out as batches, with retries that never double a message. */
  producer<T = unknown>(queueName: string, options?: ProducerOptions): Producer<T> {
    return new Producer<T>(this, queueName, options);
  }

  /** Runs `handler` on the queue's messages until stopped; see `ConsumeOptions`. */
  consume<T = unknown>(queueName: string, handler: Handler<T>, options?: ConsumeOptions): Consumer {
    return new QueueConsumer<T>(this, queueName, handler, options);
  }

  /** Any request, with no error mapping: for status-level checks and routes this client lacks. */
  async raw(
    method: string,
    path: string,
    init: {
      body?: unknown;
      rawBody?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      timeoutMs?: number;
    } = {},
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.options.token && !("authorization" in headers))
      headers.authorization = `Bearer ${this.options.token}`;
    let body: string | undefined = init.rawBody;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const { response, text } = await this.exchange(`${this.baseUrl}${path}`, {
      method,
      headers,
      body,
      signal: init.signal,
      timeoutMs: init.timeoutMs,
    });
    let parsed: unknown = text;
    if (text && /json/.test(response.headers.get("content-type") ?? "")) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: text ? parsed : undefined };
  }

  /**
   * One fetch and its body, within the timeout; no answer is a
   * `ConveyorError` (`connection_failed` or `timeout`), while the caller's own
   * abort still rejects with the signal's reason. With `stream`, the timeout
   * covers only the response head and the body is left to the caller.
   */
  private async exchange(
    url: string,
    init: RequestInit & { timeoutMs?: number; stream?: boolean },
  ): Promise<{ response: Response; text: string }> {
    const { timeoutMs = this.timeoutMs, stream, signal: callerSignal, ...request } = init;
    const controller = new AbortController();
    const abort = () => controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) abort();
    callerSignal?.addEventListener("abort", abort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await this.fetch(url, { ...request, signal: controller.signal });
      return { response, text: stream ? "" : await response.text() };
    } catch (error) {
      if (timedOut)
        throw new ConveyorError(`no answer from ${url} in ${timeoutMs} ms`, "timeout", { cause: error });
      if (callerSignal?.aborted || !(error instanceof TypeError)) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? error.message;
      throw new ConveyorError(`cannot reach ${this.baseUrl}: ${why}`, "connection_failed", { cause: error });
    } finally {
      clearTimeout(timer);
      // A stream's body still reads through this controller: the caller's abort must keep reaching it.
      if (!stream) callerSignal?.removeEventListener("abort", abort);
    }
  }

  private async call<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T> {
    const response = await this.raw(method, path, init);
    if (response.status >= 400) throw apiErrorOf(response);
    return response.body as T;
  }

  /** Where to follow a queue's live events: `sse` (use `events`) or `webpubsub` (a Web PubSub client URL). */
  negotiateEvents(queueName: string): Promise<NegotiationView> {
    return this.call("GET", `${queuePath(queueName)}/events/negotiate`);
  }

  /**
   * A queue's live events (`queue.stats`, `message.dead_lettered`,
   * `queue.backlog`) as the local host streams them, until `signal` aborts
   * or the server ends the stream.
   */
  async *events(queueName: string, signal?: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
    const headers: Record<string, string> = this.options.token
      ? { authorization: `Bearer ${this.options.token}` }
      : {};
    const { response } = await this.exchange(`${this.baseUrl}${queuePath(queueName)}/events`, {
      headers,
      signal,
      stream: true,
    });
    if (response.status !== 200 || !response.body) {
      const problem = (await response.json().catch(() => undefined)) as ProblemView | undefined;
      throw new ConveyorApiError(response.status, problem?.code ?? "http_error", problem, response.headers);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (event && data) yield { event, data: JSON.parse(data) as unknown };
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
  }

  health(): Promise<HealthView> {
    return this.call("GET", "/v1/health");
  }

  openApi(): Promise<Record<string, unknown>> {
    return this.call("GET", "/v1/openapi.json");
  }

  createQueue(request: CreateQueueRequest): Promise<QueueView> {
    return this.call("POST", "/v1/queues", { body: request });
  }

  listQueues(page: PageRequest = {}): Promise<QueuePageView> {
    return this.call("GET", `/v1/queues${query(page)}`);
  }

  getQueue(name: string): Promise<QueueDetailView> {
    return this.call("GET", queuePath(name));
  }

  updateQueue(name: string, patch: UpdateQueueRequest): Promise<QueueView> {
    return this.call("PATCH", queuePath(name), { body: patch });
  }

  async deleteQueue(name: string): Promise<void> {
    await this.call("DELETE", queuePath(name));
  }

  stats(name: string): Promise<QueueStatsView> {
    return this.call("GET", `${queuePath(name)}/stats`);
  }

  send(
    queueName: string,
    message: MessageRequest,
    options: { idempotencyKey?: string } = {},
  ): Promise<EnqueuedView> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { "idempotency-key": options.idempotencyKey }
      : {};
    return this.call("POST", `${queuePath(queueName)}/messages`, { body: message, headers });
  }

  sendBatch(queueName: string, messages: MessageRequest[]): Promise<BatchResultView> {
    return this.call("POST", `${queuePath(queueName)}/messages`, { body: { messages } });
  }

  async receive<T = unknown>(
    queueName: string,
    options: ReceiveRequest & { signal?: AbortSignal } = {},
  ): Promise<ReceivedMessage<T>[]> {
    const { signal, ...params } = options;
    const result = await this.call<{ messages: ReceivedMessage<T>[] }>(
      "GET",
      `${queuePath(queueName)}/messages${query(params)}`,
      { signal, timeoutMs: this.timeoutMs + (params.wait ?? 0) * 1000 },
    );
    return result.messages;
  }

  async ack(queueName: string, messageId: string, leaseToken: string): Promise<void> {
    await this.call("POST", `${messagePath(queueName, messageId)}/ack`, { body: { leaseToken } });
  }

  async nack(
    queueName: string,
    messageId: string,
    leaseToken: string,
    options: NackRequest = {},
  ): Promise<void> {
    await this.call("POST", `${messagePath(queueName, messageId)}/nack`, {
      body: { leaseToken, ...options },
    });
  }

  extendLease(
    queueName: string,
    messageId: string,
    leaseToken: string,
    visibilityTimeoutSeconds: number,
  ): Promise<LeaseView> {
    return this.call("POST", `${messagePath(queueName, messageId)}/lease`, {
      body: { leaseToken, visibilityTimeoutSeconds },
    });
  }

  settle(queueName: string, request: SettleRequest): Promise<SettleResultView> {
    return this.call("POST", `${queuePath(queueName)}/messages/settle`, { body: request });
  }

  peek(queueName: string, messageId: string): Promise<MessageView> {
    return this.call("GET", messagePath(queueName, messageId));
  }

  purge(queueName: string): Promise<PurgedView> {
    return this.call("DELETE", `${queuePath(queueName)}/messages`);
  }

  /** The queue's stats history (samples kept by the server, then now), for charts. */
  metrics(queueName: string, request: MetricsRequest = {}): Promise<QueueMetricsView> {
    return this.call("GET", `${queuePath(queueName)}/metrics${query(request)}`);
  }

  /** The message explorer: available, delayed or in-flight messages, leasing nothing. */
  browse(queueName: string, request: BrowseRequest = {}): Promise<MessagePageView> {
    return this.call("GET", `${queuePath(queueName)}/browse${query(request)}`);
  }

  deadLetters(queueName: string, page: PageRequest = {}): Promise<DeadLettersView> {
    return this.call("GET", `${queuePath(queueName)}/dlq${query(page)}`);
  }

  redrive(queueName: string, request: RedriveRequest): Promise<RedriveView> {
    return this.call("POST", `${queuePath(queueName)}/messages/retry`, { body: request });
  }

  redriveTask(queueName: string, taskId: string): Promise<RedriveView> {
    return this.call("GET", `${queuePath(queueName)}/tasks/${encodeURIComponent(taskId)}`);
  }

  purgeDeadLetters(queueName: string): Promise<PurgedView> {
    return this.call("DELETE", `${queuePath(queueName)}/dlq`);
  }

  createKey(request: CreateKeyRequest): Promise<CreatedKeyView> {
    return this.call("POST", "/v1/keys", { body: request });
  }

  listKeys(page: PageRequest = {}): Promise<KeyPageView> {
    return this.call("GET", `/v1/keys${query(page)}`);
  }

  async deleteKey(id: string): Promise<void> {
    await this.call("DELETE", `/v1/keys/${encodeURIComponent(id)}`);
  }
}

let shared: typeof fetch | undefined;
/** In Node.js, one keep-alive node:http fetch for every client that brings none; elsewhere the global one. */
const defaultFetch = (): typeof fetch => {
  // Bound: browsers refuse a fetch called with any `this` but the global one.
  shared ??= nodeFetch() ?? globalThis.fetch.bind(globalThis);
  return shared as typeof fetch;
};

const queuePath = (name: string) => `/v1/queues/${encodeURIComponent(name)}`;
const messagePath = (queueName: string, messageId: string) =>
  `${queuePath(queueName)}/messages/${encodeURIComponent(messageId)}`;

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(([, value]) => value !== undefined) as [
    string,
    string | number,
  ][];
  return entries.length === 0
    ? ""
    : `?${new URLSearchParams(entries.map(([key, value]): [string, string] => [key, String(value)]))}`;
}
