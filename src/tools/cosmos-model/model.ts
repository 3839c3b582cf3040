import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { type OperationKind, requestKind } from "./charges.js";
import { type FaultKind, type FaultRule, parseFaults } from "./faults.js";
import { charge, estimate, partitionKeyOf } from "./request-charge.js";

/**
 * A Cosmos DB model for tests, chaos runs and the benchmark: an HTTP proxy
 * in front of @vercel/cosmosdb-server (which stores and answers, but charges
 * nothing and never throttles) that
 * - charges each request the request units of ./charges.ts and returns them
 *   in `x-ms-request-charge` (and in each operation of a batch), counting
 *   them per operation kind and per partition key value;
 * - holds each (container, partition key value) to a budget of RU/s, a
 *   token bucket: a request is let through while the bucket holds its
 *   estimated charge, takes that then and the rest once it ran (Cosmos DB
 *   also charges after the work); past it, the model answers 429 with
 *   substatus 3200 ("request
 *   rate is large", https://learn.microsoft.com/azure/cosmos-db/nosql/troubleshoot-request-rate-too-large)
 *   and `x-ms-retry-after-ms`, the time until the bucket holds the estimate;
 * - injects faults: 503, 408, a reset connection, added latency, and a write
 *   applied whose answer is lost (forwarded, then the client's connection is
 *   reset).
 *
 * The partition key value travels in `x-ms-documentdb-partitionkey` as a
 * JSON array (`["q1"]`; @azure/cosmos common/constants.js
 * HttpHeaders.PartitionKey); a bulk request names one per operation, and is
 * charged but not throttled (the SDK retries bulk 429s per operation, which
 * the model does not answer). Metadata requests are neither charged against
 * a budget nor faulted, so a host can always start.
 */

export interface CosmosModelOptions {
  /** The @vercel/cosmosdb-server to forward to. */
  target: string;
  /** RU/s for each (container, partition key value); default: no budget. */
  ruPerSecond?: number;
  /** How many seconds of budget a bucket holds when full (its burst); default 1. */
  burstSeconds?: number;
  faults?: FaultRule[];
}

export interface Tally {
  requests: number;
  requestUnits: number;
}

export interface PartitionUsage extends Tally {
  container: string;
  partitionKey: string;
  throttled: number;
}

export interface Usage extends Tally {
  throttled: number;
  faults: Map<FaultKind, number>;
  byKind: Map<OperationKind, Tally>;
  /** Keyed by `${container}/${partitionKey}`. */
  byPartition: Map<string, PartitionUsage>;
}

