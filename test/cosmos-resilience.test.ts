import type { Container } from "@azure/cosmos";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  classify,
  createAllOnce,
  createOnce,
  replaceOnce,
  StoreBusyError,
  withRetry,
} from "../src/adapters/cosmos/resilience.js";
import { type CosmosModel, startCosmosModel } from "../src/tools/cosmos-model/model.js";
import { cosmosModelClient, cosmosTestEndpoint } from "./cosmos-server.js";

/**
 * The Cosmos DB store's retry and exactly-once helpers, against the Cosmos
 * DB model's throttling and faults through the real SDK. The SDK's own 429
 * retries are off here, so what is tested is this module's.
 */

let model: CosmosModel;
let container: Container;
const FAST = { maxAttempts: 8, budgetMs: 3_000, baseDelayMs: 20, maxDelayMs: 200 };

interface Item {
  id: string;
  pk: string;
  writeId: string;
  n: number;
}

beforeAll(async () => {
  model = await startCosmosModel({ target: await cosmosTestEndpoint() });
  const client = cosmosModelClient(model.url, 0);
  const { database } = await client.databases.createIfNotExists({ id: `resilience-${process.pid}` });
  ({ container } = await database.containers.createIfNotExists({
    id: "items",
    partitionKey: { paths: ["/pk"] },
  }));
});

afterAll(() => model.close());

beforeEach(() => {
  model.clearFaults();
  model.setBudget(undefined);
  model.resetUsage();
});

const count = async (pk: string) =>
  (
    await container.items
      .query<number>(`SELECT VALUE COUNT(1) FROM c WHERE c.pk = '${pk}'`, { partitionKey: pk })
      .fetchAll()
  ).resources[0];

describe("classify", () => {
  it("tells throttling, failures that applied nothing, unknown outcomes and final answers apart", () => {
    expect(classify({ code: 429, retryAfterInMs: 120 })).toEqual({ kind: "throttled", retryAfterMs: 120 });
    expect(classify({ code: 449 })).toEqual({ kind: "not-applied" });
    expect(classify({ code: "ECONNREFUSED" })).toEqual({ kind: "not-applied" });
    for (const error of [{ code: 503 }, { code: 408 }, { code: "ECONNRESET" }, { code: "TimeoutError" }])
      expect(classify(error)).toEqual({ kind: "unknown" });
    expect(classify(new Error("Batch request error: socket hang up"))).toEqual({ kind: "unknown" });
    for (const error of [
      { code: 404 },
      { code: 409 },
      { code: 412 },
      new Error("bug"),
      new StoreBusyError("unavailable", 1),
    ])
      expect(classify(error)).toEqual({ kind: "final" });
  });
});

