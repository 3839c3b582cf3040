import { LIMITS } from "../domain/limits.js";
import { Batcher } from "./batcher.js";
import {
  apiErrorOf,
  ConveyorApiError,
  DEFAULT_RETRY,
  type RetryOptions,
  retryDelayMs,
  sleep,
} from "./errors.js";
import type { ConveyorClient, NackRequest, ReceivedMessage, SettleResultView } from "./index.js";

export type Handler<T> = (
  message: ReceivedMessage<T>,
  /** `signal` aborts when the lease is lost: another consumer may have the message now. */
  context: { signal: AbortSignal },
) => unknown;

export interface ConsumerErrorContext {
  stage: "receive" | "handler" | "settle" | "lease";
  message?: ReceivedMessage<unknown>;
}

export interface ConsumeOptions {
  /** Handlers running at once (default 1). */
  concurrency?: number;
  /** Messages held, leased, beyond the running ones, so the next handler need not wait for a receive (default `concurrency`). */
  prefetch?: number;
  /**
   * The lease each receive takes and each renewal restores (default 30 s,
   * whatever the queue's setting). Leases are renewed at half of it while a
   * message is held, so it bounds only how soon a crashed consumer's messages
   * come back.
   */
  visibilityTimeoutSeconds?: number;
  /** Long-poll wait of each receive (default 20 s, the API's most). */
  waitSeconds?: number;
  /** Stops the consumer as `stop()` does. */
  signal?: AbortSignal;
  /** Every failure: a handler's throw, and receive, settle or lease renewal errors. Default `console.error`. */
  onError?: (error: unknown, context: ConsumerErrorContext) => void;
  /** The nack for a handler's throw (default: the queue's backoff, with the error recorded as `lastError`). */
  nack?: (error: unknown, message: ReceivedMessage<unknown>) => NackRequest;
  /** Retries of settle requests on 429, 502-504 and no answer. */
  retry?: RetryOptions;
}

export interface Consumer {
  /** Stop taking messages, release the prefetched ones, let running handlers finish; resolves as `stopped`. */
  stop(): Promise<void>;
  /** Resolves once stopped and every ack, nack and release has its answer. */
  readonly stopped: Promise<void>;
}

interface Held<T> {
  message: ReceivedMessage<T>;
  lease: AbortController;
  timer?: ReturnType<typeof setTimeout>;
  done: boolean;
}

const STOP_GRACE_MS = 1000;

type Settlement = { message: ReceivedMessage<unknown> } & ({ ack: true } | { ack: false; nack: NackRequest });

/**
 * Long-polls a queue and runs a handler per message: an ack when it returns,
 * a nack when it throws, both coalesced into settle requests. At most
 * `concurrency` handlers run and `concurrency + prefetch` messages are held.
 */
export class QueueConsumer<T> implements Consumer {
  readonly stopped: Promise<void>;
  private readonly buffered: Held<T>[] = [];
  private running = 0;
  private stopping = false;
  private readonly poll = new AbortController();
  private readonly halted = new AbortController();
  private pollGrace: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  private readonly settles: Batcher<Settlement>;
  private readonly concurrency: number;
  private readonly capacity: number;
  private readonly visibilitySeconds: number;
  private readonly waitSeconds: number;
  private readonly retry: Required<RetryOptions>;

