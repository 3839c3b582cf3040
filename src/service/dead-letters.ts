import { randomUUID } from "node:crypto";
import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import type { Message } from "../domain/message.js";
import type { Queue } from "../domain/queue.js";
import { openQueue, queueUseCase, type ServiceContext } from "./context.js";
import type { Page, PageRequest, RedriveTaskClaim, RedriveTaskRecord } from "./ports.js";

export type RedriveInput = { messageIds: string[] } | { all: true };

export interface RedriveTask {
  id: string;
  queueName: string;
  status: "running" | "done" | "failed";
  redriven: number;
  remaining: number;
  error?: string;
}

export interface RedriveOutcome {
  redriven: number;
  remaining: number;
  /** Set when the first chunk did not finish the redrive: the rest is redriven in the background. */
  task?: RedriveTask;
}

/** How long a claim on a task holds unrenewed; a chunk takes far less, so only a stopped owner lets it lapse. */
export const TASK_LEASE_SECONDS = 30;

/**
 * Chunks after the request's first are smaller: each records its progress
 * and renews the lease, so a takeover repeats little and a reader sees the
 * count move.
 */
const TASK_CHUNK = 100;

export const listDeadLetters = queueUseCase(
  "read",
  (queue, { context }, page: PageRequest): Promise<Result<Page<Message>>> =>
    context.store.listDeadLetters(queue, page),
);

export const purgeDeadLetters = queueUseCase(
  "manage",
  async (queue, { context }): Promise<Result<number>> => ok(await context.store.purgeDeadLetters(queue)),
);

/**
 * Redrive returns dead letters to their queue with `deliveryCount` 0. Ids are
 * redriven at once (up to 1000). `all` starts a task in the store and
 * redrives its first 1000 in the request; if more remain, this instance
 * continues in the background and `GET .../tasks/{id}` reports progress from
 * any instance. A task whose owner stops (scale-in, crash, restart) is taken
 * over by `resume` once its lease lapses: a timer function on Azure, an
 * interval on the local host.
 */
export class Redriver {
  private readonly owner = `redriver_${randomUUID()}`;
  private readonly working = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly context: ServiceContext) {}

  async redrive(
    principal: Principal,
    queueName: string,
    input: RedriveInput,
  ): Promise<Result<RedriveOutcome>> {
    const opened = await openQueue(this.context, principal, queueName, "manage");
    if (!opened.ok) return opened;
    const queue = opened.value;
    const { store } = this.context;
    if (!("all" in input)) {
      const outcome = await store.redrive(queue, input, this.context.clock.now());
      if (outcome.redriven > 0) this.context.signals.notify(queue.id);
      return ok(outcome);
    }
    const id = `task_${randomUUID()}`;
    await store.createRedriveTask(queue, id, this.claim());
    // Undefined only if the first chunk outlasted the lease and another instance took the task over.
    const task =
      (await store.advanceRedriveTask(queue, id, this.claim(), LIMITS.redriveChunk)) ??
      (await store.getRedriveTask(queue, id));
    if (!task) return fail("queue_not_found", `no queue named "${queueName}"`);
    if (task.redriven > 0) this.context.signals.notify(queue.id);
    if (task.status === "done") return ok({ redriven: task.redriven, remaining: 0 });
    if (task.status === "running") void this.track(this.work(queue, id, Number.POSITIVE_INFINITY));
    return ok({ redriven: task.redriven, remaining: task.remaining, task: publicTask(task, queueName) });
  }

  async task(principal: Principal, queueName: string, taskId: string): Promise<Result<RedriveTask>> {
    const opened = await openQueue(this.context, principal, queueName, "read");
    if (!opened.ok) return opened;
    const task = await this.context.store.getRedriveTask(opened.value, taskId);
    if (!task) return fail("not_found", `no task "${taskId}" on this queue`);
    return ok(publicTask(task, queueName));
  }

  /**
   * Continues tasks whose owner stopped renewing its lease, for at most
   * `budgetMs`; a task it leaves unfinished lapses again and the next run
   * continues it. Returns how many tasks it took up.
   */
  async resume(budgetMs: number): Promise<number> {
    const { store, clock } = this.context;
    const until = clock.now().getTime() + budgetMs;
    let resumed = 0;
    for (const task of await store.orphanedRedriveTasks(clock.now(), 10)) {
      if (this.closed || clock.now().getTime() >= until) break;
      const queue = await store.getQueueById(task.tenantId, task.queueId);
      if (!queue) continue;
      resumed++;
      await this.track(this.work(queue, task.id, until));
    }
    return resumed;
  }

  /** Stops taking further chunks and waits for the ones under way; unfinished tasks lapse to another instance. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.working);
  }

  private track(work: Promise<void>): Promise<void> {
    this.working.add(work);
    return work.finally(() => this.working.delete(work));
  }

  private claim(): RedriveTaskClaim {
    const now = this.context.clock.now();
    return { owner: this.owner, now, leaseExpiresAt: new Date(now.getTime() + TASK_LEASE_SECONDS * 1000) };
  }

  /** Chunk by chunk until the task ends, another instance holds it, this host closes or `until` passes. */
  private async work(queue: Queue, id: string, until: number): Promise<void> {
    const { store, clock } = this.context;
    try {
      while (!this.closed && clock.now().getTime() < until) {
        const task = await store.advanceRedriveTask(queue, id, this.claim(), TASK_CHUNK);
        if (!task) return;
        this.context.signals.notify(queue.id);
        if (task.status !== "running") return;
      }
    } catch (error) {
      // An unavailable store is waited out: the lease lapses and `resume` continues the task later.
      if (store.isUnavailable(error)) return;
      const detail = error instanceof Error ? error.message : String(error);
      // Not recorded either: the task stays running, and its lapsed lease brings it back to `resume`.
      await store.failRedriveTask(queue, id, this.owner, detail, clock.now()).catch(() => undefined);
    }
  }
}

function publicTask(task: RedriveTaskRecord, queueName: string): RedriveTask {
  return {
    id: task.id,
    queueName,
    status: task.status,
    redriven: task.redriven,
    remaining: task.remaining,
    ...(task.error === null ? {} : { error: task.error }),
  };
}
