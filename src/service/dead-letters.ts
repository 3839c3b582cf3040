import { randomUUID } from "node:crypto";
import type { Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import type { Message } from "../domain/message.js";
import type { Queue } from "../domain/queue.js";
import { openQueue, type ServiceContext } from "./context.js";
import type { Page, PageRequest } from "./ports.js";

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
  /** Set when more than one chunk remains: the rest is redriven in the background. */
  task?: RedriveTask;
}

export async function listDeadLetters(
  context: ServiceContext,
  principal: Principal,
  queueName: string,
  page: PageRequest,
): Promise<Result<Page<Message>>> {
  const opened = await openQueue(context, principal, queueName, "read");
  if (!opened.ok) return opened;
  return context.store.listDeadLetters(opened.value, page);
}

export async function purgeDeadLetters(
  context: ServiceContext,
  principal: Principal,
  queueName: string,
): Promise<Result<number>> {
  const opened = await openQueue(context, principal, queueName, "manage");
  if (!opened.ok) return opened;
  return ok(await context.store.purgeDeadLetters(opened.value));
}

/**
 * Redrive returns dead letters to their queue with `deliveryCount` 0. Ids are
 * redriven at once (up to 1000). `all` redrives the first 1000 in the request;
 * if more remain, a background task redrives the rest chunk by chunk (each
 * chunk one transaction) and `GET .../tasks/{id}` reports its progress. Tasks
 * live in this process: after a restart, repeat the `all` redrive; it only
 * ever picks up what is still dead-lettered.
 */
export class Redriver {
  private readonly tasks = new Map<string, RedriveTask & { tenantId: string }>();

  constructor(private readonly context: ServiceContext) {}

  async redrive(
    principal: Principal,
    queueName: string,
    input: RedriveInput,
  ): Promise<Result<RedriveOutcome>> {
    const opened = await openQueue(this.context, principal, queueName, "manage");
    if (!opened.ok) return opened;
    const queue = opened.value;
    const selection = "all" in input ? { all: true as const, limit: LIMITS.redriveChunk } : input;
    const first = await this.context.store.redrive(queue, selection, this.context.clock.now());
    if (first.redriven > 0) this.context.signals.notify(queue.id);
    if (first.remaining === 0) return ok(first);
    const task = {
      id: `task_${randomUUID()}`,
      tenantId: principal.tenantId,
      queueName,
      status: "running" as const,
      ...first,
    };
    this.tasks.set(task.id, task);
    void this.continueRedrive(queue, task.id);
    return ok({ ...first, task: publicTask(task) });
  }

  async task(principal: Principal, queueName: string, taskId: string): Promise<Result<RedriveTask>> {
    const opened = await openQueue(this.context, principal, queueName, "read");
    if (!opened.ok) return opened;
    const task = this.tasks.get(taskId);
    if (!task || task.tenantId !== principal.tenantId || task.queueName !== queueName) {
      return fail("not_found", `no task "${taskId}" on this queue`);
    }
    return ok(publicTask(task));
  }

  private async continueRedrive(queue: Queue, taskId: string): Promise<void> {
    const task = this.tasks.get(taskId);
    if (!task) return;
    try {
      while (task.remaining > 0) {
        const chunk = await this.context.store.redrive(
          queue,
          { all: true, limit: LIMITS.redriveChunk },
          this.context.clock.now(),
        );
        task.redriven += chunk.redriven;
        task.remaining = chunk.remaining;
        this.context.signals.notify(queue.id);
        if (chunk.redriven === 0) break;
      }
      task.status = "done";
    } catch (error) {
      task.status = "failed";
      task.error = error instanceof Error ? error.message : String(error);
    }
  }
}

function publicTask({ tenantId: _tenant, ...task }: RedriveTask & { tenantId: string }): RedriveTask {
  return { ...task };
}
