import { BulkOperationType, type Container, type JSONObject, type OperationInput } from "@azure/cosmos";

/**
 * What the Cosmos DB store needs to survive throttling and faults: which
 * failures to retry and how, a bounded budget for the retries, exactly-once
 * creates and replaces across an answer that was lost, and a typed error
 * the API maps to 429 or 503 with Retry-After.
 *
 * How @azure/cosmos 4.9.3 itself retries (dist/esm/retry/retryUtility.js):
 * a 429 by ResourceThrottleRetryPolicy, honouring `x-ms-retry-after-ms`
 * (retryOptions: maxRetryAttemptCount 9, fixedRetryIntervalInMilliseconds 0,
 * maxWaitTimeInSeconds 30 by default; src/app.ts sets maxRetryAttemptCount 0
 * so that this module's budget is the only one), but never a
 * non-atomic (bulk) batch; a connection error (ECONNRESET, EPIPE, timeout)
 * by DefaultRetryPolicy only for reads and queries, 10 times 1 s apart; a
 * 503 or a timeout by TimeoutFailoverRetryPolicy only with endpoint
 * discovery and another region. A write that meets a reset, a 503 or a
 * timeout is not retried, and its outcome is unknown: it may have been
 * applied. That is this module's work.
 */

export type CosmosFailure =
  /** 429: nothing was applied; wait at least `retryAfterMs`. */
  | { kind: "throttled"; retryAfterMs: number }
  /** Nothing was applied (449 retry-with, a refused or unresolved connection): safe to retry anything. */
  | { kind: "not-applied" }
  /** 503, 408, a reset or timed-out connection, a batch's request-level failure: a write may have been applied. */
  | { kind: "unknown" }
  /** Anything else (400, 404, 409, 412, ...): the caller's to handle, never retried here. */
  | { kind: "final" };

const NOT_APPLIED_CODES = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/;
const UNKNOWN_CODES = /^(ECONNRESET|ETIMEDOUT|EPIPE|TimeoutError|REQUEST_SEND_ERROR|ECONNABORTED)$/;

export function classify(error: unknown): CosmosFailure {
  if (error instanceof StoreBusyError) return { kind: "final" };
  const { code, statusCode, retryAfterInMs, message } = (error ?? {}) as {
    code?: unknown;
    statusCode?: unknown;
    retryAfterInMs?: unknown;
    message?: unknown;
  };
  const status = typeof code === "number" ? code : typeof statusCode === "number" ? statusCode : undefined;
  if (status === 429)
    return { kind: "throttled", retryAfterMs: typeof retryAfterInMs === "number" ? retryAfterInMs : 0 };
  if (status === 449) return { kind: "not-applied" };
  if (status === 503 || status === 408) return { kind: "unknown" };
  if (status !== undefined) return { kind: "final" };
  if (typeof code === "string") {
    if (NOT_APPLIED_CODES.test(code)) return { kind: "not-applied" };
    if (UNKNOWN_CODES.test(code)) return { kind: "unknown" };
  }
  // The SDK's transactional batch rethrows request-level failures without a status (docs/reliability.md).
  if (typeof message === "string" && message.startsWith("Batch request error: ")) return { kind: "unknown" };
  return { kind: "final" };
}

/**
 * The store could not do the work within its retry budget. `status` is what
 * the API answers (429 when Cosmos DB throttled, 503 when it was away), with
 * `Retry-After: ceil(retryAfterMs / 1000)`. `code` carries the same number
 * so that a check by status code (isTransientCosmosError) sees it.
 */
export class StoreBusyError extends Error {
  readonly code: 429 | 503;
  constructor(
    readonly reason: "overloaded" | "unavailable",
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      reason === "overloaded"
        ? "the store is throttling; retry later"
        : "the store is unavailable; retry later",
      options,
    );
    this.name = "StoreBusyError";
    this.code = reason === "overloaded" ? 429 : 503;
  }

  get status(): 429 | 503 {
    return this.code;
  }

  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** No retry starts once this much time has passed since the first attempt. */
  budgetMs: number;
  /** The first wait after a failure without `x-ms-retry-after-ms`; doubled each time, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How many throttled answers are waited out (default: as many as the budget allows); 0 gives up at the first. */
  maxThrottledWaits?: number;
}

/** Well inside a client's request timeout: a request gives up and answers 429/503 within about 5 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  budgetMs: 5_000,
  baseDelayMs: 50,
  maxDelayMs: 1_000,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `op`, retrying 429s (after their `x-ms-retry-after-ms`, with up to 50%
 * added at random so that throttled callers do not all come back in the
 * same millisecond and lose the same race again), failures that applied
 * nothing, and, when `idempotent`, failures of unknown outcome. Throws
 * StoreBusyError when the budget runs out; a final failure as it came.
 */
