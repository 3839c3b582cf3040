import { describe, expect, it } from "vitest";
import { hasNoEscapes, jsonTextOf } from "../../src/api/json-text.js";

const strings = [
  "",
  "plain",
  "x".repeat(1024),
  'a "quoted" word',
  "back\\slash",
  "line\nbreak\ttab\u0000nul\u001f",
  "\u007f delete is not escaped",
  "line separators \u2028 \u2029",
  "accents é ü ß, euro \u20ac, rocket \u{1F680}",
  "lone \ud800 surrogate",
  "</script>",
];

describe("the JSON text of a parsed request body", () => {
  it("is exactly what JSON.stringify gives, for every string, written plainly or with escapes", () => {
    for (const value of strings) {
      for (const source of [JSON.stringify({ body: value }), `{"body":"${value}"}`]) {
        // As the pipeline reads it: bytes off the wire, decoded as UTF-8, then parsed.
        const bytes = Buffer.from(source);
        let parsed: { body: unknown };
        try {
          parsed = JSON.parse(bytes.toString("utf8"));
        } catch {
          continue; // raw control characters are not JSON: the pipeline answers 400 first
        }
        expect(jsonTextOf(parsed.body, hasNoEscapes(bytes))).toBe(JSON.stringify(parsed.body));
      }
    }
  });

  it("serializes values that are not strings", () => {
    const value = { a: [1, "two", null], b: { c: true } };
    expect(jsonTextOf(value, true)).toBe(JSON.stringify(value));
    expect(jsonTextOf(42, true)).toBe("42");
  });

  it("treats a source with any backslash, or no source, as having escapes", () => {
    expect(hasNoEscapes(Buffer.from('{"body":"plain"}'))).toBe(true);
    expect(hasNoEscapes(Buffer.from('{"body":"a\\nb"}'))).toBe(false);
    expect(hasNoEscapes(undefined)).toBe(false);
  });
});
