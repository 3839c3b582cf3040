import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { filterJson, matches, parseFilter } from "../../src/domain/filter.js";

/**
 * The rule as docs/api.md states it, written straight on the JSON form: all
 * listed keys must match; a list is any of its values, `prefix` a string
 * prefix, `exists` presence, `anythingBut` present and none of the values.
 */
function reference(
  json: { attributes: Record<string, unknown> },
  attributes: Record<string, string>,
): boolean {
  return Object.entries(json.attributes).every(([key, condition]) => {
    const present = Object.keys(attributes).includes(key);
    const value = present ? attributes[key] : undefined;
    if (Array.isArray(condition)) return present && condition.includes(value);
    const c = condition as { prefix?: string; exists?: boolean; anythingBut?: string[] };
    if (c.prefix !== undefined) return present && (value as string).slice(0, c.prefix.length) === c.prefix;
    if (c.exists !== undefined) return present === c.exists;
    return present && !(c.anythingBut ?? []).includes(value as string);
  });
}

// A small alphabet, so that generated filters and messages meet often.
const key = fc.constantFrom("type", "region", "tier", "test", "__proto__", "constructor");
const value = fc.constantFrom("", "a", "ab", "abc", "b", "eu-west", "eu", "free");
const condition = fc.oneof(
  fc.array(value, { minLength: 1, maxLength: 3 }),
  fc.record({ prefix: value }),
  fc.record({ exists: fc.boolean() }),
  fc.record({ anythingBut: fc.array(value, { minLength: 1, maxLength: 3 }) }),
);
// Entries, turned into objects with defineProperty semantics, so "__proto__" is an ordinary key.
const objectOf = <T>(entries: [string, T][]) => Object.fromEntries(entries) as Record<string, T>;
const filterArb = fc
  .uniqueArray(fc.tuple(key, condition), { selector: ([k]) => k, maxLength: 4 })
  .map((entries) => ({ attributes: objectOf(entries) }));
const attributesArb = fc
  .uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 5 })
  .map((entries) => objectOf(entries));

describe("subscription filters", () => {
  it("match exactly as the reference rule does", () => {
    fc.assert(
      fc.property(filterArb, attributesArb, (json, attributes) => {
        const parsed = parseFilter(json);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(matches(parsed.value, attributes)).toBe(reference(json, attributes));
      }),
      { numRuns: 2000 },
    );
  });

  it("read back what they write", () => {
    fc.assert(
      fc.property(filterArb, (json) => {
        const parsed = parseFilter(json);
        if (!parsed.ok) throw new Error("a valid filter was refused");
        expect(filterJson(parsed.value)).toEqual(json);
      }),
    );
  });

  it("match everything when there is none, and nothing inherited counts as an attribute", () => {
    expect(matches(null, {})).toBe(true);
    const parsed = parseFilter({ attributes: { constructor: { exists: true } } });
    if (!parsed.ok) throw new Error("refused");
    expect(matches(parsed.value, {})).toBe(false);
    expect(matches(parsed.value, { constructor: "x" })).toBe(true);
  });

  it("name the path of a malformed part", () => {
    const errorsOf = (json: unknown) => {
      const parsed = parseFilter(json);
      return parsed.ok ? [] : (parsed.error.errors ?? []).map((error) => error.path);
    };
    expect(errorsOf({ attributes: { type: { prefix: 1 } } })).toEqual(["filter.attributes.type.prefix"]);
    expect(errorsOf({ attributes: { type: [] } })).toEqual(["filter.attributes.type"]);
    expect(errorsOf({ attributes: { type: ["a", 2] } })).toEqual(["filter.attributes.type.1"]);
    expect(errorsOf({ attributes: { type: { exists: "yes" } } })).toEqual(["filter.attributes.type.exists"]);
    expect(errorsOf({ attributes: { type: { anythingBut: "free" } } })).toEqual([
      "filter.attributes.type.anythingBut",
    ]);
    expect(errorsOf({ attributes: { type: { regex: "." } } })).toEqual(["filter.attributes.type"]);
    expect(errorsOf({ attributes: { type: { prefix: "a", exists: true } } })).toEqual([
      "filter.attributes.type",
    ]);
    expect(errorsOf({ attributes: { "bad key!": ["a"] } })).toEqual(["filter.attributes.bad key!"]);
    expect(errorsOf({ type: ["a"] })).toEqual(["filter"]);
    expect(errorsOf([])).toEqual(["filter"]);
  });
});
