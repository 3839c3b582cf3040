import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CosmosStore } from "../src/adapters/cosmos/store.js";
import { leaseMessages } from "../src/service/receive.js";
import { cosmosClientOf, cosmosHostEnv } from "./cosmos-server.js";
import { aQueue, at } from "./fixtures.js";
import { deadLetterAll, plainMessages } from "./redrive-helpers.js";

/**
 * The `redriveResume` timer as the Functions host would run it (the library's
 * `app` swapped for a recorder, as in functions.test.ts), against the Cosmos
 * DB test server: a task whose owner stopped renewing its lease is finished.
 */
interface Registration {
  kind: string;
  name: string;
  options: { schedule?: string; handler: (trigger: unknown, context: InvocationContext) => Promise<unknown> };
}

const registrations = vi.hoisted(() => [] as Registration[]);

vi.mock("@azure/functions", async (importOriginal) =>
  (await import("./functions-recorder.js")).recordingFunctions(await importOriginal(), registrations),
);

let store: CosmosStore;

beforeAll(async () => {
  const env: Record<string, string> = {
    ...(await cosmosHostEnv()),
    COSMOS_DATABASE: `conveyor-functions-redrive-${process.pid}`,
  };
  Object.assign(process.env, {
    ...env,
    CONVEYOR_DATA_DIR: mkdtempSync(join(tmpdir(), "conveyor-functions-redrive-")),
    CONVEYOR_LOG_LEVEL: "warn",
    ServiceBusConnection__fullyQualifiedNamespace: "conveyor-test.servicebus.windows.net",
  });
  const client = cosmosClientOf(env);
  const databaseId = env.COSMOS_DATABASE as string;
  await CosmosStore.ensureContainers(client, databaseId);
  store = new CosmosStore({ client, databaseId });
  await import("../src/functions/redrive-resume.js");
});
afterAll(() => store.close());

describe("the redriveResume timer", () => {
  it("runs every minute and finishes a task whose owner stopped", async () => {
    const timer = registrations.find((registration) => registration.name === "redriveResume");
    expect(timer).toMatchObject({ kind: "timer", options: { schedule: "0 */1 * * * *" } });

    const now = Date.now();
    const queue = aQueue({ id: `q_resume_${now}`, tenantId: "tenant-resume", name: "resume" });
    await store.createQueue(queue);
    await store.enqueue(queue, plainMessages(250, at(0), new Date(now + 86_400_000)));
    const delivered = await leaseMessages(
      store,
      queue,
      { now: at(1), max: 250, visibilityTimeoutSeconds: 60 },
      Math.random,
    );
    await deadLetterAll(store, queue, delivered, at(2));
    // Started a minute ago by an instance that has gone: its lease lapsed half a minute ago.
    const id = `task_resume_${now}`;
    const claim = { owner: "gone", now: new Date(now - 60_000), leaseExpiresAt: new Date(now - 30_000) };
    await store.createRedriveTask(queue, id, claim);
    await store.advanceRedriveTask(queue, id, claim, 100);

    const context = new InvocationContext({ functionName: "redriveResume" });
    const log = vi.spyOn(context, "log").mockImplementation(() => undefined);
    await timer?.options.handler({ isPastDue: false }, context);
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/^redrive resume: [1-9]\d* tasks taken up$/));
    expect(await store.getRedriveTask(queue, id)).toMatchObject({
      status: "done",
      redriven: 250,
      remaining: 0,
    });
    expect(await store.stats(queue, new Date())).toMatchObject({ available: 250, deadLettered: 0 });
  }, 60_000);
});
