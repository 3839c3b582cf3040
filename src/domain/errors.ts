/**
 * Failures are values with stable codes. Every layer returns them; the HTTP
 * mapping (status, title) lives in one place: `src/api/problem.ts`.
 */
export type ErrorCode =
  | "validation_failed"
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "queue_not_found"
  | "message_not_found"
  | "key_not_found"
  | "conflict"
  | "lease_lost"
  | "payload_too_large"
  | "headers_too_large"
  | "request_timeout"
  | "too_many_connections"
  | "unsupported_media_type"
  | "rate_limited"
  | "not_found"
  | "method_not_allowed"
  | "not_implemented"
  | "unavailable"
  | "internal"
  | "topic_not_found"
  | "subscription_not_found";

export interface FieldError {
  path: string;
  message: string;
}

export interface Failure {
  code: ErrorCode;
  detail: string;
  errors?: FieldError[];
  retryAfterSeconds?: number;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = (
  code: ErrorCode,
  detail: string,
  extra: Partial<Failure> = {},
): { ok: false; error: Failure } => ({
  ok: false,
  error: { code, detail, ...extra },
});
