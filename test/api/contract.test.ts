import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";

/**
 * What a route declares is what it does: the headers it honours are read
 * through its declaration (and listed in OpenAPI), and every status the
 * pipeline itself can give is listed on the routes where it can.
 */

interface Operation {
  operationId: string;
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
}

let host: TestHost;
let client: ConveyorClient;
let operations: Operation[];

beforeAll(async () => {
  host = await startTestHost({ CONVEYOR_RATE_LIMIT: "off" });
  client = await host.admin();
  await client.createQueue({ name: "orders" });
  const document = (await client.openApi()) as { paths: Record<string, Record<string, Operation>> };
  operations = Object.values(document.paths).flatMap((methods) => Object.values(methods));
});
afterAll(() => host.close());

const send = (headers: Record<string, string>) =>
  client.raw("POST", "/v1/queues/orders/messages", { body: { body: "x" }, headers });

describe("the Idempotency-Key header", () => {
  it("is declared on enqueue and publish, the routes that honour it, and on no other", () => {
    const declaring = operations.filter((operation) =>
      operation.parameters?.some(
        (parameter) => parameter.in === "header" && parameter.name === "idempotency-key",
      ),
    );
    expect(declaring.map((operation) => operation.operationId)).toEqual(["enqueue", "publish"]);
  });

  it("is 1 to 128 characters: outside that, a 400 naming the header", async () => {
    for (const value of ["", "k".repeat(129)]) {
      const refused = await send({ "idempotency-key": value });
      const problem = refused.body as { code: string; errors: { path: string; message: string }[] };
      expect([refused.status, problem.code, problem.errors]).toEqual([
        400,
        "validation_failed",
        [{ path: "idempotency-key", message: "1 to 128 characters" }],
      ]);
    }
    expect((await client.stats("orders")).enqueuedTotal).toBe(0);
  });

  it("makes a repeated send a 200 with the original message", async () => {
    const first = await send({ "idempotency-key": "k".repeat(128) });
    const again = await send({ "Idempotency-Key": "k".repeat(128) });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body).toMatchObject({
      messageId: (first.body as { messageId: string }).messageId,
      duplicate: true,
    });
  });
});

describe("the statuses OpenAPI lists", () => {
  it("include 500 and 503 everywhere, 401 and 429 where credentials are checked, 413 and 415 where a body is", () => {
    for (const operation of operations) {
      const statuses = Object.keys(operation.responses);
      const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
      const expected = [
        "500",
        "503",
        ...(isPublic ? [] : ["401", "429"]),
        ...(operation.requestBody ? ["400", "413", "415"] : []),
      ];
      expect(statuses, operation.operationId).toEqual(expect.arrayContaining(expected));
    }
  });

  it("describe the content of every success answer but a 204", () => {
    const withoutBody = operations.flatMap((operation) =>
      Object.entries(operation.responses)
        .filter(
          ([status, response]) =>
            Number(status) < 300 && status !== "204" && !(response as { content?: unknown }).content,
        )
        .map(([status]) => `${operation.operationId} ${status}`),
    );
    expect(withoutBody).toEqual([]);
  });
});
