import { ok, type Result } from "../../domain/errors.js";
import type { Message } from "../../domain/message.js";
import { type ApiKeyRecord, decodeCursor, type Page, type PageRequest, pageOf } from "../../service/ports.js";

/** Where a listing stands: the sort key of the last item a page held (a page cursor decodes to it). */
export type SortKey = (string | number)[];

/** The order of a keyset listing: each item's sort key, and the key that comes before every item. */
export interface PageOrder<T> {
  start: SortKey;
  keyOf: (item: T) => SortKey;
}

/** Queues and topics, by name. */
export const BY_NAME: PageOrder<{ name: string }> = { start: [""], keyOf: (item) => [item.name] };

/** Messages by id, which is their arrival order. */
export const BY_ID: PageOrder<{ id: string }> = { start: [""], keyOf: (item) => [item.id] };

/** Dead letters, oldest dead first (by id within the same millisecond). */
export const BY_DEAD_LETTERED_AT: PageOrder<Message> = {
  start: [-1, ""],
  keyOf: (message) => [message.deadLetteredAt?.getTime() ?? 0, message.id],
};

/** API keys, oldest first (by id within the same millisecond). */
export const BY_CREATED_AT: PageOrder<ApiKeyRecord> = {
  start: [-1, ""],
  keyOf: (key) => [key.createdAt.getTime(), key.id],
};

/**
 * One page of a keyset listing, the same in every store: `read` returns up to
 * `count` items after the sort key `after`, in `order` (one more than the
 * page holds, which only tells that there is a next page). A cursor this
 * server did not issue fails with `validation_failed` before anything is read.
 */
export async function readPage<T>(
  page: PageRequest,
  order: PageOrder<T>,
  read: (after: SortKey, count: number) => T[] | Promise<T[]>,
): Promise<Result<Page<T>>> {
  const after = decodeCursor(page.cursor, order.start.length);
  if (!after.ok) return after;
  const items = await read(after.value ?? order.start, page.limit + 1);
  return ok(pageOf(items, page.limit, order.keyOf));
}