export async function withRetry<T>(
  op: (attempt: number) => Promise<T>,
  options: { idempotent: boolean; policy?: RetryPolicy },
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY;
  const started = performance.now();
  let throttledWaits = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "final") throw error;
      if (failure.kind === "unknown" && !options.idempotent)
        throw new StoreBusyError("unavailable", policy.baseDelayMs, { cause: error });
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const waitMs =
        failure.kind === "throttled"
          ? failure.retryAfterMs * (1 + Math.random() / 2)
          : backoff * (0.5 + Math.random() / 2);
      const outOfWaits =
        failure.kind === "throttled" &&
        throttledWaits++ >= (policy.maxThrottledWaits ?? Number.POSITIVE_INFINITY);
      const outOfBudget =
        outOfWaits || attempt >= policy.maxAttempts || performance.now() - started + waitMs > policy.budgetMs;
      if (outOfBudget) {
        const reason = failure.kind === "throttled" ? "overloaded" : "unavailable";
        throw new StoreBusyError(reason, failure.kind === "throttled" ? failure.retryAfterMs : backoff, {
          cause: error,
        });
      }
      await sleep(waitMs);
    }
  }
}

/** A document that names the write that made it: how a writer recognises its own write when the answer was lost. */
export interface Stamped {
  id: string;
  writeId: string;
}

export type Once<T> =
  /** Written by this call; `recovered` when an answer was lost and the read-back showed it. */
  | { ok: true; resource: T & { _etag: string }; recovered: boolean }
  /** Someone else's write holds the id (create) or moved the etag (replace); `current` as it is now. */
  | { ok: false; current: (T & { _etag: string }) | undefined };

const statusOf = (error: unknown) => (error as { code?: unknown }).code;

/** The document as stored now, or undefined. */
async function readBack<T extends Stamped>(container: Container, id: string, partitionKey: string) {
  const { resource } = await withRetry(() => container.item(id, partitionKey).read<T & { _etag: string }>(), {
    idempotent: true,
  });
  return resource;
}

/**
 * Writes with a precondition (create: the id is free; replace: the etag
 * matches) until the outcome is known. A retry after an unknown outcome that
 * fails its precondition reads the document back: it carries this call's
 * `writeId` when the lost write was applied.
 */
async function conditionalOnce<T extends Stamped>(
  container: Container,
  document: T,
  partitionKey: string,
  write: () => Promise<T & { _etag: string }>,
  preconditionFailed: (error: unknown) => boolean,
  policy: RetryPolicy | undefined,
): Promise<Once<T>> {
  let uncertain = false;
  const attempt = async (): Promise<Once<T>> => {
    try {
      return { ok: true, resource: await write(), recovered: false };
    } catch (error) {
      if (!preconditionFailed(error)) {
        if (classify(error).kind === "unknown") uncertain = true;
        throw error;
      }
      const current = await readBack<T>(container, document.id, partitionKey);
      if (uncertain && current?.writeId === document.writeId)
        return { ok: true, resource: current, recovered: true };
      return { ok: false, current };
    }
  };
  // Every attempt is safe to repeat: its precondition fails if an earlier one was applied.
  return withRetry(attempt, { idempotent: true, ...(policy ? { policy } : {}) });
}

/** Creates `document` once: 409 on a retry after a lost answer is resolved by reading it back. */
export function createOnce<T extends Stamped>(
  container: Container,
  document: T,
  partitionKey: string,
  policy?: RetryPolicy,
): Promise<Once<T>> {
  const write = async () => (await container.items.create<T>(document)).resource as T & { _etag: string };
  return conditionalOnce(
    container,
    document,
    partitionKey,
    write,
    (error) => statusOf(error) === 409,
    policy,
  );
}

/** Replaces `document` if its etag is still `etag`: 412 (or 404) on a retry after a lost answer is resolved by reading back. */
export function replaceOnce<T extends Stamped>(
  container: Container,
  document: T,
  etag: string,
  partitionKey: string,
  policy?: RetryPolicy,
): Promise<Once<T>> {
  const write = async () =>
    (
      await container.item(document.id, partitionKey).replace<T>(document, {
        accessCondition: { type: "IfMatch", condition: etag },
      })
    ).resource as T & { _etag: string };
  const failed = (error: unknown) => statusOf(error) === 412 || statusOf(error) === 404;
  return conditionalOnce(container, document, partitionKey, write, failed, policy);
}

/**
 * Creates all of `documents` in one transactional batch, once. The first
 * document decides: a batch that conflicts on it (409, the others 424) after
 * a lost answer is this call's own when the first document carries its
 * `writeId`. Cosmos DB applies a transactional batch whole or not at all.
 */
export async function createAllOnce<T extends Stamped>(
  container: Container,
  documents: [T, ...Stamped[]],
  partitionKey: string,
  policy?: RetryPolicy,
): Promise<Once<T>> {
  const [first] = documents;
  const operations: OperationInput[] = documents.map((document) => ({
    operationType: BulkOperationType.Create,
    resourceBody: document as unknown as JSONObject,
  }));
  const conflict = Object.assign(new Error("the batch's first document exists"), { code: 409 });
  const write = async () => {
    const response = await container.items.batch(operations, partitionKey);
    const results = response.result ?? [];
    if (results[0]?.statusCode === 409) throw conflict;
    const failed = results.find((result) => result.statusCode >= 300);
    if (failed)
      throw Object.assign(new Error(`the batch failed with ${failed.statusCode}`), {
        code: failed.statusCode,
      });
    return results[0]?.resourceBody as unknown as T & { _etag: string };
  };
  return conditionalOnce(container, first, partitionKey, write, (error) => error === conflict, policy);
}
