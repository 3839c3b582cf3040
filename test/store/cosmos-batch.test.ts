import type { CosmosClient } from "@azure/cosmos";
import { describe, expect, it } from "vitest";
import { type MessageDocument, toDocument } from "../../src/adapters/cosmos/documents.js";
import { CosmosStore } from "../../src/adapters/cosmos/store.js";
import { aDraft, aMessage, aQueue, at } from "../fixtures.js";

/**
 * The local Cosmos test server runs batches but not atomically, so the one
 * path that depends on atomicity is checked here against the answers a real
 * account gives: when the dedup claim conflicts, the batch fails with 409 on
 * the claim and 424 (failed dependency) on the message, nothing is written,
 * and the enqueue must return the original as a duplicate.
 */
function fakeAccount(original: MessageDocument) {
  const batches: unknown[][] = [];
  let claimReads = 0;
  const container = {
    items: {
      batch: async (operations: unknown[]) => {
        batches.push(operations);
        return { code: 409, result: [{ statusCode: 409 }, { statusCode: 424 }] };
      },
      create: async () => ({ statusCode: 201 }),
    },
    item: (id: string) => ({
      read: async () => {
        if (id.startsWith("dedup-")) {
          // The first look finds no claim; by the batch, a concurrent enqueue has made one.
          claimReads++;
          return claimReads === 1
            ? { resource: undefined }
            : {
                resource: {
                  id,
                  kind: "dedup",
                  messageId: "original",
                  windowEndsAt: at(300).getTime(),
                  _etag: "e1",
                },
              };
        }
        return { resource: id === "original" ? original : undefined };
      },
      patch: async () => ({ statusCode: 200 }),
    }),
  };
  const client = { database: () => ({ container: () => container }) } as unknown as CosmosClient;
  return { client, batches };
}

describe("Cosmos enqueue with a dedup key, on an account with atomic batches", () => {
  it("sends the claim and the message in one batch, and answers a lost race with the original", async () => {
    const queue = aQueue({ id: "q1" });
    const original = toDocument(
      aMessage({ id: "original", queueId: "q1", body: '"first"', dedupKey: "id:k" }),
      queue.id,
    );
    const { client, batches } = fakeAccount(original);
    const store = new CosmosStore({ client, databaseId: "db" });
    const [result] = await store.enqueue(queue, [
      aDraft({ id: "second", body: '"second"', dedupKey: "id:k", enqueuedAt: at(1), visibleAt: at(1) }),
    ]);
    expect(batches).toHaveLength(1);
    expect(
      (batches[0] as { resourceBody: { kind: string } }[]).map((operation) => operation.resourceBody.kind),
    ).toEqual(["dedup", "message"]);
    expect(result).toMatchObject({ duplicate: true, message: { id: "original", body: '"first"' } });
  });
});
