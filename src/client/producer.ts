import { v7 as uuidv7 } from "uuid";
import { LIMITS } from "../domain/limits.js";
import { Batcher } from "./batcher.js";
import {
  apiErrorOf,
  ConveyorApiError,
  DEFAULT_RETRY,
  isRetryableStatus,
  type RetryOptions,
  retryDelayMs,
  sleep,
} from "./errors.js";
import type { BatchResultView, ConveyorClient, EnqueuedView, MessageRequest } from "./index.js";

export type ProducerMessage<T> = Omit<MessageRequest, "body"> & { body: T };

export interface ProducerOptions {
  /** How long a send waits for others to join its batch (default 0: the next turn of the event loop). */
  lingerMs?: number;
  /** Messages a batch (at most the API's 100). */
  maxBatchMessages?: number;
  /** Request body bytes a batch (default 1 MiB, at most the API's 4 MiB); a larger message goes alone. */
  maxBatchBytes?: number;
  /** Batch requests in flight at once (default 4); what comes meanwhile waits for the next batch. */
  maxInFlight?: number;
  /**
   * Give each message without a `deduplicationId` a unique one, so a retry
   * is a duplicate the server drops (default true). On a fifo queue it takes
   * the place of the content-based key: turn it off to keep that.
   */
  generateDeduplicationIds?: boolean;
  /** Retries on 429, 502-504 and no answer; `false` for none. */
  retry?: RetryOptions | false;
}

interface Pending {
  json: string;
  bytes: number;
  generatedId: boolean;
  resolve(view: EnqueuedView): void;
  reject(error: unknown): void;
}

type BatchItem = BatchResultView["results"][number] & { enqueuedAt?: string; visibleAt?: string };

const ENVELOPE = '{"messages":[]}'.length;
const encoder = new TextEncoder();
/** A string's UTF-8 length: Node counts it without making the bytes; a browser has to encode it. */
const utf8Bytes = (text: string): number =>
  typeof Buffer === "undefined" ? encoder.encode(text).byteLength : Buffer.byteLength(text, "utf8");

/**
 * Sends messages to one queue, coalescing concurrent `send`s into batch
 * requests. Each `send` resolves with its own message's result or rejects
 * with its own error; a message the server refuses fails only its promise.
 * Retries resend the same deduplication ids, so inside the queue's
 * deduplication window a retry of a request that did land is answered as
 * the original instead of enqueued twice.
 */
export class Producer<T = unknown> {
  private readonly batcher: Batcher<Pending>;
  private readonly path: string;
  private readonly retry: Required<RetryOptions> | undefined;
  private readonly generateIds: boolean;

  constructor(
    private readonly client: ConveyorClient,
    readonly queueName: string,
    options: ProducerOptions = {},
  ) {
    this.path = `/v1/queues/${encodeURIComponent(queueName)}/messages`;
    this.retry = options.retry === false ? undefined : { ...DEFAULT_RETRY, ...options.retry };
    this.generateIds = options.generateDeduplicationIds ?? true;
    this.batcher = new Batcher({
      maxItems: clamp(options.maxBatchMessages ?? LIMITS.batchSize, LIMITS.batchSize),
      maxBytes: clamp(options.maxBatchBytes ?? 1024 * 1024, LIMITS.requestBodyBytes) - ENVELOPE,
      sizeOf: (item) => item.bytes,
      lingerMs: options.lingerMs ?? 0,
      maxInFlight: Math.max(1, options.maxInFlight ?? 4),
      run: (items) => this.sendBatch(items),
    });
  }

  send(message: ProducerMessage<T>): Promise<EnqueuedView> {
    return new Promise((resolve, reject) => {
      const generatedId = this.generateIds && message.deduplicationId === undefined;
      // Time-ordered (UUIDv7), as message ids are: the server indexes deduplication keys, and random ones
      // land on random index pages. docs/performance.md has the cost: about 85 µs of server CPU a message
      // with random ids, 64 with time-ordered ones, 57 with none.
      const json = JSON.stringify(generatedId ? { ...message, deduplicationId: uuidv7() } : message);
      // A comma joins it to the others.
      this.batcher.add({ json, bytes: utf8Bytes(json) + 1, generatedId, resolve, reject });
    });
  }

  /** Resolves once every send made so far has its answer. */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    const started = Date.now();
    let items = batch;
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const response = await this.client.raw("POST", this.path, {
          rawBody: `{"messages":[${items.map((item) => item.json).join(",")}]}`,
          headers: { "content-type": "application/json" },
        });
        if (response.status !== 200) throw apiErrorOf(response);
        const again: Pending[] = [];
        for (const result of (response.body as { results: BatchItem[] }).results) {
          const item = items[result.index] as Pending;
          if (result.status < 300) item.resolve(enqueuedView(result, item.generatedId));
          else {
            const error = new ConveyorApiError(
              result.status,
              result.error?.code ?? "http_error",
              result.error,
              response.headers,
            );
            if (isRetryableStatus(result.status)) {
              again.push(item);
              failure = error;
            } else item.reject(error);
          }
        }
        if (again.length === 0) return;
        items = again;
      } catch (error) {
        failure = error;
      }
      const delay = this.retry && retryDelayMs(failure, attempt, this.retry);
      if (delay === undefined || !this.retry || Date.now() + delay - started > this.retry.maxElapsedMs) {
        for (const item of items) item.reject(failure);
        return;
      }
      await sleep(delay);
    }
  }
}

function enqueuedView(result: BatchItem, generatedId: boolean): EnqueuedView {
  return {
    messageId: result.messageId as string,
    sequence: result.sequence as number,
    enqueuedAt: result.enqueuedAt as string,
    visibleAt: result.visibleAt as string,
    // A duplicate of an id this producer made up can only be an earlier attempt of this same send that landed.
    duplicate: generatedId ? false : result.duplicate === true,
  };
}

const clamp = (value: number, max: number) => Math.max(1, Math.min(value, max));
