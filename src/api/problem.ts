import type { ErrorCode, Failure } from "../domain/errors.js";
import type { ApiResponse } from "./http.js";

/** The one place where error codes become HTTP statuses and titles. */
const STATUS: Record<ErrorCode, { status: number; title: string }> = {
  validation_failed: { status: 400, title: "The request is not valid" },
  bad_request: { status: 400, title: "Malformed HTTP request" },
  unauthorized: { status: 401, title: "No valid credentials" },
  forbidden: { status: 403, title: "Not allowed" },
  queue_not_found: { status: 404, title: "Queue not found" },
  message_not_found: { status: 404, title: "Message not found" },
  key_not_found: { status: 404, title: "API key not found" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  lease_lost: { status: 409, title: "Lease lost" },
  payload_too_large: { status: 413, title: "Payload too large" },
  headers_too_large: { status: 431, title: "Request headers too large" },
  request_timeout: { status: 408, title: "Request timeout" },
  too_many_connections: { status: 503, title: "Too many connections" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  not_implemented: { status: 501, title: "Not available on this host" },
  unavailable: { status: 503, title: "Service unavailable" },
  topic_not_found: { status: 404, title: "Topic not found" },
  subscription_not_found: { status: 404, title: "Subscription not found" },
};

export const statusOf = (code: ErrorCode): number => STATUS[code].status;

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: Failure["errors"];
}

export function problemOf(failure: Failure): ProblemDocument {
  const { status, title } = STATUS[failure.code];
  return {
    type: `https://conveyor.dev/problems/${failure.code.replaceAll("_", "-")}`,
    title,
    status,
    detail: failure.detail,
    code: failure.code,
    ...(failure.errors ? { errors: failure.errors } : {}),
  };
}

export function problemResponse(failure: Failure): ApiResponse {
  const problem = problemOf(failure);
  const headers: Record<string, string> = { "content-type": "application/problem+json; charset=utf-8" };
  if (failure.retryAfterSeconds !== undefined) headers["retry-after"] = String(failure.retryAfterSeconds);
  return { status: problem.status, headers, body: problem };
}
