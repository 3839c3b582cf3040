import { ok, type Result } from "../domain/errors.js";

/** The host-independent shape of an HTTP exchange; both hosts translate to and from it. */
export interface ApiRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/queues/orders/messages`. */
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /**
   * Reads the raw body (undefined when empty), at most once. The pipeline
   * calls it only after the credentials in the headers passed, so a caller
   * without them never makes the host buffer a byte; the host refuses a
   * body over `LIMITS.requestBodyBytes` with `payload_too_large`.
   */
  readBody(): Promise<Result<Buffer | undefined>>;
  /** Aborts when the client goes away or the host shuts down, so a long poll can stop early. */
  signal: AbortSignal;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  /** Serialized as JSON unless it is already a string or bytes. */
  body?: unknown;
  /**
   * A response written over time (Server-Sent Events): the host sends the
   * status and headers, then lets `stream` write until it returns or `closed`
   * aborts (the client left, or the host is shutting down).
   */
  stream?: (write: (chunk: string) => void, closed: AbortSignal) => Promise<void>;
}

/** `readBody` for a body the host already holds in full. */
export const bodyAlreadyRead =
  (bytes: Buffer | undefined): ApiRequest["readBody"] =>
  () =>
    Promise.resolve(ok(bytes && bytes.length > 0 ? bytes : undefined));
