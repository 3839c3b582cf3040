/**
 * What the peer benchmark asks of each system, through that system's own
 * client library: the same calls a Node service would make.
 */
export interface System {
  name: string;
  /** The server's root process; its whole process tree's CPU is counted. */
  pid: number;
  /** One message, resolved once the server acknowledged it durably. */
  send(body: string): Promise<void>;
  /** Many messages in as few requests as the client offers. */
  sendBatch(bodies: string[]): Promise<void>;
  /**
   * Starts handing every message to `onMessage`, acking it when that
   * returns, with the given number of handlers at once. Resolves with a stop
   * that resolves once what was handled is acked.
   */
  consume(onMessage: (body: string) => void, concurrency: number): Promise<() => Promise<void>>;
  /** Empties the queue between runs. */
  purge(): Promise<void>;
  /** Closes the clients and stops the server. */
  close(): Promise<void>;
}

/** A system's start: a name, and either the running system or why it could not start. */
export type Started = { name: string; system: System } | { name: string; failure: string };
