import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/adapters/sqlite/store.js";
import { onAck } from "../../src/domain/lease.js";
import type { Message } from "../../src/domain/message.js";
import { leaseMessages } from "../../src/service/receive.js";
import { settleMessages } from "../../src/service/settle.js";
import { aQueue, at, T0 } from "../fixtures.js";
import { describeQueueStoreContract } from "./contract.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "conveyor-sqlite-"));

const openOnFile = async () => {
  const dataDir = tempDir();
  const store = new SqliteStore({ dataDir });
  return {
    store,
    async close() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

describeQueueStoreContract("SQLite on a real file", openOnFile, 1);
describeQueueStoreContract("SQLite on a real file", openOnFile, 4);

describe("SQLite store specifics", () => {
  const draft = (id: string) => ({
    id,
    body: "{}",
    attributes: {},
    priority: 0,
    groupId: null,
    dedupKey: null,
    enqueuedAt: T0,
    visibleAt: T0,
    expiresAt: at(3600),
  });

  it("runs in WAL mode with synchronous=FULL at the latest schema version", async () => {
    const dataDir = tempDir();
    const store = new SqliteStore({ dataDir });
    await store.close();
    const db = new BetterSqlite3(join(dataDir, "conveyor.db"), { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(6);
    db.close();
  });

  it("forgets a queue's stats samples once they are an hour old", async () => {
    const store = new SqliteStore({ dataDir: tempDir() });
    const queue = aQueue({ id: "q_samples", name: "samples" });
    await store.createQueue(queue);
    const stats = { available: 1, delayed: 0, inFlight: 0, deadLettered: 0, oldestAvailableAgeSeconds: 0 };
    const totals = { enqueuedTotal: 1, ackedTotal: 0, deadLetteredTotal: 0, redrivenTotal: 0 };
    await store.recordSample(queue, { at: T0, ...stats, ...totals });
    await store.recordSample(queue, { at: at(3599), ...stats, ...totals });
    expect(await store.samples(queue, T0)).toHaveLength(2);
    await store.recordSample(queue, { at: at(3601), ...stats, ...totals });
    expect((await store.samples(queue, T0)).map((sample) => sample.at)).toEqual([at(3599), at(3601)]);
    await store.close();
  });

  it("refuses a second store on a data directory that is in use", async () => {
    const dataDir = tempDir();
    const first = new SqliteStore({ dataDir });
    expect(() => new SqliteStore({ dataDir })).toThrow(/in use by another Conveyor process/);
    await first.close();
    const after = new SqliteStore({ dataDir });
    await after.close();
  });

  it("upgrades a version 1 database: the ready count starts from the messages already there", async () => {
    const dataDir = tempDir();
    const queue = aQueue();
    const store = new SqliteStore({ dataDir });
    await store.createQueue(queue);
    await store.enqueue(queue, [draft("m1"), draft("m2"), draft("m3")]);
    await store.close();
    const db = new BetterSqlite3(join(dataDir, "conveyor.db"));
    db.exec(`
      DROP TABLE redrive_tasks; DROP TABLE queue_samples;
      DROP TABLE topics; DROP TABLE subscriptions; DROP TABLE topic_messages;
      DROP TRIGGER messages_ready_deleted; DROP TRIGGER messages_ready_changed;
      DROP INDEX messages_by_visibility; ALTER TABLE queues DROP COLUMN ready_count;
      DROP INDEX messages_standard_order; DROP INDEX messages_fifo_order; DROP INDEX messages_dedup;
      DROP INDEX fifo_groups_by_service;
      ALTER TABLE messages DROP COLUMN partition; ALTER TABLE messages DROP COLUMN version;
      ALTER TABLE fifo_groups DROP COLUMN partition;
      CREATE INDEX messages_standard_order ON messages (queue_id, priority DESC, sequence, visible_at) WHERE state = 'ready';
      CREATE INDEX messages_fifo_order ON messages (queue_id, group_id, sequence) WHERE state = 'ready';
      CREATE INDEX messages_dedup ON messages (queue_id, dedup_key, enqueued_at) WHERE dedup_key IS NOT NULL;
      CREATE INDEX fifo_groups_by_service ON fifo_groups (queue_id, served_at, group_id);
      PRAGMA user_version = 1;`);
    db.close();
    const upgraded = new SqliteStore({ dataDir });
    expect((await upgraded.stats(queue, at(1))).available).toBe(3);
    await upgraded.enqueue(queue, [draft("m4")]);
    expect((await upgraded.stats(queue, at(1))).available).toBe(4);
    await upgraded.close();
  });

  it("keeps what it acknowledged across a reopen", async () => {
    const dataDir = tempDir();
    const queue = aQueue();
    const first = new SqliteStore({ dataDir });
    await first.createQueue(queue);
    await first.enqueue(queue, [draft("m1"), draft("m2")]);
    await first.close();
    const second = new SqliteStore({ dataDir });
    expect((await second.stats(queue, at(1))).available).toBe(2);
    await second.close();
  });

  it("commits concurrent writes in groups without letting one failure undo the others", async () => {
    const dataDir = tempDir();
    const store = new SqliteStore({ dataDir });
    const queue = aQueue();
    await store.createQueue(queue);
    const outcomes = await Promise.allSettled([
      store.enqueue(queue, [draft("a")]),
      store.enqueue(queue, [draft("a")]), // the same id again: violates the unique index
      store.enqueue(queue, [draft("b")]),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((await store.stats(queue, at(1))).available).toBe(2);
    expect((await store.stats(queue, at(1))).enqueuedTotal).toBe(2);
    await store.close();
  });

  it("removes every expired tombstone in one housekeeping call, however many writes it takes", async () => {
    const dataDir = tempDir();
    const store = new SqliteStore({ dataDir });
    const queue = aQueue();
    await store.createQueue(queue);
    const count = 1_234;
    await store.enqueue(
      queue,
      Array.from({ length: count }, (_, index) => draft(`m${index}`)),
    );
    const delivered = await leaseMessages(
      store,
      queue,
      { now: at(1), max: count, visibilityTimeoutSeconds: 60 },
      Math.random,
    );
    await settleMessages(
      store,
      queue,
      delivered.map((message) => ({
        messageId: message.id,
        decide: (stored: Message) => onAck(stored, message.leaseToken ?? "", at(2)),
      })),
    );
    expect(await store.removeExpiredTombstones(at(3))).toBe(0);
    expect(await store.removeExpiredTombstones(at(86_400))).toBe(count);
    await store.close();
  });

  it("lets concurrent receives of one process share their reads: each answers full, few rows read past what it took", async () => {
    const dataDir = tempDir();
    const store = new SqliteStore({ dataDir });
    const queue = aQueue();
    await store.createQueue(queue);
    await store.enqueue(
      queue,
      Array.from({ length: 400 }, (_, index) => draft(`m${index}`)),
    );
    let rowsRead = 0;
    const counting = new Proxy(store, {
      get(target, property, receiver) {
        if (property !== "candidates") return Reflect.get(target, property, receiver);
        return async (...args: Parameters<SqliteStore["candidates"]>) => {
          const found = await target.candidates(...args);
          rowsRead += found.length;
          return found;
        };
      },
    });
    // 32 receivers of 10 at once, as the requests of one busy turn are.
    const batches = await Promise.all(
      Array.from({ length: 32 }, () =>
        leaseMessages(counting, queue, { now: at(1), max: 10, visibilityTimeoutSeconds: 60 }, Math.random),
      ),
    );
    expect(batches.map((batch) => batch.length)).toEqual(batches.map(() => 10));
    const ids = batches.flat().map((message) => message.id);
    expect(new Set(ids).size).toBe(320);
    // Each reading the leading candidates itself read them again and again, claimed, and some answered short.
    expect(rowsRead).toBeLessThan(3 * 320);
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses to open a database written by a newer version", async () => {
    const dataDir = tempDir();
    await new SqliteStore({ dataDir }).close();
    const db = new BetterSqlite3(join(dataDir, "conveyor.db"));
    db.pragma("user_version = 99");
    db.close();
    expect(() => new SqliteStore({ dataDir })).toThrow(/newer than this build knows/);
  });
});
