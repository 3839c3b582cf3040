import { lookup } from "node:dns";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { pushAddressVerdict } from "../../domain/push.js";
import type { ResolveHost, SendWebhook } from "../../service/ports.js";

/** Every address a name resolves to, as the operating system resolves it. */
export const resolveHost: ResolveHost = (hostname) =>
  new Promise((resolve, reject) =>
    lookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses.map((entry) => entry.address)),
    ),
  );

class RefusedTarget extends Error {}

/**
 * The connection's own DNS look-up refuses any address the SSRF rule
 * refuses, so the address checked is the address connected to: a name that
 * resolved to a public address when the queue was created and to a private
 * one now (DNS rebinding) is still refused.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 4);
      const refused = addresses
        .map((entry) => pushAddressVerdict(entry.address, allowPrivate))
        .find((verdict) => !verdict.allowed);
      if (refused && !refused.allowed) return callback(new RefusedTarget(refused.reason), "", 4);
      const [first] = addresses;
      if (!first) return callback(new RefusedTarget(`${hostname} has no address`), "", 4);
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * POSTs a webhook with node:http(s): no redirects are followed (a 3xx is a
 * failed delivery), the whole exchange has a deadline, and the response body
 * is read and dropped (at most 64 KiB) so the connection can be reused.
 */
export const sendWebhook: SendWebhook = (webhook) =>
  new Promise((resolve) => {
    const url = new URL(webhook.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    // An IP literal skips the look-up, so check it here as well.
    const literal = url.hostname.replace(/^\[|\]$/g, "");
    const literalVerdict = /^[\d.]+$|:/.test(literal)
      ? pushAddressVerdict(literal, webhook.allowPrivate)
      : undefined;
    if (literalVerdict && !literalVerdict.allowed) {
      return resolve({ kind: "failed", error: `refused: ${literalVerdict.reason}` });
    }
    const options: RequestOptions = {
      method: "POST",
      headers: {
        ...webhook.headers,
        "content-length": Buffer.byteLength(webhook.body),
        "user-agent": "Conveyor-Push/1",
      },
      lookup: guardedLookup(webhook.allowPrivate),
      timeout: webhook.timeoutMs,
    };
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${webhook.timeoutMs} ms`));
    }, webhook.timeoutMs);
    const req = send(url, options, (response) => {
      let read = 0;
      response.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > 64 * 1024) response.destroy();
      });
      response.on("close", () => {
        clearTimeout(timer);
        resolve({ kind: "response", status: response.statusCode ?? 0 });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${webhook.timeoutMs} ms`)));
    req.on("error", (error) => {
      clearTimeout(timer);
      const message = error instanceof RefusedTarget ? `refused: ${error.message}` : error.message;
      resolve({
        kind: "failed",
        error: message || (error as NodeJS.ErrnoException).code || "connection failed",
      });
    });
    req.end(webhook.body);
  });