export interface CosmosModel {
  /** `http://127.0.0.1:<port>`: the account endpoint to give the SDK. */
  readonly url: string;
  usage(): Usage;
  resetUsage(): void;
  setBudget(ruPerSecond: number | undefined): void;
  /** Adds fault rules; `clearFaults` removes them all. */
  inject(...rules: FaultRule[]): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** `COSMOS_MODEL_RU_PER_SECOND=500`, `COSMOS_MODEL_FAULTS=unavailable:0.02,latency:0.1:20` (see parseFaults). */
export function modelOptionsFromEnv(
  env: Record<string, string | undefined>,
): Omit<CosmosModelOptions, "target"> {
  const rate = env.COSMOS_MODEL_RU_PER_SECOND;
  return { ...(rate ? { ruPerSecond: Number(rate) } : {}), faults: parseFaults(env.COSMOS_MODEL_FAULTS) };
}

const WRITES = new Set<OperationKind>(["create", "replace", "upsert", "patch", "delete", "batch", "bulk"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Bucket {
  tokens: number;
  at: number;
}

function emptyUsage(): Usage {
  return {
    requests: 0,
    requestUnits: 0,
    throttled: 0,
    faults: new Map(),
    byKind: new Map(),
    byPartition: new Map(),
  };
}

function answer(
  response: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: unknown,
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startCosmosModel(options: CosmosModelOptions): Promise<CosmosModel> {
  const target = new URL(options.target);
  const upstream = new Agent({ keepAlive: true, maxSockets: 64 });
  const burstSeconds = options.burstSeconds ?? 1;
  let ruPerSecond = options.ruPerSecond;
  let rules: FaultRule[] = [...(options.faults ?? [])];
  let usage = emptyUsage();
  const buckets = new Map<string, Bucket>();

  const partitionUsage = (key: string, container: string, partitionKey: string) => {
    let entry = usage.byPartition.get(key);
    if (!entry) {
      entry = { container, partitionKey, requests: 0, requestUnits: 0, throttled: 0 };
      usage.byPartition.set(key, entry);
    }
    return entry;
  };

  /** The bucket refilled to now; undefined when there is no budget. */
  const bucketOf = (key: string): Bucket | undefined => {
    if (ruPerSecond === undefined) return undefined;
    const now = performance.now();
    const capacity = ruPerSecond * burstSeconds;
    const bucket = buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * ruPerSecond);
    bucket.at = now;
    buckets.set(key, bucket);
    return bucket;
  };

  const faultsFor = (kind: OperationKind): FaultRule[] => {
    const firing: FaultRule[] = [];
    for (const rule of rules) {
      if (rule.kinds ? !rule.kinds.includes(kind) : kind === "metadata") continue;
      // An answer lost is a write's: a read has nothing to lose, and must not use up the rule.
      if (rule.fault === "lost-answer" && !WRITES.has(kind)) continue;
      if (rule.times !== undefined) {
        if (rule.times <= 0) continue;
        rule.times--;
      } else if (Math.random() >= (rule.probability ?? 1)) continue;
      firing.push(rule);
    }
    return firing;
  };

  const count = (fault: FaultKind) => usage.faults.set(fault, (usage.faults.get(fault) ?? 0) + 1);

  const forward = (incoming: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const outgoing = request(
        {
          host: target.hostname,
          port: target.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...incoming.headers, host: target.host },
          agent: upstream,
        },
        (reply) => {
          readBody(reply).then(
            (replyBody) =>
              resolve({ status: reply.statusCode ?? 500, headers: reply.headers, body: replyBody }),
            reject,
          );
        },
      );
      outgoing.once("error", reject);
      outgoing.end(body);
    });

  const handle = async (incoming: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(incoming);
    const path = new URL(incoming.url ?? "/", "http://model").pathname;
    const kind = requestKind(incoming.method ?? "GET", path, incoming.headers);
    const container = path.split("/").filter((segment) => segment !== "")[3] ?? "";
    const partitionKey = partitionKeyOf(incoming.headers["x-ms-documentdb-partitionkey"]);
    const key = `${container}/${partitionKey ?? ""}`;

    const faults = faultsFor(kind);
    for (const rule of faults.filter((rule) => rule.fault === "latency")) {
      count("latency");
      await sleep(rule.ms ?? 0);
    }
    const fault = faults.find((rule) => rule.fault !== "latency")?.fault;
    if (fault && fault !== "lost-answer") count(fault);
    if (fault === "reset") return void incoming.socket.destroy();
    if (fault === "unavailable")
      return answer(
        response,
        503,
        { "x-ms-substatus": "0" },
        { code: "ServiceUnavailable", message: "the model is unavailable" },
      );
    if (fault === "timeout")
      return answer(response, 408, {}, { code: "RequestTimeout", message: "the model timed out" });

    const throttles = kind !== "metadata" && kind !== "bulk" && partitionKey !== undefined;
    const bucket = throttles ? bucketOf(key) : undefined;
    // Concurrent requests must not all pass one nearly empty bucket: each takes its estimate on the way in.
    const estimated = bucket ? estimate(kind, body) : 0;
    const needed = Math.min(estimated, (ruPerSecond ?? 0) * burstSeconds);
    if (bucket && ruPerSecond !== undefined && bucket.tokens < needed) {
      usage.throttled++;
      partitionUsage(key, container, partitionKey as string).throttled++;
      const waitMs = Math.max(1, Math.ceil(((needed - bucket.tokens) / ruPerSecond) * 1000));
      return answer(
        response,
        429,
        { "x-ms-retry-after-ms": String(waitMs), "x-ms-substatus": "3200", "x-ms-request-charge": "0" },
        { code: "TooManyRequests", message: "Request rate is large. More Request Units may be needed." },
      );
    }

    if (bucket) bucket.tokens -= estimated;
    const reply = await forward(incoming, body);
    const charged = charge(kind, container, body, reply.status, reply.body);
    if (bucket) bucket.tokens -= charged.requestUnits - estimated;
    usage.requests++;
    usage.requestUnits += charged.requestUnits;
    const tally = usage.byKind.get(kind) ?? { requests: 0, requestUnits: 0 };
    tally.requests++;
    tally.requestUnits += charged.requestUnits;
    usage.byKind.set(kind, tally);
    if (charged.byPartition) {
      for (const [partition, ru] of charged.byPartition) {
        const [name = "", ...rest] = partition.split("/");
        partitionUsage(partition, name, rest.join("/")).requestUnits += ru;
      }
    } else if (partitionKey !== undefined) {
      const entry = partitionUsage(key, container, partitionKey);
      entry.requests++;
      entry.requestUnits += charged.requestUnits;
    }

    if (fault === "lost-answer") {
      count("lost-answer");
      return void incoming.socket.destroy();
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(reply.headers))
      if (value !== undefined && name !== "transfer-encoding" && name !== "content-length")
        headers[name] = value;
    headers["x-ms-request-charge"] = String(charged.requestUnits);
    headers["content-length"] = String(charged.body.length);
    response.writeHead(reply.status, headers);
    response.end(charged.body);
  };

  const server = createServer((incoming, response) => {
    handle(incoming, response).catch((error: unknown) => {
      // The upstream server went away: answer as a gateway would, or cut the connection if an answer began.
      if (response.headersSent) incoming.socket.destroy();
      else
        answer(
          response,
          503,
          { "x-ms-substatus": "0" },
          { code: "ServiceUnavailable", message: String(error) },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    usage: () => ({
      ...usage,
      faults: new Map(usage.faults),
      byKind: new Map([...usage.byKind].map(([kind, tally]) => [kind, { ...tally }])),
      byPartition: new Map([...usage.byPartition].map(([key, entry]) => [key, { ...entry }])),
    }),
    resetUsage: () => {
      usage = emptyUsage();
    },
    setBudget: (next) => {
      ruPerSecond = next;
      buckets.clear();
    },
    inject: (...added) => {
      rules = [...rules, ...added.map((rule) => ({ ...rule }))];
    },
    clearFaults: () => {
      rules = [];
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.destroy();
    },
  };
}
