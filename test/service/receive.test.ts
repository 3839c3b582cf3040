import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/adapters/sqlite/store.js";
import type { QueueStore } from "../../src/service/ports.js";
import { leaseMessages } from "../../src/service/receive.js";
import { aQueue, at } from "../fixtures.js";
import { plainMessages } from "../redrive-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "conveyor-receive-"));
const sqlite = new SqliteStore({ dataDir: dir });
afterAll(async () => {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The store, except that every `candidates` call after the first fails as an overloaded store does. */
function overloadedAfterFirstRead(store: QueueStore): QueueStore {
  let reads = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === "candidates") {
        return (...args: Parameters<QueueStore["candidates"]>) => {
          reads += 1;
          if (reads > 1) return Promise.reject(Object.assign(new Error("throttled"), { status: 429 }));
          return target.candidates(...args);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("a receive", () => {
  it("answers with what it leased when the store fails on a later partition, instead of dropping them", async () => {
    const queue = aQueue({ id: "q_receive_sharded", tenantId: "receive", name: "sharded", partitions: 4 });
    await sqlite.createQueue(queue);
    // Spread over the shards by id: the first partition read has some, never all 40.
    const drafts = plainMessages(40, at(0), at(86_400)).map((draft, n) => ({
      ...draft,
      id: n % 4 === 0 ? draft.id : `${draft.id}~${n % 4}`,
    }));
    await sqlite.enqueue(queue, drafts);
    const store = overloadedAfterFirstRead(sqlite);
    const leased = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 40, visibilityTimeoutSeconds: 60 },
      () => 0,
    );
    expect(leased.length).toBeGreaterThan(0);
    expect(leased.length).toBeLessThan(40);
    // What it answered is exactly what the store holds as leased: nothing leased and left unanswered.
    const inFlight = await sqlite.countInFlight(queue, at(1));
    expect(inFlight).toBe(leased.length);
  });

  it("answers with what it leased when a later lease write fails", async () => {
    const queue = aQueue({ id: "q_receive_write", tenantId: "receive", name: "write-fails", partitions: 4 });
    await sqlite.createQueue(queue);
    const drafts = plainMessages(40, at(0), at(86_400)).map((draft, n) => ({
      ...draft,
      id: n % 4 === 0 ? `w${draft.id}` : `w${draft.id}~${n % 4}`,
    }));
    await sqlite.enqueue(queue, drafts);
    let writes = 0;
    const store = new Proxy(sqlite as QueueStore, {
      get(target, property, receiver) {
        if (property === "write") {
          return (...args: Parameters<QueueStore["write"]>) => {
            writes += 1;
            if (writes > 1) return Promise.reject(Object.assign(new Error("unavailable"), { status: 503 }));
            return target.write(...args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const leased = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 40, visibilityTimeoutSeconds: 60 },
      () => 0,
    );
    expect(leased.length).toBeGreaterThan(0);
    expect(await sqlite.countInFlight(queue, at(1))).toBe(leased.length);
  });

  it("fails as the store does when it leased nothing", async () => {
    const queue = aQueue({ id: "q_receive_empty", tenantId: "receive", name: "empty-first", partitions: 1 });
    await sqlite.createQueue(queue);
    let calls = 0;
    const failing = new Proxy(sqlite as QueueStore, {
      get(target, property, receiver) {
        if (property === "candidates") {
          return () => {
            calls += 1;
            return Promise.reject(Object.assign(new Error("throttled"), { status: 429 }));
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await expect(
      leaseMessages(failing, queue, { now: at(1), max: 10, visibilityTimeoutSeconds: 60 }, () => 0),
    ).rejects.toThrow("throttled");
    expect(calls).toBe(1);
  });
});
