import type { ProblemView, RawResponse } from "./index.js";

/**
 * Every failure the client reports. `code` is stable: a problem document's
 * code when the server answered (then the error is a `ConveyorApiError`), or
 * `connection_failed` (no answer: refused, reset, DNS) and `timeout` (no
 * answer in time) when it did not.
 */
export class ConveyorError extends Error {
  override name = "ConveyorError";
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ConveyorApiError extends ConveyorError {
  override name = "ConveyorApiError";
  constructor(
    readonly status: number,
    code: string,
    readonly problem: ProblemView | undefined,
    readonly headers: Headers,
  ) {
    super(problem ? `${code}: ${problem.detail}` : `HTTP ${status}`, code);
  }
}

export function apiErrorOf(response: RawResponse): ConveyorApiError {
  const problem = isProblem(response.body) ? response.body : undefined;
  return new ConveyorApiError(response.status, problem?.code ?? "http_error", problem, response.headers);
}

const isProblem = (body: unknown): body is ProblemView =>
  typeof body === "object" && body !== null && typeof (body as { code?: unknown }).code === "string";

export interface RetryOptions {
  /** No attempt starts later than this after the first one (default 60 s). */
  maxElapsedMs?: number;
  /** The first backoff when the server gave no `Retry-After` (default 100 ms), doubling up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Default 5 s. */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = {
  maxElapsedMs: 60_000,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
};

// 429 and 503 come from Conveyor itself (rate limit, store outage, connection cap); 502 and 504 from a
// gateway in front of it. None of them says the request failed for good.
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export const isRetryableStatus = (status: number): boolean => RETRYABLE_STATUS.has(status);

/**
 * How long to wait before attempt `attempt + 1` after `error`, or undefined
 * when the error is not worth a retry. The server's `Retry-After` wins over
 * the backoff; the backoff has full jitter, so a crowd of clients that
 * failed together does not come back together.
 */
export function retryDelayMs(
  error: unknown,
  attempt: number,
  policy: Required<RetryOptions>,
): number | undefined {
  if (error instanceof ConveyorApiError) {
    if (!isRetryableStatus(error.status)) return undefined;
    const after = retryAfterMs(error.headers.get("retry-after"));
    if (after !== undefined) return after;
  } else if (!(error instanceof ConveyorError)) return undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.max(1, Math.random() * ceiling);
}

/** `Retry-After` as delay-seconds or an HTTP-date (RFC 9110, section 10.2.3). */
export function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
