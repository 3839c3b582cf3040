import type { ConveyorClient } from "../src/client/index.js";
import type { DraftMessage } from "../src/domain/enqueue.js";
import { onNack } from "../src/domain/lease.js";
import type { Message } from "../src/domain/message.js";
import type { Queue } from "../src/domain/queue.js";
import type { QueueStore } from "../src/service/ports.js";
import { settleMessages } from "../src/service/settle.js";
import { plainDraft } from "./fixtures.js";

export type TaskView = Awaited<ReturnType<ConveyorClient["redriveTask"]>>;

/** Polls a redrive task until `until` holds, for at most 30 s. */
export async function waitForTask(
  client: ConveyorClient,
  queue: string,
  taskId: string,
  until: (task: TaskView) => boolean,
): Promise<TaskView> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const task = await client.redriveTask(queue, taskId);
    if (until(task)) return task;
    if (Date.now() > deadline) throw new Error(`task still ${JSON.stringify(task)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Dead-letters every leased message straight through the store, as a consumer's nack would. */
export function deadLetterAll(store: QueueStore, queue: Queue, leased: Message[], at: Date) {
  return settleMessages(
    store,
    queue,
    leased.map((message) => ({
      messageId: message.id,
      decide: (stored: Message) =>
        onNack(stored, queue, message.leaseToken ?? "", at, { deadLetter: true, error: "x" }, Math.random),
    })),
  );
}

/** `count` empty messages, available from `available` until `expiresAt`, to fill a queue straight through its store. */
export function plainMessages(count: number, available: Date, expiresAt: Date): DraftMessage[] {
  return Array.from({ length: count }, (_, n) => plainDraft(n, available, expiresAt));
}
