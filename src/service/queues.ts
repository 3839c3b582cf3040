import { randomUUID } from "node:crypto";
import { canCreateQueue, grantsOn, isAdmin, type Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import {
  DEFAULT_SETTINGS,
  type Ordering,
  type Queue,
  type QueueSettings,
  type RetryPolicy,
} from "../domain/queue.js";
import { openQueue, type ServiceContext } from "./context.js";
import type { Page, PageRequest, QueueStats } from "./ports.js";

/** Settings a request may set; any it leaves out keep their default (create) or current value (update). */
export type UpdateQueueInput = Partial<Omit<QueueSettings, "retry">> & { retry?: Partial<RetryPolicy> };

export interface CreateQueueInput extends UpdateQueueInput {
  name: string;
  ordering?: Ordering;
}

export async function createQueue(
  context: ServiceContext,
  principal: Principal,
  input: CreateQueueInput,
): Promise<Result<Queue>> {
  if (!canCreateQueue(principal, input.name)) {
    return fail("forbidden", "creating a queue needs the admin role or the manage grant");
  }
  const now = context.clock.now();
  const { name, ordering = "standard", ...settings } = input;
  const queue: Queue = {
    ...DEFAULT_SETTINGS,
    ...settings,
    retry: { ...DEFAULT_SETTINGS.retry, ...settings.retry },
    id: `q_${randomUUID().replaceAll("-", "")}`,
    tenantId: principal.tenantId,
    name,
    ordering,
    createdAt: now,
    updatedAt: now,
  };
  return context.store.createQueue(queue);
}

/** The tenant's queues on which the caller holds any grant (all of them for an admin). */
export async function listQueues(
  context: ServiceContext,
  principal: Principal,
  page: PageRequest,
): Promise<Result<Page<Queue>>> {
  const listed = await context.store.listQueues(principal.tenantId, page);
  if (!listed.ok || isAdmin(principal)) return listed;
  return ok({
    ...listed.value,
    items: listed.value.items.filter((queue) => grantsOn(principal, queue).size > 0),
  });
}

export async function getQueue(
  context: ServiceContext,
  principal: Principal,
  name: string,
): Promise<Result<{ queue: Queue; stats: QueueStats }>> {
  const queue = await openQueue(context, principal, name, "read");
  if (!queue.ok) return queue;
  return ok({ queue: queue.value, stats: await context.store.stats(queue.value, context.clock.now()) });
}

export async function queueStats(
  context: ServiceContext,
  principal: Principal,
  name: string,
): Promise<Result<QueueStats>> {
  const queue = await openQueue(context, principal, name, "read");
  if (!queue.ok) return queue;
  return ok(await context.store.stats(queue.value, context.clock.now()));
}

export async function updateQueue(
  context: ServiceContext,
  principal: Principal,
  name: string,
  patch: UpdateQueueInput,
): Promise<Result<Queue>> {
  const opened = await openQueue(context, principal, name, "manage");
  if (!opened.ok) return opened;
  const current = opened.value;
  const updated: Queue = {
    ...current,
    ...patch,
    retry: { ...current.retry, ...patch.retry },
    updatedAt: context.clock.now(),
  };
  await context.store.updateQueue(updated);
  return ok(updated);
}

export async function deleteQueue(
  context: ServiceContext,
  principal: Principal,
  name: string,
): Promise<Result<void>> {
  const queue = await openQueue(context, principal, name, "manage");
  if (!queue.ok) return queue;
  await context.store.deleteQueue(queue.value);
  context.signals.notify(queue.value.id);
  return ok(undefined);
}
