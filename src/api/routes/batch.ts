import type { Result } from "../../domain/errors.js";
import type { EnqueueInput } from "../../service/messages.js";
import { jsonTextOf } from "../json-text.js";
import { problemOf, statusOf } from "../problem.js";
import type { BatchItem, MessageInput } from "../schemas/index.js";

/**
 * What enqueue and publish share: a message as the use cases take it, and a
 * batch's per-item answer. `plain` says the request's bytes hold no escapes,
 * so a body's JSON text can be cut from them as sent.
 */
export const messageInput = ({ body, ...options }: MessageInput, plain: boolean): EnqueueInput => ({
  ...options,
  bodyJson: jsonTextOf(body, plain),
});

/** The batch items the schema accepted, in order: the use case gets them together. */
export const validInputs = (items: BatchItem[], plain: boolean): EnqueueInput[] =>
  items.flatMap((item) => (item.ok ? [messageInput(item.value, plain)] : []));

/**
 * Each item, valid or not, with its own status: 400 for an item the schema
 * refused; for the others, in order, the use case's outcome for it (200 a
 * duplicate inside the window, 201 a new message) or its failure's status.
 */
export function batchResults<T extends { duplicate: boolean }, A>(
  items: BatchItem[],
  outcomes: Result<T>[],
  present: (value: T) => A,
) {
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
