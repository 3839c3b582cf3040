import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/adapters/sqlite/store.js";
import { onReceive } from "../../src/domain/lease.js";
import { partitionOfMessageId } from "../../src/domain/partition.js";
import type { Queue } from "../../src/domain/queue.js";
import { applyChange } from "../../src/domain/transition.js";
import { compareAndSetConflicts } from "../../src/service/conflicts.js";
import type { MessageWrite, QueueStore, WriteOutcome } from "../../src/service/ports.js";
import { leaseMessages } from "../../src/service/receive.js";
import { aQueue, at } from "../fixtures.js";
import { plainMessages } from "../redrive-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "conveyor-receive-"));
const sqlite = new SqliteStore({ dataDir: dir });
afterAll(async () => {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The store, except that `method` fails as an overloaded store does from its call number `from` on. */
function failingFrom(store: QueueStore, method: "candidates" | "write", from: number): QueueStore {
  let calls = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property !== method) return value.bind(target);
      return (...args: unknown[]) => {
        calls += 1;
        if (calls >= from) return Promise.reject(Object.assign(new Error("store busy"), { status: 429 }));
        return value.apply(target, args);
      };
    },
  });
}

/** A 4-shard queue holding 40 messages spread over the shards by id: the first shard read has some, never all. */
async function shardedQueue(name: string) {
  const queue = aQueue({ id: `q_receive_${name}`, tenantId: "receive", name, partitions: 4 });
  await sqlite.createQueue(queue);
  const drafts = plainMessages(40, at(0), at(86_400)).map((draft, n) => ({
    ...draft,
    id: n % 4 === 0 ? `${name}_${draft.id}` : `${name}_${draft.id}~${n % 4}`,
  }));
  await sqlite.enqueue(queue, drafts);
  return queue;
}

const request = { now: at(1), max: 40, visibilityTimeoutSeconds: 60 };

describe("a receive that meets a failing store", () => {
  it("answers with what it leased when a later partition's read fails, instead of dropping them", async () => {
    const queue = await shardedQueue("read-fails");
    const leased = await leaseMessages(failingFrom(sqlite, "candidates", 2), queue, request, () => 0);
    expect(leased.length).toBeGreaterThan(0);
    expect(leased.length).toBeLessThan(40);
    // What it answered is exactly what the store holds as leased: nothing leased and left unanswered.
    expect(await sqlite.countInFlight(queue, at(1))).toBe(leased.length);
  });

  it("answers with what it leased when a later lease write fails", async () => {
    const queue = await shardedQueue("write-fails");
    const leased = await leaseMessages(failingFrom(sqlite, "write", 2), queue, request, () => 0);
    expect(leased.length).toBeGreaterThan(0);
    expect(await sqlite.countInFlight(queue, at(1))).toBe(leased.length);
  });

  it("fails as the store does when it has leased nothing", async () => {
    const queue = await shardedQueue("first-fails");
    await expect(
      leaseMessages(failingFrom(sqlite, "candidates", 1), queue, request, () => 0),
    ).rejects.toThrow("store busy");
    expect(await sqlite.countInFlight(queue, at(1))).toBe(0);
  });
});

describe("a receive whose leases the store lets go for throttling", () => {
  it("answers with what was written, reads nothing more, and counts no conflict", async () => {
    const queue = await shardedQueue("throttled");
    let reads = 0;
    const yielding: boolean[] = [];
    // The store writes every other lease and lets the rest go, as a throttled Cosmos DB partition does.
    const throttled = new Proxy(sqlite, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        if (property === "candidates")
          return (...args: Parameters<QueueStore["candidates"]>) => {
            reads++;
            return target.candidates(...args);
          };
        if (property !== "write") return value.bind(target);
        return async (queue: Queue, writes: MessageWrite[]): Promise<WriteOutcome[]> => {
          yielding.push(...writes.map((write) => write.yieldsToThrottling === true));
          const kept = writes.filter((_, index) => index % 2 === 0);
          const written = await target.write(queue, kept);
          return writes.map((_, index) =>
            index % 2 === 0 ? (written[index / 2] as WriteOutcome) : "throttled",
          );
        };
      },
    });
    const before = compareAndSetConflicts();
    const leased = await leaseMessages(throttled, queue, { ...request, max: 10 }, () => 0);
    expect(yielding.length).toBeGreaterThan(1);
    expect(yielding.every(Boolean)).toBe(true);
    expect(leased.length).toBe(Math.ceil(yielding.length / 2));
    expect(reads).toBe(1);
    expect(compareAndSetConflicts()).toBe(before);
    expect(await sqlite.countInFlight(queue, at(1))).toBe(leased.length);
  });
});

describe("a receive after a race lost to another instance", () => {
  it("reads twice the candidates it wants, takes them by its lane, and tries that partition last for a while", async () => {
    const queue = await shardedQueue("lost-race");
    const reads: { partition: number; limit: number }[] = [];
    let interfered = false;
    const racing = new Proxy(sqlite, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        if (property !== "candidates") return value.bind(target);
        return async (...args: Parameters<QueueStore["candidates"]>) => {
          const [, partition, now, limit] = args;
          reads.push({ partition, limit });
          const found = await target.candidates(...args);
          if (!interfered) {
            // Another instance leases every candidate between this receiver's read and its write.
            interfered = true;
            const leases = found.map((c) => ({
              version: c.version,
              ...applyChange(c.message, onReceive(c.message, queue, now, 30, "other"), queue),
            }));
            await target.write(queue, leases);
          }
          return found;
        };
      },
    });
    const first = await leaseMessages(racing, queue, { ...request, max: 5 }, () => 0);
    expect(reads[0]).toEqual({ partition: 0, limit: 5 });
    expect(first).toHaveLength(5);
    expect(first.every((m) => partitionOfMessageId(m.id) !== 0)).toBe(true);
    reads.length = 0;
    await leaseMessages(racing, queue, { ...request, max: 5 }, () => 0);
    expect(reads[0]).toEqual({ partition: 1, limit: 10 });
    expect(reads.map((read) => read.partition)).not.toContain(0);
  });
});
