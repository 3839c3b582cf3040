/**
 * A tenant's queues and topics as use cases reach them: one by name, with the
 * grant the use case needs, or a page of those the caller may see.
 */
import { isAdmin, type Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Page, PageRequest } from "./ports.js";

/**
 * Loads a queue or topic of the caller's tenant by name and checks the
 * caller's grant on it. Another tenant's is simply not found (404, never
 * 403), so names cannot be probed across tenants.
 */
export type Opener<C, R, G> = (
  context: C,
  principal: Principal,
  name: string,
  grant: G,
) => Promise<Result<R>>;

/** Makes the opener of queues or of topics from how to find one in a tenant and how to check a grant on it. */
export function opener<C, R, G extends string>(
  kind: "queue" | "topic",
  find: (context: C, tenantId: string, name: string) => Promise<R | undefined>,
  holds: (principal: Principal, found: R, grant: G) => boolean,
): Opener<C, R, G> {
  return async (context, principal, name, grant) => {
    const found = await find(context, principal.tenantId, name);
    if (!found) return fail(`${kind}_not_found`, `no ${kind} named "${name}"`);
    if (!holds(principal, found, grant)) {
      return fail("forbidden", `this credential lacks the "${grant}" grant on ${kind} "${name}"`);
    }
    return ok(found);
  };
}

/** What a use case runs with besides the queue or topic it acts on. */
export interface Scope<C> {
  context: C;
  principal: Principal;
}

/**
 * Use cases on one named queue or topic all start the same way: open it with
 * the grant the use case needs (a name not found or not granted is the
 * answer). `useCaseOn(open)(grant, act)` makes such a use case from `act`,
 * what it does with the open queue or topic and its further arguments; the
 * use case is called as `(context, principal, name, ...arguments)`.
 */
export function useCaseOn<C, R, G>(open: Opener<C, R, G>) {
  return <Args extends unknown[], T>(
    grant: G,
    act: (opened: R, scope: Scope<C>, ...args: Args) => Promise<Result<T>>,
  ) =>
    async (context: C, principal: Principal, name: string, ...args: Args): Promise<Result<T>> => {
      const opened = await open(context, principal, name, grant);
      return opened.ok ? act(opened.value, { context, principal }, ...args) : opened;
    };
}

/**
 * Makes the use case that lists a tenant's queues or topics a page at a time:
 * an admin sees them all, anyone else those on which `visible` says they hold
 * a grant.
 */
export function listingOf<C, R>(
  list: (context: C, tenantId: string, page: PageRequest) => Promise<Result<Page<R>>>,
  visible: (principal: Principal, item: R) => boolean,
) {
  return async (context: C, principal: Principal, page: PageRequest): Promise<Result<Page<R>>> => {
    const listed = await list(context, principal.tenantId, page);
    if (!listed.ok || isAdmin(principal)) return listed;
    return ok({ ...listed.value, items: listed.value.items.filter((item) => visible(principal, item)) });
  };
}
