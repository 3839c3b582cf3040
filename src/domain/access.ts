import { GRANTS, type Grant, type Queue } from "./queue.js";

/**
 * Who is calling. The tenant always comes from the credential (a verified
 * token's `tid` claim or the API key's record), never from the URL or body.
 */
export interface Principal {
  tenantId: string;
  /** The token's `sub`, or the API key id. */
  subject: string;
  /** App roles from the token, or the key's roles; `admin` has every grant in the tenant. */
  roles: string[];
  /**
   * An API key's own grants by queue name, `*` for every queue. A map:
   * looked up in a plain object, a queue named `constructor` would find
   * Object.prototype's function.
   */
  keyGrants?: ReadonlyMap<string, readonly Grant[]>;
}

export const isAdmin = (principal: Principal): boolean => principal.roles.includes("admin");

/**
 * A caller holds a grant on a queue if it is a tenant admin, if its API key
 * grants it for that queue or for `*`, or if the queue's `access` list grants
 * it to the caller's subject or to one of its roles.
 */
export function holdsGrant(
  principal: Principal,
  queue: Pick<Queue, "name" | "access">,
  grant: Grant,
): boolean {
  return grantsOn(principal, queue).has(grant) || isAdmin(principal);
}

/** What the caller may do on the queue, in the order of `GRANTS`: all of it for a tenant admin. */
export const grantsHeld = (principal: Principal, queue: Pick<Queue, "name" | "access">): Grant[] => {
  const held = grantsOn(principal, queue);
  return GRANTS.filter((grant) => isAdmin(principal) || held.has(grant));
};

export function grantsOn(principal: Principal, queue: Pick<Queue, "name" | "access">): Set<Grant> {
  const held = new Set<Grant>();
  const fromKey = [...(principal.keyGrants?.get(queue.name) ?? []), ...(principal.keyGrants?.get("*") ?? [])];
  for (const grant of fromKey) held.add(grant);
  for (const entry of queue.access) {
    if (entry.principal === principal.subject || principal.roles.includes(entry.principal)) {
      for (const grant of entry.grants) held.add(grant);
    }
  }
  return held;
}

/** Creating a queue needs admin, or `manage` on `*` or on that name through an API key. */
export const canCreateQueue = (principal: Principal, name: string): boolean =>
  isAdmin(principal) ||
  (principal.keyGrants?.get("*") ?? []).includes("manage") ||
  (principal.keyGrants?.get(name) ?? []).includes("manage");

/** What a caller may do on a topic. */
export type TopicGrant = "publish" | "read" | "manage";
export const TOPIC_GRANTS: readonly TopicGrant[] = ["publish", "read", "manage"];

export interface TopicAccessEntry {
  /** A subject id, an API key id or an app role. */
  principal: string;
  grants: TopicGrant[];
}

/**
 * A caller holds a grant on a topic if it is a tenant admin, or if the
 * topic's `access` list grants it to the caller's subject (an API key's id)
 * or to one of its roles. API keys' own grants name queues, not topics.
 */
export function holdsTopicGrant(
  principal: Principal,
  topic: { access: readonly TopicAccessEntry[] },
  grant: TopicGrant,
): boolean {
  return (
    isAdmin(principal) ||
    topic.access.some(
      (entry) =>
        (entry.principal === principal.subject || principal.roles.includes(entry.principal)) &&
        entry.grants.includes(grant),
    )
  );
}
