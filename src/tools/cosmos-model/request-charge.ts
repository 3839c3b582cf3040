import { batchOperationKind, type OperationKind, operationCharge, queryCharge } from "./charges.js";

/**
 * What one forwarded request costs, from the request and the test server's
 * answer (./charges.ts has the figures), and the estimate the model's budget
 * takes before the request runs.
 */

export interface Charged {
  body: Buffer;
  requestUnits: number;
  /** Charges of a bulk request's operations by partition; otherwise the request's own partition. */
  byPartition?: Map<string, number>;
}

/** `["q1"]` → `q1`; undefined when the request names none. */
export function partitionKeyOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== "string") return undefined;
  try {
    const parsed = JSON.parse(header) as unknown;
    return Array.isArray(parsed) ? parsed.map((part) => String(part)).join("|") : String(parsed);
  } catch {
    return header;
  }
}

const jsonBytes = (value: unknown) => (value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value)));

function parseJson(body: Buffer): unknown {
  try {
    return body.length === 0 ? undefined : (JSON.parse(body.toString("utf8")) as unknown);
  } catch {
    return undefined;
  }
}

/** What a forwarded request cost, and its answer with the charges written in. */
export function charge(
  kind: OperationKind,
  container: string,
  requestBody: Buffer,
  status: number,
  responseBody: Buffer,
): Charged {
  if (status >= 400 && status !== 404 && status !== 409 && status !== 412)
    return { body: responseBody, requestUnits: kind === "metadata" ? 0 : 1 };
  switch (kind) {
    case "query": {
      const answer = parseJson(responseBody) as { Documents?: unknown[] } | undefined;
      return { body: responseBody, requestUnits: queryCharge((answer?.Documents ?? []).map(jsonBytes)) };
    }
    case "batch":
    case "bulk": {
      const operations = (parseJson(requestBody) ?? []) as {
        operationType?: string;
        resourceBody?: unknown;
        partitionKey?: string;
      }[];
      const results = (parseJson(responseBody) ?? []) as {
        statusCode: number;
        requestCharge?: number;
        resourceBody?: unknown;
      }[];
      const byPartition = new Map<string, number>();
      let total = 0;
      results.forEach((result, index) => {
        const operation = operations[index] ?? {};
        const size = jsonBytes(operation.resourceBody ?? result.resourceBody);
        const ru =
          result.statusCode === 424
            ? 0
            : operationCharge(batchOperationKind(operation.operationType), size, result.statusCode);
        result.requestCharge = ru;
        total += ru;
        const key = `${container}/${partitionKeyOf(operation.partitionKey) ?? ""}`;
        byPartition.set(key, (byPartition.get(key) ?? 0) + ru);
      });
      const rounded = Math.round(total * 100) / 100;
      return {
        body: Buffer.from(JSON.stringify(results)),
        requestUnits: rounded,
        ...(kind === "bulk" ? { byPartition } : {}),
      };
    }
    case "read":
    case "patch":
      return { body: responseBody, requestUnits: operationCharge(kind, responseBody.length, status) };
    default:
      return { body: responseBody, requestUnits: operationCharge(kind, requestBody.length, status) };
  }
}

/** What a request will cost, taken from its bucket when it is let through and corrected once it ran. */
export function estimate(kind: OperationKind, requestBody: Buffer): number {
  switch (kind) {
    case "query":
      return queryCharge([]);
    case "batch": {
      const operations = (parseJson(requestBody) ?? []) as {
        operationType?: string;
        resourceBody?: unknown;
      }[];
      return operations.reduce(
        (sum, operation) =>
          sum +
          operationCharge(
            batchOperationKind(operation.operationType),
            jsonBytes(operation.resourceBody),
            200,
          ),
        0,
      );
    }
    case "read":
    case "patch":
    case "delete":
      return operationCharge(kind, 1024, 200);
    default:
      return operationCharge(kind, requestBody.length, 200);
  }
}
