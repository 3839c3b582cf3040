import { describe, expect, it } from "vitest";
import { canCreateQueue, holdsGrant, type Principal } from "../../src/domain/access.js";
import { aQueue } from "../fixtures.js";

const user = (overrides: Partial<Principal> = {}): Principal => ({
  tenantId: "t",
  subject: "user-1",
  roles: [],
  ...overrides,
});

describe("grants", () => {
  it("gives a tenant admin every grant", () => {
    expect(holdsGrant(user({ roles: ["admin"] }), aQueue(), "manage")).toBe(true);
  });

  it("gives nothing by default", () => {
    expect(holdsGrant(user(), aQueue(), "read")).toBe(false);
  });

  it("honours the queue's access list by subject and by role", () => {
    const queue = aQueue({
      access: [
        { principal: "user-1", grants: ["send"] },
        { principal: "Workers", grants: ["receive"] },
      ],
    });
    expect(holdsGrant(user(), queue, "send")).toBe(true);
    expect(holdsGrant(user(), queue, "receive")).toBe(false);
    expect(holdsGrant(user({ roles: ["Workers"] }), queue, "receive")).toBe(true);
  });

  it("honours an API key's grants for the queue and for *", () => {
    const key = user({
      subject: "key_1",
      keyGrants: new Map([
        ["orders", ["send"]],
        ["*", ["read"]],
      ]),
    });
    expect(holdsGrant(key, aQueue({ name: "orders" }), "send")).toBe(true);
    expect(holdsGrant(key, aQueue({ name: "billing" }), "send")).toBe(false);
    expect(holdsGrant(key, aQueue({ name: "billing" }), "read")).toBe(true);
  });

  it("finds no grant in Object.prototype for a queue named after one of its members", () => {
    const key = user({ subject: "key_1", keyGrants: new Map([["orders", ["read"]]]) });
    for (const name of ["constructor", "__proto__", "tostring", "hasOwnProperty", "valueOf"]) {
      expect(holdsGrant(key, aQueue({ name }), "read")).toBe(false);
      expect(canCreateQueue(key, name)).toBe(false);
    }
  });

  it("lets only admins and manage-keys create queues", () => {
    expect(canCreateQueue(user(), "x")).toBe(false);
    expect(canCreateQueue(user({ roles: ["admin"] }), "x")).toBe(true);
    expect(canCreateQueue(user({ keyGrants: new Map([["*", ["manage"]]]) }), "x")).toBe(true);
    expect(canCreateQueue(user({ keyGrants: new Map([["x", ["manage"]]]) }), "y")).toBe(false);
  });
});
