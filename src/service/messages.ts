import { v7 as uuidv7 } from "uuid";
import { dedupKey } from "../domain/dedup.js";
import { type DraftMessage, placeMessage } from "../domain/enqueue.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { type NackOptions, onAck, onExtend, onNack } from "../domain/lease.js";
import type { Message } from "../domain/message.js";
import { messageIdIn, partitionFor } from "../domain/partition.js";
import type { Queue } from "../domain/queue.js";
import { queueUseCase, type ServiceContext } from "./context.js";
import type { Enqueued } from "./ports.js";
import { leaseMessages } from "./receive.js";
import { nextDue } from "./receive-turn.js";
import { type Decide, settleMessages } from "./settle.js";

export interface EnqueueInput {
  /** The body as JSON text: what is stored, counted against the size limit and delivered. */
  bodyJson: string;
  attributes?: Record<string, string>;
  priority?: number;
  delaySeconds?: number;
  groupId?: string;
  deduplicationId?: string;
}

export interface ReceiveInput {
  max: number;
  visibilityTimeoutSeconds?: number;
  waitSeconds: number;
}

export interface SettleInput {
  acks: { messageId: string; leaseToken: string }[];
  nacks: ({ messageId: string; leaseToken: string } & NackOptions)[];
}

/**
 * Enqueues each message on its own: the outer result fails only when the
 * queue cannot be used at all; each item then succeeds (new or duplicate) or
 * fails (for example over the queue's size limit) by itself.
 */
export const enqueue = queueUseCase(
  "send",
  async (
    queue,
    { context },
    inputs: EnqueueInput[],
    idempotencyKey?: string,
  ): Promise<Result<Result<Enqueued>[]>> => {
    const now = context.clock.now();
    const drafts = inputs.map((input) =>
      draftMessage(queue, input, now, context.random, inputs.length === 1 ? idempotencyKey : undefined),
    );
    const valid = drafts.flatMap((draft) => (draft.ok ? [draft.value] : []));
    const stored = valid.length > 0 ? await context.store.enqueue(queue, valid) : [];
    const added = stored.filter((item) => !item.duplicate).length;
    if (added > 0) context.signals.notify(queue.id, added);
    let next = 0;
    return ok(drafts.map((draft) => (draft.ok ? ok(stored[next++] as Enqueued) : draft)));
  },
);

function draftMessage(
  queue: Queue,
  input: EnqueueInput,
  now: Date,
  random: () => number,
  idempotencyKey?: string,
): Result<DraftMessage> {
  const body = input.bodyJson;
  const placed = placeMessage(
    queue,
    { body, priority: input.priority, delaySeconds: input.delaySeconds, groupId: input.groupId },
    now,
  );
  if (!placed.ok) return placed;
  const key =
    queue.deduplicationWindowSeconds > 0
      ? dedupKey(queue.ordering, body, input.deduplicationId, idempotencyKey)
      : null;
  const partition = partitionFor(queue, { groupId: placed.value.groupId, dedupKey: key }, random);
  return ok({
    // Time-ordered (UUIDv7): new ids land at the end of the store's id index, not at random pages in it.
    id: messageIdIn(uuidv7(), partition),
    body,
    attributes: input.attributes ?? {},
    ...placed.value,
    dedupKey: key,
    enqueuedAt: now,
  });
}

/**
 * Leases up to `max` messages. With `waitSeconds` it long-polls: it parks on
 * the queue's signal (an enqueue, nack or redrive wakes it at once) or until
 * the next delayed message is due, and answers as soon as something can be
 * delivered, or empty at the deadline or when `abort` fires.
 */
