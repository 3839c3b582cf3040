import { type DraftMessage, enqueuedMessage } from "../src/domain/enqueue.js";
import type { Message } from "../src/domain/message.js";
import { DEFAULT_SETTINGS, type Queue } from "../src/domain/queue.js";

export const T0 = new Date("2026-01-01T00:00:00.000Z");
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

export function aQueue(overrides: Partial<Queue> = {}): Queue {
  return {
    ...DEFAULT_SETTINGS,
    id: "q_test",
    tenantId: "tenant-a",
    name: "orders",
    ordering: "standard",
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** The `n`th of a run of empty messages as the service drafts them, available from `available` until `expiresAt`. */
export function plainDraft(n: number, available: Date, expiresAt: Date): DraftMessage {
  return {
    id: `m_${n}`,
    body: "{}",
    attributes: {},
    priority: 0,
    groupId: null,
    dedupKey: null,
    enqueuedAt: available,
    visibleAt: available,
    expiresAt,
  };
}

/** A message "hello" as the service drafts it for `aQueue()`: due at T0, for an hour. */
export function aDraft(overrides: Partial<DraftMessage> = {}): DraftMessage {
  return { ...plainDraft(1, T0, at(3600)), id: "m1", body: '"hello"', ...overrides };
}

/** `aDraft()` as its store keeps it once enqueued in `aQueue()` (sequence 1, ready), then `overrides`. */
export function aMessage(overrides: Partial<Message> = {}): Message {
  return { ...enqueuedMessage(aQueue(), aDraft(), 1), ...overrides };
}
