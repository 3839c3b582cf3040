import { connect, type Socket } from "node:net";

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** How the connection ended after the answer: closed by the server, reset, or still open. */
  ended: "closed" | "reset" | "open";
}

/**
 * Sends bytes exactly as given over a plain socket and reads one answer, for
 * what fetch will not send (malformed escapes, smuggling, oversized headers).
 */
export function rawRequest(
  url: string,
  bytes: string | Buffer,
  options: {
    /** Bytes of body to upload after the request's head, as a client sending a large body does. */
    uploadBytes?: number;
    /** Frame the upload as a chunked body. */
    chunked?: boolean;
    /** Wait for the server to close or reset the connection before resolving. */
    watchClose?: boolean;
    waitMs?: number;
  } = {},
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    // Half-open, as an uploading client is: the server's FIN does not stop it writing.
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let ended: RawAnswer["ended"] = "open";
    let settled = false;
    const finish = () => {
      if (settled) return;
      const answer = parseAnswer(received);
      if (!answer) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...answer, ended });
    };
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      const answer = parseAnswer(received);
      if (answer) resolve({ ...answer, ended });
      else reject(new Error(`no complete answer: ${received.toString("latin1").slice(0, 300)}`));
    }, options.waitMs ?? 5000);
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (parseAnswer(received)?.complete && !options.watchClose) finish();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      ended = error.code === "ECONNRESET" || error.code === "EPIPE" ? "reset" : "closed";
      if (parseAnswer(received)) finish();
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on("end", () => {
      if (ended === "open") ended = "closed";
    });
    socket.on("close", () => {
      if (ended === "open") ended = "closed";
      finish();
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`closed without an answer: ${received.toString("latin1").slice(0, 300)}`));
      }
    });
    socket.write(bytes);
    if (options.uploadBytes) upload(socket, options.uploadBytes, options.chunked ?? false);
  });
}

/** Uploads `total` bytes of filler as a client sending a large body does, as chunks if `chunked`. */
function upload(socket: Socket, total: number, chunked: boolean): void {
  const filler = Buffer.alloc(16 * 1024, 0x61);
  let sent = 0;
  const tick = () => {
    while (!socket.destroyed && sent < total) {
      const part = filler.subarray(0, Math.min(filler.length, total - sent));
      sent += part.length;
      const framed = chunked
        ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")])
        : part;
      if (!socket.write(framed)) return void socket.once("drain", tick);
    }
    if (!socket.destroyed && chunked) socket.write("0\r\n\r\n");
  };
  tick();
}

function parseAnswer(bytes: Buffer): (Omit<RawAnswer, "ended"> & { complete: boolean }) | undefined {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine, ...lines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? Number.NaN);
  const headers: Record<string, string> = Object.create(null);
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = bytes.subarray(end + 4);
  const length = Number(headers["content-length"] ?? Number.NaN);
  const complete = Number.isNaN(length) ? false : body.length >= length;
  return { status, headers, body: body.toString("utf8"), complete };
}

/** A minimal HTTP/1.1 request's bytes. */
export function requestBytes(
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = "",
): string {
  const lines = [`${method} ${target} HTTP/1.1`, "Host: localhost"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
