import type { z } from "zod";
import type { Result } from "../../domain/errors.js";
import type { EnqueueInput } from "../../service/messages.js";
import { hasNoEscapes, jsonTextOf } from "../json-text.js";
import { type ProblemDocument, problemOf, statusOf } from "../problem.js";
import type { BatchItem, enqueueBody, MessageInput } from "../schemas/index.js";
import { respond } from "./route.js";

// What enqueue and publish share: a body of one message or a batch, sent
// through one use case call, and its answer. `plain` says the request's
// bytes hold no escapes, so a body's JSON text can be cut from them as sent.

/** A use case that takes messages together: enqueue into a queue, or publish to a topic. */
export type Send<T> = (inputs: EnqueueInput[], idempotencyKey?: string) => Promise<Result<Result<T>[]>>;

/** The request parts a send reads: the parsed body, its bytes, and the Idempotency-Key header. */
export interface SendRequest {
  body: z.output<typeof enqueueBody>;
  rawBody: Buffer | undefined;
  idempotencyKey: string | undefined;
}

/** The responses enqueue and publish answer themselves, `created` the single form's new message. */
export const sentResponses = <New extends z.ZodType, Ok extends z.ZodType>(
  createdDescription: string,
  created: New,
  okSchema: Ok,
) => ({
  201: { description: createdDescription, schema: created },
  200: {
    description: "A duplicate inside the window (single), or the batch's per-item results",
    schema: okSchema,
  },
});

/** One batch item's answer: its index and status, with its outcome presented or the problem that refused it. */
export type BatchResult<A> = { index: number; status: number } & (A | { error: ProblemDocument });

/** A send's answer: 201 a new message; 200 a duplicate inside the window, or a batch's per-item results. */
export type Sent<A> = { status: 201; body: A } | { status: 200; body: A | { results: BatchResult<A>[] } };

/**
 * Sends the single form (with its Idempotency-Key) or the batch form of a
 * body: a batch answers 200 with its per-item results; one message answers
 * 201 when new, 200 when a duplicate inside the window, or its failure.
 */
export async function sendMessages<T extends { duplicate: boolean }, A>(
  { body, rawBody, idempotencyKey }: SendRequest,
  send: Send<T>,
  present: (value: T) => A,
): Promise<Result<Sent<A>>> {
  const plain = hasNoEscapes(rawBody);
  if ("messages" in body) {
    return respond(await send(validInputs(body.messages, plain)), (outcomes) => ({
      status: 200,
      body: { results: batchResults(body.messages, outcomes, present) },
    }));
  }
  const sent = await send([messageInput(body, plain)], idempotencyKey);
  if (!sent.ok) return sent;
  const [outcome] = sent.value as [Result<T>];
  return respond(outcome, (value) =>
    value.duplicate
      ? { status: 200 as const, body: present(value) }
      : { status: 201 as const, body: present(value) },
  );
}

const messageInput = ({ body, ...options }: MessageInput, plain: boolean): EnqueueInput => ({
  ...options,
  bodyJson: jsonTextOf(body, plain),
});

/** The batch items the schema accepted, in order: the use case gets them together. */
const validInputs = (items: BatchItem[], plain: boolean): EnqueueInput[] =>
  items.flatMap((item) => (item.ok ? [messageInput(item.value, plain)] : []));

/**
 * Each item, valid or not, with its own status: 400 for an item the schema
 * refused; for the others, in order, the use case's outcome for it (200 a
 * duplicate inside the window, 201 a new message) or its failure's status.
 */
function batchResults<T extends { duplicate: boolean }, A>(
  items: BatchItem[],
  outcomes: Result<T>[],
  present: (value: T) => A,
): BatchResult<A>[] {
  let next = 0;
  return items.map((item, index) => {
    if (!item.ok) {
      const error = problemOf({
        code: "validation_failed",
        detail: `message ${index} is not valid`,
        errors: item.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
      });
      return { index, status: 400, error };
    }
    const outcome = outcomes[next++] as Result<T>;
    if (!outcome.ok) return { index, status: statusOf(outcome.error.code), error: problemOf(outcome.error) };
    return { index, status: outcome.value.duplicate ? 200 : 201, ...present(outcome.value) };
  });
}
