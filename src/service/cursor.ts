import { fail, ok, type Result } from "../domain/errors.js";
import type { Page } from "./ports.js";

/** Opaque page cursors: base64url JSON of the sort key of the last item on the page. */
export const encodeCursor = (key: readonly (string | number)[]): string =>
  Buffer.from(JSON.stringify(key)).toString("base64url");

export function decodeCursor(
  cursor: string | undefined,
  arity: number,
): Result<(string | number)[] | undefined> {
  if (cursor === undefined) return ok(undefined);
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(key) &&
      key.length === arity &&
      key.every((part) => typeof part === "string" || typeof part === "number")
    ) {
      return ok(key);
    }
  } catch {
    // fall through to the validation failure below
  }
  return fail("validation_failed", "the cursor is not one this server issued", {
    errors: [{ path: "cursor", message: "malformed cursor" }],
  });
}

/** A page from `limit + 1` rows: the extra row only tells that there is a next page. */
export function pageOf<T>(
  rows: T[],
  limit: number,
  keyOf: (item: T) => readonly (string | number)[],
): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1] as T)) };
}