  constructor(
    private readonly client: ConveyorClient,
    private readonly queueName: string,
    private readonly handler: Handler<T>,
    private readonly options: ConsumeOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.capacity = this.concurrency + Math.max(0, options.prefetch ?? this.concurrency);
    this.visibilitySeconds = options.visibilityTimeoutSeconds ?? LIMITS.visibilityTimeoutSeconds.default;
    // Refused here rather than by every receive the consumer would keep retrying.
    const { min, max } = LIMITS.visibilityTimeoutSeconds;
    if (
      !Number.isInteger(this.visibilitySeconds) ||
      this.visibilitySeconds < min ||
      this.visibilitySeconds > max
    )
      throw new RangeError(`visibilityTimeoutSeconds must be a whole number from ${min} to ${max}`);
    const wait = options.waitSeconds ?? LIMITS.waitSeconds.max;
    this.waitSeconds = wait;
    if (!Number.isInteger(wait) || wait < LIMITS.waitSeconds.min || wait > LIMITS.waitSeconds.max)
      throw new RangeError(
        `waitSeconds must be a whole number from ${LIMITS.waitSeconds.min} to ${LIMITS.waitSeconds.max}`,
      );
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.settles = new Batcher({
      maxItems: LIMITS.settleItems,
      maxBytes: Number.POSITIVE_INFINITY,
      sizeOf: () => 0,
      lingerMs: 0,
      // One settle in flight: what finishes meanwhile rides the next one.
      maxInFlight: 1,
      run: (items) => this.settle(items),
    });
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
    if (options.signal?.aborted) this.stopping = true;
    this.stopped = this.run();
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.halted.abort();
      // Cutting a receive short loses what the server leased for it until the lease runs out, so a
      // receive that is about to answer gets to; one parked in a long poll on an empty queue is cut.
      this.pollGrace = setTimeout(() => this.poll.abort(), STOP_GRACE_MS);
      this.wake?.();
      for (const held of this.buffered.splice(0)) this.release(held);
    }
    return this.stopped;
  }

  private async run(): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      const room = this.capacity - this.running - this.buffered.length;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      let messages: ReceivedMessage<T>[];
      try {
        messages = await this.client.receive<T>(this.queueName, {
          max: Math.min(room, LIMITS.receiveMax.max),
          wait: this.waitSeconds,
          visibilityTimeout: this.visibilitySeconds,
          signal: this.poll.signal,
        });
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        failures++;
        this.report(error, { stage: "receive" });
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (failures - 1));
        await sleep(retryDelayMs(error, failures, this.retry) ?? backoff, this.halted.signal);
        continue;
      }
      for (const message of messages) this.hold(message);
      this.dispatch();
    }
    clearTimeout(this.pollGrace);
    while (this.running > 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    await this.settles.flush();
  }

  private hold(message: ReceivedMessage<T>): void {
    const held: Held<T> = { message, lease: new AbortController(), done: false };
    // A receive answered just as the consumer stopped: its messages go straight back.
    if (this.stopping) {
      this.release(held);
      return;
    }
    this.buffered.push(held);
    this.renewLater(held, this.visibilitySeconds * 500);
  }

  private dispatch(): void {
    while (!this.stopping && this.running < this.concurrency) {
      const held = this.buffered.shift();
      if (!held) return;
      this.running++;
      void this.process(held);
    }
  }

  private async process(held: Held<T>): Promise<void> {
    const { message } = held;
    let settlement: Settlement = { message, ack: true };
    try {
      await this.handler(message, { signal: held.lease.signal });
    } catch (error) {
      this.report(error, { stage: "handler", message });
      const nack = this.options.nack?.(error, message) ?? { error: describe(error) };
      settlement = { message, ack: false, nack };
    }
    this.finish(held);
    if (!held.lease.signal.aborted) this.settles.add(settlement);
    this.running--;
    this.wake?.();
    this.dispatch();
  }

  private release(held: Held<T>): void {
    this.finish(held);
    // A nack with no delay: the message is available at once. Its delivery was counted at receive.
    this.settles.add({ message: held.message, ack: false, nack: { delaySeconds: 0 } });
  }

  private finish(held: Held<T>): void {
    held.done = true;
    clearTimeout(held.timer);
  }

  private renewLater(held: Held<T>, ms: number): void {
    held.timer = setTimeout(() => void this.renew(held), ms);
  }

  private async renew(held: Held<T>): Promise<void> {
    const { message } = held;
    try {
      await this.client.extendLease(
        this.queueName,
        message.messageId,
        message.leaseToken,
        this.visibilitySeconds,
      );
      if (!held.done) this.renewLater(held, this.visibilitySeconds * 500);
    } catch (error) {
      if (held.done) return;
      this.report(error, { stage: "lease", message });
      if (error instanceof ConveyorApiError && (error.status === 409 || error.status === 404)) {
        held.done = true;
        held.lease.abort(error);
        const waiting = this.buffered.indexOf(held);
        if (waiting >= 0) {
          this.buffered.splice(waiting, 1);
          this.wake?.();
        }
      } else this.renewLater(held, this.visibilitySeconds * 250);
    }
  }

  private async settle(items: Settlement[]): Promise<void> {
    const acks = items.filter((item) => item.ack);
    const nacks = items.filter((item) => !item.ack);
    // The server answers acks first, then nacks, each in the order given.
    const ordered = [...acks, ...nacks];
    const body = {
      acks: acks.map(({ message }) => ({ messageId: message.messageId, leaseToken: message.leaseToken })),
      nacks: nacks.map((item) => ({
        messageId: item.message.messageId,
        leaseToken: item.message.leaseToken,
        ...(item.ack ? {} : item.nack),
      })),
    };
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let results: SettleResultView["results"];
      try {
        const response = await this.client.raw(
          "POST",
          `/v1/queues/${encodeURIComponent(this.queueName)}/messages/settle`,
          { body },
        );
        if (response.status !== 200) throw apiErrorOf(response);
        results = (response.body as SettleResultView).results;
      } catch (error) {
        const delay = retryDelayMs(error, attempt, this.retry);
        if (delay === undefined || Date.now() + delay - started > this.retry.maxElapsedMs) {
          for (const { message } of items) this.report(error, { stage: "settle", message });
          return;
        }
        await sleep(delay);
        continue;
      }
      results.forEach((result, index) => {
        const item = ordered[index] as Settlement;
        if (result.status < 300) return;
        // A nack whose earlier attempt landed spent its token, so its retry is answered lease_lost.
        if (attempt > 1 && !item.ack && result.error?.code === "lease_lost") return;
        const problem = result.error;
        const error = new ConveyorApiError(
          result.status,
          problem?.code ?? "http_error",
          problem,
          new Headers(),
        );
        this.report(error, { stage: "settle", message: item.message });
      });
      return;
    }
  }

  private report(error: unknown, context: ConsumerErrorContext): void {
    const onError = this.options.onError ?? ((e: unknown) => console.error("conveyor consumer:", e));
    try {
      onError(error, context);
    } catch {
      // The error callback's own failure must not stop the consumer.
    }
  }
}

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 4096);
}
