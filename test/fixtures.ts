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

export function aMessage(overrides: Partial<Message> = {}): Message {
  return {
    id: "m1",
    tenantId: "tenant-a",
    queueId: "q_test",
    body: '"hello"',
    attributes: {},
    priority: 0,
    groupId: null,
    sequence: 1,
    dedupKey: null,
    state: "ready",
    visibleAt: T0,
    enqueuedAt: T0,
    expiresAt: at(3600),
    deliveryCount: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    lastError: null,
    reason: null,
    deadLetteredAt: null,
    ackedAt: null,
    ...overrides,
  };
}