export const receive = queueUseCase(
  "receive",
  async (queue, { context }, input: ReceiveInput, abort: AbortSignal): Promise<Result<Message[]>> => {
    const visibilityTimeoutSeconds = input.visibilityTimeoutSeconds ?? queue.visibilityTimeoutSeconds;
    const deadline = context.clock.now().getTime() + input.waitSeconds * 1000;
    for (;;) {
      const stopWaiting = new AbortController();
      const onAbort = () => stopWaiting.abort();
      abort.addEventListener("abort", onAbort, { once: true });
      // Registered before looking, so an enqueue committed between the look and the wait still wakes us.
      const signalled = context.signals.wait(queue.id, stopWaiting.signal);
      try {
        const now = context.clock.now();
        const delivered = await leaseMessages(
          context.store,
          queue,
          { now, max: input.max, visibilityTimeoutSeconds },
          context.random,
        );
        if (delivered.length > 0 || now.getTime() >= deadline || abort.aborted) return ok(delivered);
        const due = (await nextDue(context.store, queue, now))?.getTime() ?? Number.POSITIVE_INFINITY;
        const wakeAt = Math.min(deadline, due, now.getTime() + context.longPollFallbackMs);
        await Promise.race([signalled, sleep(Math.max(1, wakeAt - now.getTime()), stopWaiting.signal)]);
      } finally {
        stopWaiting.abort();
        abort.removeEventListener("abort", onAbort);
      }
    }
  },
);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Settles one message: `decide` checks the caller's lease token and says what changes. */
async function settleOne(
  context: ServiceContext,
  queue: Queue,
  messageId: string,
  decide: Decide,
): Promise<Result<Message>> {
  const [result] = await settleMessages(context.store, queue, [{ messageId, decide }]);
  return result as Result<Message>;
}

export const ack = queueUseCase("receive", (queue, { context }, messageId: string, leaseToken: string) => {
  const now = context.clock.now();
  return settleOne(context, queue, messageId, (message) => onAck(message, leaseToken, now));
});

export const nack = queueUseCase(
  "receive",
  async (queue, { context }, messageId: string, leaseToken: string, options: NackOptions) => {
    const now = context.clock.now();
    const result = await settleOne(context, queue, messageId, (message) =>
      onNack(message, queue, leaseToken, now, options, context.random),
    );
    context.signals.notify(queue.id);
    return result;
  },
);

export const extendLease = queueUseCase(
  "receive",
  async (queue, { context }, messageId: string, leaseToken: string, visibilityTimeoutSeconds: number) => {
    const now = context.clock.now();
    const result = await settleOne(context, queue, messageId, (message) =>
      onExtend(message, leaseToken, now, visibilityTimeoutSeconds),
    );
    if (visibilityTimeoutSeconds === 0) context.signals.notify(queue.id);
    return result;
  },
);

/** Acks and nacks many messages in one store call; each item reports its own outcome. */
export const settle = queueUseCase(
  "receive",
  async (
    queue,
    { context },
    input: SettleInput,
  ): Promise<Result<{ messageId: string; result: Result<Message> }[]>> => {
    const now = context.clock.now();
    const items = [
      ...input.acks.map(({ messageId, leaseToken }) => ({
        messageId,
        decide: (message: Message) => onAck(message, leaseToken, now),
      })),
      ...input.nacks.map(({ messageId, leaseToken, ...options }) => ({
        messageId,
        decide: (message: Message) => onNack(message, queue, leaseToken, now, options, context.random),
      })),
    ];
    const results = await settleMessages(context.store, queue, items);
    if (input.nacks.length > 0) context.signals.notify(queue.id);
    return ok(
      items.map((item, index) => ({ messageId: item.messageId, result: results[index] as Result<Message> })),
    );
  },
);

export const peek = queueUseCase(
  "read",
  async (queue, { context }, messageId: string): Promise<Result<Message>> => {
    const message = await context.store.getMessage(queue, messageId);
    return message ? ok(message) : fail("message_not_found", `no message "${messageId}" in this queue`);
  },
);

export const purge = queueUseCase(
  "manage",
  async (queue, { context }): Promise<Result<number>> => ok(await context.store.purge(queue)),
);
