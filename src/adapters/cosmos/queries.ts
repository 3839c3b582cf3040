import {
  BulkOperationType,
  type Container,
  type ItemDefinition,
  type OperationInput,
  type PatchOperation,
  type SqlParameter,
} from "@azure/cosmos";
import type { Queue } from "../../domain/queue.js";
import { META_ID, type MetaDocument, partitionKeyOf, TOTALS, type Total } from "./documents.js";
import { withRetry } from "./resilience.js";

/** How many operations one bulk request carries: the SDK's and the service's limit per batch is 100. */
const BULK_CHUNK = 100;

/**
 * Whether a Cosmos DB failure means "unavailable, retry" (503 to the
 * client) rather than a bug: throttling (429; StoreBusyError once the store's retries are spent),
 * unavailability (503), timeouts (408 and the SDK's `TimeoutError`), a
 * write conflict to retry (449), and a store that cannot be reached. The
 * SDK's transactional batch rethrows every request-level failure as a plain
 * `Error("Batch request error: …")` without its status (@azure/cosmos
 * dist/esm/client/Item/Items.js, `batch`); its operations' own failures
 * (409, 412) come back in the response instead, so what it throws is
 * throttling, unavailability or the network (the store's limits keep a
 * batch from being too large), and counts as unavailable too. The outage
 * drill (src/tools/drill.ts) found it: without this, refused connections
 * during an enqueue answered 500.
 */
export function isTransientCosmosError(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status === 429 || status === 503 || status === 408 || status === 449;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|TimeoutError|REQUEST_SEND_ERROR)$/.test(
      code,
    );
  }
  return typeof message === "string" && message.startsWith("Batch request error: ");
}

export const statusOf = (error: unknown): number | undefined => {
  const code =
    (error as { code?: unknown; statusCode?: unknown }).code ??
    (error as { statusCode?: unknown }).statusCode;
  return typeof code === "number" ? code : undefined;
};

/** Runs a read, a query or a write that may be repeated as it is, retried within the store's budget. */
export const retried = <T>(op: () => Promise<T>): Promise<T> => withRetry(op, { idempotent: true });

/** Runs a write that must not be repeated when its outcome is unknown (an `incr`): retried only when nothing was applied. */
export const once = <T>(op: () => Promise<T>): Promise<T> => withRetry(op, { idempotent: false });

/** A point read, retried; undefined when the document does not exist. */
export async function readItem<T extends ItemDefinition>(
  container: Container,
  id: string,
  partitionKey: string,
): Promise<T | undefined> {
  const { resource } = await retried(() => container.item(id, partitionKey).read<T>());
  return resource;
}

export function params(values: Record<string, unknown>): SqlParameter[] {
  return Object.entries(values).map(([name, value]) => ({ name: `@${name}`, value: value as never }));
}

/** Every partition key of a queue, partition 0 first. */
export const partitionKeys = (queue: Queue): string[] =>
  Array.from({ length: queue.partitions }, (_, partition) => partitionKeyOf(queue.id, partition));

/**
 * A query inside one logical partition, sent once (`query` retries it). The partition key is both the request's scope
 * and, as `@pk`, a condition every query text must state: the local test
 * server ignores the scope, and naming the tenant or queue in the filter
 * keeps isolation from resting on one request option.
 */
export async function queryPartition<T>(
  container: Container,
  partitionKey: string,
  text: string,
  values: Record<string, unknown>,
): Promise<T[]> {
  if (!text.includes("= @pk")) throw new Error(`query does not filter on its partition: ${text}`);
  const { resources } = await container.items
    .query<T>({ query: text, parameters: params({ ...values, pk: partitionKey }) }, { partitionKey })
    .fetchAll();
  return resources;
}

/** `queryPartition`, retried within the store's budget (a query may be repeated as it is). */
export const query = <T>(...args: Parameters<typeof queryPartition>): Promise<T[]> =>
  retried(() => queryPartition<T>(...args));