describe("withRetry", () => {
  it("gets concurrent writers through a throttled partition by honouring x-ms-retry-after-ms with jitter", async () => {
    model.setBudget(40);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async (_, writer) => {
        for (let n = 0; n < 5; n++) {
          const item = { id: `w${writer}-${n}`, pk: "throttled", writeId: `w${writer}-${n}`, n };
          await withRetry(() => container.items.create(item), {
            idempotent: false,
            policy: { ...FAST, maxAttempts: 50, budgetMs: 10_000 },
          });
        }
      }),
    );
    // 20 creates of ~5 RU at 40 RU/s, the first 40 RU from the full bucket.
    expect((performance.now() - started) / 1000).toBeGreaterThan((20 * 4.95 - 40 - 10) / 40);
    expect(model.usage().throttled).toBeGreaterThan(0);
    model.setBudget(undefined);
    expect(await count("throttled")).toBe(20);
  }, 20_000);

  it("gives up within its budget with StoreBusyError: overloaded (429) for throttling, with the retry-after", async () => {
    model.setBudget(1);
    await container.items.create({ id: "spend", pk: "busy", writeId: "spend", n: 0 }).catch(() => undefined);
    const error = await withRetry(() => container.items.create({ id: "b", pk: "busy", writeId: "b", n: 0 }), {
      idempotent: false,
      policy: { ...FAST, budgetMs: 300 },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect(error).toMatchObject({ reason: "overloaded", status: 429, code: 429 });
    expect((error as StoreBusyError).retryAfterMs).toBeGreaterThan(300);
    expect((error as StoreBusyError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it("retries an idempotent read through 503s, and gives up as unavailable (503) when they last", async () => {
    await container.items.create({ id: "r", pk: "reads", writeId: "r", n: 1 });
    model.inject({ fault: "unavailable", times: 3, kinds: ["read"] });
    const { resource } = await withRetry(() => container.item("r", "reads").read<Item>(), {
      idempotent: true,
      policy: FAST,
    });
    expect(resource?.n).toBe(1);
    model.inject({ fault: "unavailable", probability: 1, kinds: ["read"] });
    const error = await withRetry(() => container.item("r", "reads").read(), {
      idempotent: true,
      policy: FAST,
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ reason: "unavailable", status: 503 });
  });

  it("never repeats a write of unknown outcome that is not idempotent: it answers unavailable at once", async () => {
    model.inject({ fault: "lost-answer", times: 1, kinds: ["patch"] });
    await container.items.create({ id: "p", pk: "patch", writeId: "p", n: 0 });
    const error = await withRetry(
      () => container.item("p", "patch").patch([{ op: "incr", path: "/n", value: 1 }]),
      { idempotent: false, policy: FAST },
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ reason: "unavailable" });
    // The increment was applied once, and not again.
    expect((await container.item("p", "patch").read<Item>()).resource?.n).toBe(1);
  });
});

describe("exactly once across a lost answer", () => {
  it("createOnce: the retry's 409 and a read back recognise the write as this call's", async () => {
    model.inject({ fault: "lost-answer", times: 1, kinds: ["create"] });
    const once = await createOnce(
      container,
      { id: "c", pk: "create", writeId: "first", n: 1 },
      "create",
      FAST,
    );
    expect(once).toMatchObject({ ok: true, recovered: true, resource: { writeId: "first" } });
    expect(await count("create")).toBe(1);
    expect(model.usage().faults.get("lost-answer")).toBe(1);
    // Another writer's create of the same id is a conflict, with the document as it is.
    const other = await createOnce(
      container,
      { id: "c", pk: "create", writeId: "second", n: 2 },
      "create",
      FAST,
    );
    expect(other).toMatchObject({ ok: false, current: { writeId: "first" } });
  });

  it("createOnce: a reset before the write retries it, and it lands once", async () => {
    model.inject({ fault: "reset", times: 1, kinds: ["create"] });
    const once = await createOnce(container, { id: "r", pk: "reset", writeId: "w", n: 1 }, "reset", FAST);
    expect(once).toMatchObject({ ok: true, recovered: false });
    expect(await count("reset")).toBe(1);
  });

  it("replaceOnce: the retry's 412 and a read back recognise the write, and a stale etag is a conflict", async () => {
    const created = await container.items.create<Item>({ id: "x", pk: "replace", writeId: "w0", n: 0 });
    const etag = created.etag as string;
    model.inject({ fault: "lost-answer", times: 1, kinds: ["replace"] });
    /** Replaces x, written as w0, with `writeId` and `n`, if it is still at the etag of w0. */
    const replaceW0 = (writeId: string, n: number) =>
      replaceOnce(container, { id: "x", pk: "replace", writeId, n }, etag, "replace", FAST);
    const once = await replaceW0("w1", 1);
    expect(once).toMatchObject({ ok: true, recovered: true, resource: { writeId: "w1", n: 1 } });
    const stale = await replaceW0("w2", 2);
    expect(stale).toMatchObject({ ok: false, current: { writeId: "w1" } });
  });

  it("createAllOnce: a transactional batch (a dedup claim and its message) whose answer was lost is this call's", async () => {
    model.inject({ fault: "lost-answer", times: 1, kinds: ["batch"] });
    const claim = { id: "dedup-k", pk: "batch", writeId: "m1", n: 0 };
    const message = { id: "m1", pk: "batch", writeId: "m1", n: 1 };
    const once = await createAllOnce(container, [claim, message], "batch", FAST);
    expect(once).toMatchObject({ ok: true, recovered: true });
    expect(await count("batch")).toBe(2);
    // A second enqueue with the same key (another message id) loses to the claim.
    const second = await createAllOnce(
      container,
      [
        { ...claim, writeId: "m2" },
        { ...message, id: "m2", writeId: "m2" },
      ],
      "batch",
      FAST,
    );
    expect(second).toMatchObject({ ok: false, current: { writeId: "m1" } });
  });
});
