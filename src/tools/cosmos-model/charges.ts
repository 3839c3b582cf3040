/**
 * What the Cosmos DB model charges, in request units, for each kind of
 * request and size of item.
 *
 * Documented (session or eventual consistency):
 * - "Understand request unit consumption",
 *   https://learn.microsoft.com/azure/cosmos-db/understand-request-unit-consumption
 *   gives a read and a write (insert, default indexing) per item size:
 *   1 KB 1.00 / 4.95, 2 KB 1.04 / 6.29, 4 KB 1.14 / 6.67, 8 KB 1.33 / 7.04,
 *   16 KB 1.67 / 9.52, 32 KB 2.19 / 11.23, 64 KB 4.76 / 22.67,
 *   128 KB 9.95 / 48.19, ... The model interpolates between those points.
 * - "Optimize request cost", https://learn.microsoft.com/azure/cosmos-db/optimize-cost-reads-writes:
 *   a point read of a 1 KB item costs 1 RU; "replacing an item costs two
 *   times the charge required to insert the same item" (its "Writing data"
 *   section); a query's cost grows with the items it loads and returns; a
 *   transactional batch is charged the sum of its operations.
 *
 * Assumed where the documentation gives no figure (and kept in one place so a
 * measurement on Azure can replace them): an upsert over an existing item and
 * a patch cost what a replace does (two writes of the item: the ~10 RU of
 * docs/cosmos.md for 1 KB); a delete costs one write of 1 KB; a query costs
 * QUERY_BASE_RU plus a point read of each item it returns; account, database
 * and container requests (metadata) cost 1 RU and are never throttled, as
 * Cosmos DB budgets metadata separately.
 */

export type OperationKind =
  | "read"
  | "create"
  | "replace"
  | "upsert"
  | "patch"
  | "delete"
  | "query"
  | "batch"
  | "bulk"
  | "metadata";

/** Item size in KB, and the read and write charges the documentation gives for it. */
const DOCUMENTED: ReadonlyArray<readonly [kb: number, read: number, write: number]> = [
  [1, 1.0, 4.95],
  [2, 1.04, 6.29],
  [4, 1.14, 6.67],
  [8, 1.33, 7.04],
  [16, 1.67, 9.52],
  [32, 2.19, 11.23],
  [64, 4.76, 22.67],
  [128, 9.95, 48.19],
  [256, 20.28, 98.29],
  [512, 40.95, 184.57],
  [1024, 145.9, 625.0],
  [2048, 291.8, 1250.0],
];

/** Assumed: the documentation gives no number for a query's fixed part. */
export const QUERY_BASE_RU = 2.3;

function interpolate(bytes: number, column: 1 | 2): number {
  const kb = Math.max(1, bytes / 1024);
  let lower = DOCUMENTED[0] as (typeof DOCUMENTED)[number];
  for (const point of DOCUMENTED) {
    if (point[0] >= kb) {
      if (point[0] === lower[0]) return point[column];
      const share = (kb - lower[0]) / (point[0] - lower[0]);
      return lower[column] + share * (point[column] - lower[column]);
    }
    lower = point;
  }
  return lower[column] * (kb / lower[0]);
}

const round = (ru: number) => Math.round(ru * 100) / 100;

/** A point read of an item of `bytes`. */
export const readCharge = (bytes: number) => round(interpolate(bytes, 1));
/** Inserting an item of `bytes` with default indexing. */
export const writeCharge = (bytes: number) => round(interpolate(bytes, 2));

/** The charge of one operation that succeeded or failed on the server, by kind and the item's size. */
export function operationCharge(kind: OperationKind, itemBytes: number, status: number): number {
  // A precondition failure or a conflict is found before the write: charged as the read of the item it met.
  if (status === 404 || status === 409 || status === 412) return readCharge(itemBytes);
  switch (kind) {
    case "read":
      return readCharge(itemBytes);
    case "create":
      return writeCharge(itemBytes);
    case "upsert":
      return status === 201 ? writeCharge(itemBytes) : round(2 * writeCharge(itemBytes));
    case "replace":
    case "patch":
      return round(2 * writeCharge(itemBytes));
    case "delete":
      return writeCharge(1024);
    case "metadata":
      return 1;
    case "query":
    case "batch":
    case "bulk":
      throw new Error(`${kind} is charged by its parts`);
  }
}

/** A query that returned items of these sizes. */
export const queryCharge = (returnedItemBytes: number[]) =>
  round(returnedItemBytes.reduce((sum, bytes) => sum + readCharge(bytes), QUERY_BASE_RU));

/** The kind of a REST request to an item or container (https://learn.microsoft.com/rest/api/cosmos-db/). */
export function requestKind(method: string, path: string, headers: Record<string, unknown>): OperationKind {
  const isTrue = (name: string) => String(headers[name] ?? "").toLowerCase() === "true";
  const segments = path.split("/").filter((segment) => segment !== "");
  const onDocs = segments.length >= 5 && segments[4] === "docs";
  // The SDK asks the gateway for a query plan before some queries: not a query of the data.
  if (!onDocs || isTrue("x-ms-cosmos-is-query-plan-request")) return "metadata";
  const onItem = segments.length === 6;
  if (
    method === "POST" &&
    (isTrue("x-ms-documentdb-isquery") || headers["content-type"] === "application/query+json")
  )
    return "query";
  if (method === "POST" && isTrue("x-ms-cosmos-is-batch-request"))
    return isTrue("x-ms-cosmos-batch-atomic") ? "batch" : "bulk";
  if (method === "POST") return isTrue("x-ms-documentdb-is-upsert") ? "upsert" : "create";
  if (!onItem) return "metadata";
  if (method === "GET") return "read";
  if (method === "PUT") return "replace";
  if (method === "PATCH") return "patch";
  if (method === "DELETE") return "delete";
  return "metadata";
}

/** The kind of one operation of a batch or bulk request (its `operationType`). */
export function batchOperationKind(operationType: unknown): OperationKind {
  switch (String(operationType).toLowerCase()) {
    case "create":
      return "create";
    case "upsert":
      return "upsert";
    case "read":
      return "read";
    case "delete":
      return "delete";
    case "replace":
      return "replace";
    case "patch":
      return "patch";
    default:
      return "metadata";
  }
}