/** The same query in every partition of the queue, one request each, in parallel; results concatenated. */
export async function queryEach<T>(
  container: Container,
  queue: Queue,
  text: string,
  values: Record<string, unknown>,
): Promise<T[]> {
  const parts = await Promise.all(partitionKeys(queue).map((pk) => query<T>(container, pk, text, values)));
  return parts.flat();
}

/** Counts the queue's messages matching `where`, over all its partitions. */
export async function countMessages(
  container: Container,
  queue: Queue,
  where: string,
  values: Record<string, unknown>,
): Promise<number> {
  const counts = await queryEach<number>(
    container,
    queue,
    `SELECT VALUE COUNT(1) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND ${where}`,
    values,
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * Deletes if the etag still matches, retried; true when it is gone (deleted
 * now, or already: a retry after a lost answer).
 */
export async function deleteIfMatch(
  container: Container,
  partitionKey: string,
  id: string,
  etag: string | undefined,
): Promise<boolean> {
  try {
    await retried(() =>
      container
        .item(id, partitionKey)
        .delete({ accessCondition: { type: "IfMatch", condition: etag ?? "" } }),
    );
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status === 412) return false;
    if (status === 404) return true;
    throw error;
  }
}

export async function deleteAll(container: Container, partitionKey: string, ids: string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += BULK_CHUNK) {
    const operations: OperationInput[] = ids
      .slice(start, start + BULK_CHUNK)
      .map((id) => ({ operationType: BulkOperationType.Delete, id, partitionKey }));
    // Deleting again what is gone is a 404 in the results, not an error: the whole chunk may be repeated.
    await retried(() => container.items.executeBulkOperations(operations));
  }
}

/**
 * Deletes the queue's documents that `where` selects (it continues the
 * filter: `AND ...`; empty for all of them), one partition after another;
 * returns the ids it deleted.
 */
export async function deleteWhere(container: Container, queue: Queue, where: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const pk of partitionKeys(queue)) {
    const ids = await query<string>(
      container,
      pk,
      `SELECT VALUE c.id FROM c WHERE c.queueId = @pk ${where}`,
      {},
    );
    await deleteAll(container, pk, ids);
    deleted.push(...ids);
  }
  return deleted;
}

/**
 * Adds to a partition's totals with one atomic `incr` patch (no read, no etag
 * race). A partition's totals document is created with its first change: only
 * partition 0's exists from the queue's creation. An increment is not
 * idempotent: it is retried only when nothing was applied (429, a refused
 * connection); an unknown outcome throws StoreBusyError rather than risk
 * counting twice (docs/reliability.md, "Totals").
 */
export async function addToTotals(
  container: Container,
  partitionKey: string,
  totals: Partial<Record<Total, number>>,
): Promise<void> {
  const operations: PatchOperation[] = TOTALS.filter((total) => (totals[total] ?? 0) !== 0).map((total) => ({
    op: "incr",
    path: `/${total}`,
    value: totals[total] as number,
  }));
  if (operations.length === 0) return;
  try {
    await once(() => container.item(META_ID, partitionKey).patch(operations));
    return;
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  const first: MetaDocument = {
    id: META_ID,
    kind: "meta",
    queueId: partitionKey,
    enqueuedTotal: 0,
    ackedTotal: 0,
    deadLetteredTotal: 0,
    redrivenTotal: 0,
  };
  try {
    await once(() => container.items.create<MetaDocument>({ ...first, ...totals }));
  } catch (error) {
    // Another writer created it first: add to theirs.
    if (statusOf(error) !== 409) throw error;
    await once(() => container.item(META_ID, partitionKey).patch(operations));
  }
}

/** The queue's totals: the sum of its partitions' documents. */
export async function readTotals(container: Container, queue: Queue): Promise<Record<Total, number>> {
  const documents = await Promise.all(
    partitionKeys(queue).map((pk) => readItem<MetaDocument>(container, META_ID, pk)),
  );
  const sum: Record<Total, number> = {
    enqueuedTotal: 0,
    ackedTotal: 0,
    deadLetteredTotal: 0,
    redrivenTotal: 0,
  };
  for (const resource of documents) {
    for (const total of TOTALS) sum[total] += resource?.[total] ?? 0;
  }
  return sum;
}
