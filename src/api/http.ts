/** The host-independent shape of an HTTP exchange; both hosts translate to and from it. */
export interface ApiRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/queues/orders/messages`. */
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** The raw body; the pipeline checks its size and type before parsing it. */
  body?: Buffer;
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
