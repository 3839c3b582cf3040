import secureJsonParse from "secure-json-parse";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";

/**
 * Parses a request body's JSON, refusing what would later break or silently
 * change it:
 * - a `__proto__` key (and `constructor.prototype`), which object-building
 *   code (schema records among it) drops without a word or turns into
 *   prototype pollution; refused as Fastify refuses it, with its parser;
 * - nesting deeper than `LIMITS.jsonDepth`, which overflows the stack of
 *   every recursive walk after the parse (JSON.stringify among them).
 * The paths in the errors are the schema validator's, dot-separated.
 */
export function parseRequestJson(text: string): Result<unknown> {
  let value: unknown;
  try {
    value = secureJsonParse.parse(text, null, { protoAction: "error", constructorAction: "error" });
  } catch (error) {
    if (/forbidden prototype property/.test(String(error))) {
      const path = forbiddenKeyPath(JSON.parse(text));
      return fail(
        "validation_failed",
        `${path}: "__proto__" and "constructor.prototype" keys are not accepted`,
        {
          errors: [{ path, message: "a reserved key" }],
        },
      );
    }
    return fail("validation_failed", "the body is not valid JSON", {
      errors: [{ path: "", message: "invalid JSON" }],
    });
  }
  const tooDeep =
    typeof value === "object" && value !== null ? pathPastDepth(value, LIMITS.jsonDepth) : undefined;
  if (tooDeep !== undefined) {
    return fail("validation_failed", `the body is nested deeper than ${LIMITS.jsonDepth} levels`, {
      errors: [{ path: tooDeep, message: `nested deeper than ${LIMITS.jsonDepth} levels` }],
    });
  }
  return ok(value);
}

interface Visit {
  value: unknown;
  depth: number;
  key: string;
  parent: Visit | undefined;
}

const pathOf = (visit: Visit | undefined): string => {
  const keys: string[] = [];
  for (let at = visit; at?.parent; at = at.parent) keys.push(at.key);
  return keys.reverse().join(".");
};

/** The path of the first array or object nested deeper than `limit`, walking without recursion. */
function pathPastDepth(value: unknown, limit: number): string | undefined {
  const stack: Visit[] = [{ value, depth: 1, key: "", parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop() as Visit;
    if (visit.depth > limit) return pathOf(visit);
    for (const key in visit.value as object) {
      const child = (visit.value as Record<string, unknown>)[key];
      if (typeof child === "object" && child !== null)
        stack.push({ value: child, depth: visit.depth + 1, key, parent: visit });
    }
  }
  return undefined;
}

/** Where the forbidden key is, found again in a plain parse; only a refused body pays for it. */
function forbiddenKeyPath(value: unknown): string {
  const stack: Visit[] = [{ value, depth: 1, key: "", parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop() as Visit;
    if (typeof visit.value !== "object" || visit.value === null) continue;
    for (const [key, child] of Object.entries(visit.value)) {
      const at: Visit = { value: child, depth: visit.depth + 1, key, parent: visit };
      if (key === "__proto__") return pathOf(at);
      if (
        key === "constructor" &&
        typeof child === "object" &&
        child !== null &&
        Object.hasOwn(child, "prototype")
      )
        return `${pathOf(at)}.prototype`;
      stack.push(at);
    }
  }
  return "";
}
