import { describe, expect, it } from "vitest";
import { z } from "zod";
import { problems, route } from "../../src/api/routes/route.js";
import { ok } from "../../src/domain/errors.js";

/**
 * A handler's answers are typed by the responses its route declares; the
 * `@ts-expect-error` lines are the check (`tsc -p tsconfig.test.json` fails
 * when one of them compiles), the runtime assertions what `reply` builds.
 */

const thing = z.object({ id: z.string(), count: z.int() });

const declared = {
  200: { description: "A thing", schema: thing },
  204: { description: "Nothing" },
  ...problems(404),
} as const;

const sample = (
  handle: Parameters<typeof route<unknown, unknown, unknown, unknown, typeof declared>>[0]["handle"],
) =>
  route({
    name: "sample",
    method: "GET",
    path: "/sample",
    summary: "s",
    tag: "Service",
    responses: declared,
    handle,
  });

describe("a route's declared responses type its handler", () => {
  it("accepts the declared bodies", async () => {
    const answering = sample(async (_input, _services, reply) => ok(reply(200, { id: "a", count: 1 })));
    const answer = await answering.handle({} as never, {} as never);
    expect(answer).toEqual({ ok: true, value: { status: 200, headers: {}, body: { id: "a", count: 1 } } });
  });

  it("refuses, at compile time, a body the schema does not allow", () => {
    // @ts-expect-error: a field the schema does not name
    sample(async (_input, _services, reply) => ok(reply(200, { id: "a", count: 1, extra: true })));
    // @ts-expect-error: a missing field
    sample(async (_input, _services, reply) => ok(reply(200, { id: "a" })));
    // @ts-expect-error: a status the route does not declare
    sample(async (_input, _services, reply) => ok(reply(201, { id: "a", count: 1 })));
    // @ts-expect-error: a problem status is answered through a Failure, not by the handler
    sample(async (_input, _services, reply) => ok(reply(404, { id: "a", count: 1 })));
    // @ts-expect-error: a body on a status that declares none
    sample(async (_input, _services, reply) => ok(reply(204, { id: "a", count: 1 })));
    // @ts-expect-error: an answer built by hand still has to match
    sample(async () => ok({ status: 200 as const, headers: {}, body: { id: 1 } }));
    expect(true).toBe(true);
  });
});
