import { type Filter, parseFilter } from "../../domain/filter.js";

/**
 * A subscription's filter as a store reads it back (`filterJson`'s form, or
 * null for none). The store wrote it from a filter that parsed, so one that
 * does not parse now is a corrupt record: an error, never a subscription
 * that matches everything.
 */
export function storedFilter(json: unknown, subscriptionId: string): Filter | null {
  if (json === null) return null;
  const filter = parseFilter(json);
  if (!filter.ok) throw new Error(`subscription ${subscriptionId} holds a filter it was never given`);
  return filter.value;
}
