import { availability, type Message } from "../domain/message.js";
import type { Queue } from "../domain/queue.js";
import type { ApiKeyRecord } from "../service/ports.js";

/** Domain objects as the API shows them (the shapes the answer schemas in `schemas/` name). */

const iso = (at: Date | null): string | null => (at === null ? null : at.toISOString());

export function presentQueue(queue: Queue, signingSecret?: string) {
  const { tenantId: _tenant, createdAt, updatedAt, push, ...rest } = queue;
  return {
    ...rest,
    ...(push ? { push: { ...push, ...(signingSecret ? { signingSecret } : {}) } } : {}),
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  };
}

const core = (message: Message) => ({
  messageId: message.id,
  body: JSON.parse(message.body) as unknown,
  attributes: message.attributes,
  priority: message.priority,
  groupId: message.groupId,
  sequence: message.sequence,
  deliveryCount: message.deliveryCount,
  enqueuedAt: message.enqueuedAt.toISOString(),
});

/** A message a receive just leased: its lease is set, and the holder gets its token. */
export function presentReceived(message: Message) {
  const { leaseToken, leaseExpiresAt } = message;
  if (leaseToken === null || leaseExpiresAt === null) {
    throw new Error(`message ${message.id} was received without a lease`);
  }
  return { ...core(message), leaseToken, leaseExpiresAt: leaseExpiresAt.toISOString() };
}

/** A message without its lease token: reading a message must not let the reader settle it. */
export function presentMessage(message: Message, now: Date) {
  return {
    ...core(message),
    state: message.state === "ready" ? availability(message, now) : message.state,
    visibleAt: message.visibleAt.toISOString(),
    expiresAt: message.expiresAt.toISOString(),
    leaseExpiresAt: iso(message.leaseExpiresAt),
    lastError: message.lastError,
    reason: message.reason,
    deadLetteredAt: iso(message.deadLetteredAt),
  };
}

export function presentEnqueued(message: Message, duplicate: boolean) {
  return {
    messageId: message.id,
    sequence: message.sequence,
    enqueuedAt: message.enqueuedAt.toISOString(),
    visibleAt: message.visibleAt.toISOString(),
    duplicate,
  };
}

export function presentKey(key: Omit<ApiKeyRecord, "secretHash">) {
  const { tenantId: _tenant, createdAt, ...rest } = key;
  return { ...rest, createdAt: createdAt.toISOString() };
}
