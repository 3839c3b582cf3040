import { type FieldError, fail, ok, type Result } from "./errors.js";
import { LIMITS } from "./limits.js";

/**
 * A subscription's filter on a message's attributes. One condition per
 * attribute key; a message matches when every condition holds. A message
 * without the attribute fails every condition except `{ exists: false }`.
 */
export type Condition =
  /** Any of these values. */
  | { kind: "anyOf"; values: readonly string[] }
  | { kind: "prefix"; prefix: string }
  | { kind: "exists"; exists: boolean }
  /** Present, and none of these values. */
  | { kind: "anythingBut"; values: readonly string[] };

/** Keyed by attribute name in a Map: attribute names are user-chosen, never plain-object keys. */
export interface Filter {
  attributes: ReadonlyMap<string, Condition>;
}

/** No filter (`null`) matches every message. */
export function matches(filter: Filter | null, attributes: Readonly<Record<string, string>>): boolean {
  if (filter === null) return true;
  for (const [key, condition] of filter.attributes) {
    const value = Object.hasOwn(attributes, key) ? attributes[key] : undefined;
    if (!holds(condition, value)) return false;
  }
  return true;
}

function holds(condition: Condition, value: string | undefined): boolean {
  switch (condition.kind) {
    case "exists":
      return (value !== undefined) === condition.exists;
    case "anyOf":
      return value !== undefined && condition.values.includes(value);
    case "prefix":
      return value?.startsWith(condition.prefix) === true;
    case "anythingBut":
      return value !== undefined && !condition.values.includes(value);
  }
}

export const FILTER_LIMITS = { keys: LIMITS.attributes.maxCount, values: 100 } as const;

/**
 * Reads a filter from its JSON form (`{ "attributes": { key: condition } }`),
 * naming the path of every malformed part.
 */
export function parseFilter(json: unknown): Result<Filter> {
  const errors: FieldError[] = [];
  const attributes = new Map<string, Condition>();
  if (
    !isObject(json) ||
    Object.keys(json).some((key) => key !== "attributes") ||
    !isObject(json.attributes)
  ) {
    return invalid([{ path: "filter", message: 'expected { "attributes": { ... } }' }]);
  }
  const entries = Object.entries(json.attributes);
  if (entries.length > FILTER_LIMITS.keys) {
    errors.push({ path: "filter.attributes", message: `at most ${FILTER_LIMITS.keys} keys` });
  }
  for (const [key, raw] of entries) {
    const path = `filter.attributes.${key}`;
    if (!LIMITS.attributes.key.test(key)) {
      errors.push({ path, message: "not a valid attribute name" });
      continue;
    }
    const condition = conditionOf(raw, path, errors);
    if (condition) attributes.set(key, condition);
  }
  return errors.length > 0 ? invalid(errors) : ok({ attributes });
}

function conditionOf(raw: unknown, path: string, errors: FieldError[]): Condition | undefined {
  if (Array.isArray(raw)) {
    const values = valuesOf(raw, path, errors);
    return values && { kind: "anyOf", values };
  }
  if (!isObject(raw) || Object.keys(raw).length !== 1) {
    errors.push({ path, message: "expected a list of values or one of prefix, exists, anythingBut" });
    return undefined;
  }
  if ("prefix" in raw) {
    if (typeof raw.prefix === "string" && raw.prefix.length <= LIMITS.attributes.maxValueLength) {
      return { kind: "prefix", prefix: raw.prefix };
    }
    errors.push({ path: `${path}.prefix`, message: "expected a string" });
  } else if ("exists" in raw) {
    if (typeof raw.exists === "boolean") return { kind: "exists", exists: raw.exists };
    errors.push({ path: `${path}.exists`, message: "expected true or false" });
  } else if ("anythingBut" in raw) {
    const values = Array.isArray(raw.anythingBut)
      ? valuesOf(raw.anythingBut, `${path}.anythingBut`, errors)
      : undefined;
    if (values) return { kind: "anythingBut", values };
    if (!Array.isArray(raw.anythingBut))
      errors.push({ path: `${path}.anythingBut`, message: "expected a list" });
  } else {
    errors.push({ path, message: `unknown condition "${Object.keys(raw)[0]}"` });
  }
  return undefined;
}

function valuesOf(raw: unknown[], path: string, errors: FieldError[]): string[] | undefined {
  if (raw.length === 0 || raw.length > FILTER_LIMITS.values) {
    errors.push({ path, message: `expected 1 to ${FILTER_LIMITS.values} values` });
    return undefined;
  }
  const bad = raw.findIndex(
    (value) => typeof value !== "string" || value.length > LIMITS.attributes.maxValueLength,
  );
  if (bad >= 0) {
    errors.push({ path: `${path}.${bad}`, message: "expected a string attribute value" });
    return undefined;
  }
  return raw as string[];
}

/** The JSON form `parseFilter` reads, for the API and the stores. */
export function filterJson(filter: Filter): { attributes: Record<string, unknown> } {
  // Object.fromEntries defines own properties, so a key like `__proto__` stays data.
  return {
    attributes: Object.fromEntries(
      [...filter.attributes].map(([key, condition]) => [key, conditionJson(condition)]),
    ),
  };
}

function conditionJson(condition: Condition): unknown {
  switch (condition.kind) {
    case "anyOf":
      return [...condition.values];
    case "prefix":
      return { prefix: condition.prefix };
    case "exists":
      return { exists: condition.exists };
    case "anythingBut":
      return { anythingBut: [...condition.values] };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const invalid = (errors: FieldError[]) => fail("validation_failed", "the filter is malformed", { errors });
