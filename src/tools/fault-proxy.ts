import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * How the proxy treats connections:
 * - `pass`: forwards bytes both ways;
 * - `refuse`: stops listening and cuts every open connection, so the store
 *   is unreachable (new connections are refused, pooled ones reset);
 * - `unavailable`: answers every request with HTTP 503, as Cosmos DB does
 *   when a partition is briefly unavailable;
 * - `drop`: accepts connections and never answers, as a network that drops
 *   packets: only the client's own timeout ends a request.
 */
export type FaultMode = "pass" | "refuse" | "unavailable" | "drop";

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`, the same across modes. */
  readonly url: string;
  readonly mode: FaultMode;
  setMode(mode: FaultMode): Promise<void>;
  close(): Promise<void>;
}

const UNAVAILABLE = [
  "HTTP/1.1 503 Service Unavailable",
  "content-type: application/json",
  "connection: close",
  "x-ms-substatus: 0",
  "",
  JSON.stringify({ code: "ServiceUnavailable", message: "the fault proxy is unavailable" }),
].join("\r\n");

/**
 * A TCP proxy on loopback in front of a store (the Cosmos DB test server in
 * the outage drill and the tests), whose faults are switched at run time.
 */
export async function startFaultProxy(target: URL): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let mode: FaultMode = "pass";
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (mode === "unavailable") {
      client.once("data", () => client.end(UNAVAILABLE));
      return;
    }
    if (mode === "drop") {
      client.resume();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    track(upstream);
    client.pipe(upstream).pipe(client);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", cut);
    upstream.on("close", cut);
  });
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  const port = await listen(0);
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    async setMode(next) {
      if (next === mode) return;
      const wasListening = mode !== "refuse";
      mode = next;
      cutAll();
      if (next === "refuse") await new Promise<void>((resolve) => server.close(() => resolve()));
      else if (!wasListening) await listen(port);
    },
    async close() {
      cutAll();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
