import { startToolHost } from "../tool-host.js";
import { startModelAccount } from "./account.js";
import type { OperationKind } from "./charges.js";

/**
 * Request units per message, counted by the Cosmos DB model while a
 * Conveyor host on today's Cosmos DB store serves each step of a message's
 * life through its HTTP API: enqueue (one message a request, with and
 * without a deduplication id, and batches of 10), receive (one and ten a
 * request), ack one by one and settle ten at once. 1 KiB bodies.
 * What the host does in the background meanwhile (stats samples, sweeps) is
 * measured over an idle period as long as each step and taken off.
 */

export interface StepCost {
  /** RU per message for this step. */
  requestUnits: number;
  /** The same, by the kind of Cosmos DB request. */
  byKind: Record<string, number>;
}

export interface RuPerMessage {
  measuredAt: string;
  command: string;
  messageBytes: number;
  messages: number;
  steps: Record<
    | "enqueueSingle"
    | "enqueueSingleDedup"
    | "enqueueBatch10"
    | "receiveSingle"
    | "receiveBatch10"
    | "ackSingle"
    | "settleBatch10",
    StepCost
  >;
  /** enqueue + receive + ack of one message. */
  lifeSingle: number;
  lifeBatched: number;
}

const round = (value: number) => Math.round(value * 100) / 100;

export async function measureRuPerMessage(messages = 100): Promise<RuPerMessage> {
  const account = await startModelAccount({ database: `measure-${process.pid}` });
  const { api, close } = await startToolHost("measure", account.env);
  const body = { pad: "x".repeat(1024 - 12) };
  const leaseOf = ({ messageId, leaseToken }: { messageId: string; leaseToken: string }) => ({
    messageId,
    leaseToken,
  });
  const { model } = account;

  /** Runs `work`, then returns its RU per message, less the background's RU over as long. */
  const step = async (work: () => Promise<void>): Promise<StepCost> => {
    model.resetUsage();
    const started = performance.now();
    await work();
    const elapsed = performance.now() - started;
    const busy = model.usage();
    model.resetUsage();
    await new Promise((resolve) => setTimeout(resolve, elapsed));
    const idle = model.usage();
    const byKind: Record<string, number> = {};
    for (const [kind, tally] of busy.byKind) {
      const background = idle.byKind.get(kind as OperationKind)?.requestUnits ?? 0;
      byKind[kind] = round(Math.max(0, tally.requestUnits - background) / messages);
    }
    return { requestUnits: round(Math.max(0, busy.requestUnits - idle.requestUnits) / messages), byKind };
  };

  try {
    await api.createQueue({ name: "measure", visibilityTimeoutSeconds: 60 });
    const leases: { messageId: string; leaseToken: string }[] = [];
    const enqueueSingle = await step(async () => {
      for (let n = 0; n < messages; n++) await api.send("measure", { body });
    });
    const receiveSingle = await step(async () => {
      for (let n = 0; n < messages; n++)
        leases.push(...(await api.receive("measure", { max: 1 })).map(leaseOf));
    });
    const ackSingle = await step(async () => {
      for (const lease of leases.splice(0)) await api.ack("measure", lease.messageId, lease.leaseToken);
    });
    const enqueueSingleDedup = await step(async () => {
      for (let n = 0; n < messages; n++) await api.send("measure", { body, deduplicationId: `d-${n}` });
    });
    // The dedup step's messages are settled in the batched steps below, with as many again.
    const enqueueBatch10 = await step(async () => {
      for (let n = 0; n < messages; n += 10)
        await api.sendBatch(
          "measure",
          Array.from({ length: 10 }, () => ({ body })),
        );
    });
    const receiveBatch10 = await step(async () => {
      for (let n = 0; n < messages; n += 10)
        leases.push(...(await api.receive("measure", { max: 10 })).map(leaseOf));
    });
    const settleBatch10 = await step(async () => {
      while (leases.length > 0) await api.settle("measure", { acks: leases.splice(0, 10) });
    });
    const steps = {
      enqueueSingle,
      enqueueSingleDedup,
      enqueueBatch10,
      receiveSingle,
      receiveBatch10,
      ackSingle,
      settleBatch10,
    };
    return {
      measuredAt: new Date().toISOString(),
      command: "npm run build && node dist/src/tools/scale-model.js measure",
      messageBytes: 1024,
      messages,
      steps,
      lifeSingle: round(enqueueSingle.requestUnits + receiveSingle.requestUnits + ackSingle.requestUnits),
      lifeBatched: round(
        enqueueBatch10.requestUnits + receiveBatch10.requestUnits + settleBatch10.requestUnits,
      ),
    };
  } finally {
    await close();
    await account.close();
  }
}
