import { randomUUID } from "node:crypto";
import { canCreateQueue, grantsHeld, grantsOn, type Principal } from "../domain/access.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { checkPartitionsChange } from "../domain/partition.js";
import {
  DEFAULT_SETTINGS,
  type Grant,
  type Ordering,
  type PushSettings,
  type Queue,
  type QueueSettings,
  type RetryPolicy,
} from "../domain/queue.js";
import { queueUseCase, type ServiceContext } from "./context.js";
import type { QueueStats } from "./ports.js";
import { checkPushUrl, signingSecretOf } from "./push.js";
import { listingOf } from "./resources.js";

export interface PushInput {
  url: string;
  timeoutSeconds?: number;
  maxConcurrency?: number;
  /** On update: derive a new signing secret (the old one stops verifying at once). */
  rotateSecret?: boolean;
}

/** Settings a request may set; any it leaves out keep their default (create) or current value (update). */
export type UpdateQueueInput = Partial<Omit<QueueSettings, "retry" | "push">> & {
  retry?: Partial<RetryPolicy>;
  /** `null` turns push delivery off. */
  push?: PushInput | null;
};

/** A queue as its creator (or a secret rotation) sees it: with the push signing secret, once. */
export interface QueueWithSecret {
  queue: Queue;
  signingSecret?: string;
}

export interface CreateQueueInput extends UpdateQueueInput {
  name: string;
  ordering?: Ordering;
}

export async function createQueue(
  context: ServiceContext,
  principal: Principal,
  input: CreateQueueInput,
): Promise<Result<QueueWithSecret>> {
  if (!canCreateQueue(principal, input.name)) {
    return fail("forbidden", "creating a queue needs the admin role or the manage grant");
  }
  const now = context.clock.now();
  const { name, ordering = "standard", push, ...settings } = input;
  const pushSettings = push ? await pushSettingsOf(context, push, undefined) : ok(undefined);
  if (!pushSettings.ok) return pushSettings;
  const queue: Queue = {
    ...DEFAULT_SETTINGS,
    ...settings,
    retry: { ...DEFAULT_SETTINGS.retry, ...settings.retry },
    ...(pushSettings.value ? { push: pushSettings.value } : {}),
    id: `q_${randomUUID().replaceAll("-", "")}`,
    tenantId: principal.tenantId,
    name,
    ordering,
    createdAt: now,
    updatedAt: now,
  };
  const created = await context.store.createQueue(queue);
  if (!created.ok) return created;
  return ok({ queue, signingSecret: signingSecretOf(context, queue) });
}

/** Checks a push URL and settles the secret version: 1 for a new queue, bumped on rotation. */
async function pushSettingsOf(
  context: ServiceContext,
  input: PushInput,
  current: PushSettings | undefined,
): Promise<Result<PushSettings>> {
  const checked = await checkPushUrl(context, input.url);
  if (!checked.ok) return checked;
  const version = current ? current.secretVersion + (input.rotateSecret ? 1 : 0) : 1;
  return ok({
    url: input.url,
    timeoutSeconds: input.timeoutSeconds ?? current?.timeoutSeconds ?? LIMITS.push.timeoutSeconds.default,
    maxConcurrency: input.maxConcurrency ?? current?.maxConcurrency ?? LIMITS.push.maxConcurrency.default,
    secretVersion: version,
  });
}

/** The tenant's queues on which the caller holds any grant (all of them for an admin). */
export const listQueues = listingOf(
  (context: ServiceContext, tenantId, page) => context.store.listQueues(tenantId, page),
  (principal, queue: Queue) => grantsOn(principal, queue).size > 0,
);

export const getQueue = queueUseCase(
  "read",
  async (
    queue,
    { context, principal },
  ): Promise<Result<{ queue: Queue; stats: QueueStats; grants: Grant[] }>> => {
    const stats = await context.store.stats(queue, context.clock.now());
    return ok({ queue, stats, grants: grantsHeld(principal, queue) });
  },
);

export const queueStats = queueUseCase(
  "read",
  async (queue, { context }): Promise<Result<QueueStats>> =>
    ok(await context.store.stats(queue, context.clock.now())),
);

export const updateQueue = queueUseCase(
  "manage",
  async (current, { context }, patch: UpdateQueueInput): Promise<Result<QueueWithSecret>> => {
    const { push, ...settings } = patch;
    if (settings.partitions !== undefined) {
      const partitions = checkPartitionsChange(current, settings.partitions);
      if (!partitions.ok) return partitions;
    }
    const pushSettings = push ? await pushSettingsOf(context, push, current.push) : ok(undefined);
    if (!pushSettings.ok) return pushSettings;
    const { push: _previous, ...rest } = current;
    const updated: Queue = {
      ...rest,
      ...settings,
      retry: { ...current.retry, ...settings.retry },
      ...(push === null ? {} : { push: pushSettings.value ?? current.push }),
      updatedAt: context.clock.now(),
    };
    if (updated.push === undefined) delete updated.push;
    await context.store.updateQueue(updated);
    const rotated = push?.rotateSecret || (push && !current.push);
    return ok({ queue: updated, ...(rotated ? { signingSecret: signingSecretOf(context, updated) } : {}) });
  },
);

export const deleteQueue = queueUseCase("manage", async (queue, { context }): Promise<Result<void>> => {
  await context.store.deleteQueue(queue);
  context.signals.notify(queue.id);
  return ok(undefined);
});
