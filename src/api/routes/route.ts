import { z } from "zod";
import type { Principal } from "../../domain/access.js";
import { ok, type Result } from "../../domain/errors.js";
import type { ServiceContext } from "../../service/context.js";
import type { Redriver } from "../../service/dead-letters.js";
import type { LiveEvents, ReadStaticFile } from "../../service/ports.js";
import type { TopicContext } from "../../service/topics.js";
import type { ApiResponse } from "../http.js";
import { problemResponse } from "../schemas/index.js";

/** What handlers call into; built once per host by `src/app.ts`. */
export interface Services {
  context: ServiceContext;
  events: LiveEvents;
  /** The built web console's files. */
  consoleFiles: ReadStaticFile;
  redriver: Redriver;
  topics: TopicContext;
  health(): Promise<{ status: "ok" | "unavailable"; store: "sqlite" | "cosmos"; version: string }>;
  openApiDocument(): unknown;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A method and a path, as api.md writes them: `"GET /v1/queues/{queue}"`. */
export type Endpoint = `${HttpMethod} /${string}`;

type ParamNames<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}`
  ? Name | ParamNames<Rest>
  : never;

/** The path parameters an endpoint's `{param}` segments name, each a string. */
export type PathParams<E extends string> = { [K in ParamNames<E>]: string };

/**
 * One status a route can answer. With `schema`, a JSON body the contract
 * check (`test/contract-check.ts`) parses every such answer with; with
 * `contentType`, bytes or a stream that are not JSON; with neither, no body.
 * `problem` statuses come from a `Failure` the pipeline maps, never from
 * the handler itself.
 */
export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
  problem?: true;
}

export type Responses = Record<number, ResponseDoc>;

type Headers = Record<string, string>;
type StreamWriter = NonNullable<ApiResponse["stream"]>;

/** The body an answer of a status carries: what its schema accepts, raw content, or nothing. */
type ContentOf<D> = D extends { schema: infer S extends z.ZodType }
  ? { body: z.input<S>; stream?: never }
  : D extends { contentType: string }
    ? { body?: string | Buffer; stream?: StreamWriter }
    : { body?: never; stream?: never };

/** The statuses a handler answers itself: the declared ones that are not problems. */
export type AnswerStatus<R> = {
  [K in keyof R]: R[K] extends { problem: true } ? never : K extends number ? K : never;
}[keyof R];

/** An answer a handler may give: a declared status with the body its schema allows. */
export type Answer<R> = {
  [K in AnswerStatus<R>]: { status: K; headers: Headers } & ContentOf<R[K]>;
}[AnswerStatus<R>];

type ReplyArguments<D> = D extends { schema: infer S extends z.ZodType }
  ? [body: z.input<S>, headers?: Headers]
  : D extends { contentType: string }
    ? [content: { body?: string | Buffer; stream?: StreamWriter }, headers?: Headers]
    : [headers?: Headers];

/**
 * Builds an answer from a declared status, typed by that status's schema, so
 * a body the schema does not allow (a missing field, a field it does not
 * name) fails to compile.
 */
export type Reply<R> = <S extends AnswerStatus<R>>(status: S, ...rest: ReplyArguments<R[S]>) => Answer<R>;

export interface HandlerInput<P, Q, H, B> {
  /** Anonymous only on public routes. */
  principal: Principal;
  params: P;
  query: Q;
  /** The declared headers only, validated. */
  headers: H;
  body: B;
  /** The bytes `body` was parsed from, when the route takes one. */
  rawBody: Buffer | undefined;
  /** Aborts when the client goes away or the host shuts down. */
  signal: AbortSignal;
}

export type Tag = "Queues" | "Messages" | "Dead letters" | "Topics" | "Keys" | "Service" | "Console";

interface RouteHead {
  summary: string;
  /** Public routes take no credentials and are not rate limited. */
  public?: boolean;
}

/**
 * A route as written, after its endpoint: its parts' schemas type its
 * handler, its responses type the handler's answers.
 */
export interface RouteDefinition<P, Q, H, B, R extends Responses> extends RouteHead {
  /** Only where a path parameter is more than a string; otherwise read from the endpoint's `{param}` segments. */
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  /** Request headers the route reads; the handler sees no others. */
  headers?: z.ZodType<H>;
  body?: z.ZodType<B>;
  responses: R;
  handle(input: HandlerInput<P, Q, H, B>, services: Services, reply: Reply<R>): Promise<Result<Answer<R>>>;
}

/** A route in the registry, as the pipeline, both hosts and the OpenAPI renderer see it. */
export interface Route extends RouteHead {
  /** Unique; the Azure Functions function name and the OpenAPI operationId. */
  name: string;
  method: HttpMethod;
  /** With `{param}` segments, as Azure Functions route templates write them. */
  path: string;
  tag: Tag;
  params?: z.ZodType;
  query?: z.ZodType;
  headers?: z.ZodType;
  body?: z.ZodType;
  /** Every status the route can give, the pipeline's own included. */
  responses: Responses;
  // biome-ignore lint/suspicious/noExplicitAny: the registry holds routes of every input type
  handle(input: HandlerInput<any, any, any, any>, services: Services): Promise<Result<ApiResponse>>;
}

/** The name the hosts import the registry's routes by. */
export type AnyRoute = Route;

const PROBLEM = { description: "Problem", schema: problemResponse, problem: true } as const;

/** A status answered with a problem document, described. */
export const problem = (description: string) => ({ ...PROBLEM, description });

/** Statuses answered with problem documents. */
export const problems = <const S extends readonly number[]>(...statuses: S) =>
  Object.fromEntries(statuses.map((status) => [status, PROBLEM])) as { [K in S[number]]: typeof PROBLEM };

/** A route as its builder returns it, before its file's list names it. */
export type UnnamedRoute = Omit<Route, "name">;

/**
 * A file's routes, in order, each named by the const it is declared as
 * (`routesNamed({ createQueue, listQueues })`), so a route's function name is
 * the name a reader finds it by.
 */
export const routesNamed = (routes: Record<string, UnnamedRoute>): Route[] =>
  Object.entries(routes).map(([name, route]) => ({ name, ...route }));

/**
 * The route builder of one resource's file: every route it builds carries
 * `tag` (its OpenAPI group), takes the path parameters its endpoint names,
 * and answers, besides what it declares, the problems the pipeline itself
 * may answer, so OpenAPI lists every status a route can give: 500 and 503
 * anywhere; 401 and 429 where credentials are checked; 400 where there is
 * input to validate; 413 and 415 where there is a body.
 */
export const taggedRoute =
  (tag: Tag) =>
  <const E extends Endpoint, Q, H, B, const R extends Responses, P = PathParams<E>>(
    endpoint: E,
    definition: RouteDefinition<P, Q, H, B, R>,
  ): UnnamedRoute => {
    const [method, path] = endpoint.split(" ") as [HttpMethod, string];
    const params = definition.params ?? pathParams(path);
    const reply = replyFor(definition.responses);
    const hasInput = params || definition.query || definition.headers || definition.body;
    return {
      ...definition,
      method,
      path,
      tag,
      ...(params ? { params } : {}),
      responses: {
        ...problems(
          500,
          503,
          ...(definition.public ? [] : [401, 429]),
          ...(hasInput ? [400] : []),
          ...(definition.body ? [413, 415] : []),
        ),
        ...definition.responses,
      },
      handle: (input, services) => definition.handle(input, services, reply),
    };
  };

/** A strict object of the path's `{param}` segments, each a string; none for a path without any. */
function pathParams(path: string): z.ZodType | undefined {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => name as string);
  return names.length
    ? z.strictObject(Object.fromEntries(names.map((name) => [name, z.string()])))
    : undefined;
}

function replyFor<R extends Responses>(responses: R): Reply<R> {
  return ((status: number, ...rest: unknown[]) => {
    const declared = responses[status];
    // A fresh headers object each time: the pipeline adds per-request headers to the answer it gets.
    if (declared?.schema) return { status, headers: { ...(rest[1] as Headers) }, body: rest[0] };
    if (declared?.contentType) {
      const content = rest[0] as { body?: unknown; stream?: StreamWriter };
      return { status, headers: { ...(rest[1] as Headers) }, ...content };
    }
    return { status, headers: { ...(rest[0] as Headers) } };
  }) as unknown as Reply<R>;
}

/** A use case's result as an answer, its failure passed on for the pipeline to map. */
export const respond = <T, A>(result: Result<T>, toAnswer: (value: T) => A): Result<A> =>
  result.ok ? ok(toAnswer(result.value)) : result;

/** A page's cursor as answered: present only when there is more to read. */
export const cursorOf = ({ nextCursor }: { nextCursor?: string }) => (nextCursor ? { nextCursor } : {});

/** A page of a list as answered: its items presented, with its cursor. */
export const pageOf = <T, A>(page: { items: T[]; nextCursor?: string }, present: (item: T) => A) => ({
  items: page.items.map(present),
  ...cursorOf(page),
});
