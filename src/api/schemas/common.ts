import { z } from "zod";
import { LIMITS } from "../../domain/limits.js";
import { GRANTS } from "../../domain/queue.js";

/** Building blocks the resources' schemas share, and the problem document every refusal is. */

export const seconds = (range: { min: number; max: number }) => z.int().min(range.min).max(range.max);

export const queueName = z
  .string()
  .regex(LIMITS.queueName, "lowercase letters, digits, '-', '_' or '.', 1 to 63 long");

export const grant = z.enum(GRANTS as ["send", "receive", "read", "manage"]);

export const timestamp = z.string().meta({ format: "date-time" });

/** Who may do what on a queue or a topic: a principal and the grants it holds there. */
export const accessEntryOf = <G extends z.ZodType>(grants: G) =>
  z.strictObject({
    principal: z.string().min(1).max(256).meta({ description: "A subject id, an API key id or an app role" }),
    grants: z.array(grants).min(1),
  });

/**
 * A query number: parsed from the query string's text, typed as the number
 * a client sends (zod would type a coerced input as `unknown`).
 */
export const queryInt = () => z.coerce.number<number>().int();

export const pageQuery = z.strictObject({
  limit: queryInt().min(1).max(LIMITS.pageSize.max).default(LIMITS.pageSize.default),
  cursor: z.string().max(512).optional(),
});

export const listOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() }).meta({ id });

export const purgedResponse = z
  .object({ purged: z.int().meta({ description: "How many were deleted" }) })
  .meta({ id: "Purged" });

export const problemResponse = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem" });

/**
 * A batch's answer: per item its index and status, with either the fields of
 * `outcome` (what the single form answers) or the problem that refused it.
 */
export const batchResultOf = <Shape extends z.ZodRawShape>(outcome: z.ZodObject<Shape>, id: string) =>
  z
    .object({
      results: z.array(
        z.object({
          index: z.int(),
          status: z.int(),
          ...outcome.partial().shape,
          error: problemResponse.optional(),
        }),
      ),
    })
    .meta({ id });
