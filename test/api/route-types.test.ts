import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type PathParams, problems, routesNamed, taggedRoute } from "../../src/api/routes/route.js";
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

const serviceRoute = taggedRoute("Service");

const sample = (
  handle: Parameters<
    typeof serviceRoute<"GET /sample", unknown, unknown, unknown, typeof declared>
  >[1]["handle"],
) => serviceRoute("GET /sample", { summary: "s", responses: declared, handle });

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

describe("a route's path parameters come from its endpoint", () => {
  const part = serviceRoute("GET /things/{thing}/parts/{part}", {
    summary: "s",
    responses: { 204: { description: "Nothing" } },
    async handle({ params }, _services, reply) {
      return ok(reply(204, { "x-thing": params.thing, "x-part": params.part }));
    },
  });
  const named: PathParams<"GET /things/{thing}/parts/{part}"> = { thing: "a", part: "b" };
  // @ts-expect-error: a parameter the path does not name
  const unnamed: PathParams<"GET /things/{thing}/parts/{part}"> = { thing: "a", part: "b", other: "c" };

  it("validates each {param} as a string, and nothing else", async () => {
    expect({ method: part.method, path: part.path }).toEqual({
      method: "GET",
      path: "/things/{thing}/parts/{part}",
    });
    expect(part.params?.parse(named)).toEqual(named);
    expect(part.params?.safeParse(unnamed).success).toBe(false);
    expect(part.params?.safeParse({ thing: "a" }).success).toBe(false);
    expect(Object.keys(part.responses)).toContain("400");
    const answer = await part.handle({ params: named } as never, {} as never);
    expect(answer).toEqual({ ok: true, value: { status: 204, headers: { "x-thing": "a", "x-part": "b" } } });
  });

  it("takes none on a path without any, so there is no input to refuse", () => {
    const things = serviceRoute("GET /things", {
      summary: "s",
      public: true,
      responses: { 204: { description: "Nothing" } },
      async handle(_input, _services, reply) {
        return ok(reply(204));
      },
    });
    expect(things.params).toBeUndefined();
    expect(Object.keys(things.responses).sort()).toEqual(["204", "500", "503"]);
  });
});

describe("a file's list names its routes", () => {
  it("by the consts they are declared as, in order", () => {
    const noAnswer = async () => ok({ status: 204 as const, headers: {} });
    const first = sample(noAnswer);
    const second = sample(noAnswer);
    expect(routesNamed({ first, second }).map(({ name, path }) => ({ name, path }))).toEqual([
      { name: "first", path: "/sample" },
      { name: "second", path: "/sample" },
    ]);
  });
});
