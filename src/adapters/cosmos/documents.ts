import { createHash, randomUUID } from "node:crypto";
import { LIMITS } from "../../domain/limits.js";
import type { Message } from "../../domain/message.js";
import type { Ordering, Queue, QueueSettings } from "../../domain/queue.js";
import type { ApiKeyRecord, QueueStats, RedriveTaskRecord } from "../../service/ports.js";

/**
 * The documents of the Cosmos DB containers and their mappings to domain
 * values. `queues` is partitioned by tenant, `messages` by `/queueId`, whose
 * value is the queue's partition key (`partitionKeyOf`): the queue id for
 * partition 0, `${queueId}#${n}` for partition n of a sharded queue. So a
 * queue created before sharding (one partition) needs no migration.
 *
 * Every document the store writes carries `writeId`, fresh for each write:
 * when an answer is lost and the retry meets its own precondition (409 on a
 * create, 412 on a replace), reading the document back and finding this
 * write's id tells "mine, applied" from "someone else's"
 * (resilience.ts#createOnce, #replaceOnce).
 */

/** A fresh id for one write of a document (see above). */
export const newWriteId = (): string => randomUUID();

export const partitionKeyOf = (queueId: string, partition: number): string =>
  partition === 0 ? queueId : `${queueId}#${partition}`;

/** The queue a partition key belongs to. */
const queueIdOf = (partitionKey: string): string => {
  const mark = partitionKey.indexOf("#");
  return mark < 0 ? partitionKey : partitionKey.slice(0, mark);
};

export interface QueueDocument extends Omit<QueueSettings, "partitions"> {
  id: string; // the queue's name: unique in its tenant's partition
  tenantId: string;
  queueId: string;
  ordering: Ordering;
  /** Absent on queues created before sharding: they have one. */
  partitions?: number;
  createdAt: number;
  updatedAt: number;
  writeId: string;
}

/** A domain value's fields as a document holds them: each instant as epoch milliseconds. */
export type InEpochMs<T> = {
  [K in keyof T]: T[K] extends Date ? number : T[K] extends Date | null ? number | null : T[K];
};

export interface MessageDocument extends InEpochMs<Message> {
  kind: "message";
  /** The partition key: the queue's, with the message's partition (see `partitionKeyOf`). */
  queueId: string;
  removeAt: number | null;
  writeId: string;
  ttl?: number;
  _etag?: string;
}

export const META_ID = "meta";
export const TOTALS = ["enqueuedTotal", "ackedTotal", "deadLetteredTotal", "redrivenTotal"] as const;
export type Total = (typeof TOTALS)[number];

/** Lifetime totals of one partition of a queue; changed only by `incr` patches; stats sum them. */
export interface MetaDocument extends Record<Total, number> {
  id: typeof META_ID;
  kind: "meta";
  queueId: string;
}

/** Claims a dedup key: its id derives from the key, so a second claim's create conflicts. */
export interface DedupDocument {
  id: string;
  kind: "dedup";
  queueId: string;
  messageId: string;
  windowEndsAt: number;
  ttl: number;
  /** The enqueue's message's `writeId`: the claim and its message are one write. */
  writeId: string;
  _etag?: string;
}

/** A fifo group with ready messages, in its partition, and when it was last served (fair receives). */
export interface GroupDocument {
  id: string;
  kind: "group";
  queueId: string;
  groupId: string;
  servedAt: number;
  _etag?: string;
}

/** A redrive task, in its queue's partition 0: deleted with the queue, read with one point read. */
export interface TaskDocument extends InEpochMs<RedriveTaskRecord> {
  kind: "task";
  writeId: string;
  ttl?: number;
  _etag?: string;
}

/** A stats sample, in its queue's partition 0: deleted with the queue, and by item TTL after an hour. */
export interface SampleDocument extends QueueStats {
  id: string;
  kind: "sample";
  queueId: string;
  tenantId: string;
  at: number;
  ttl: number;
}

export interface KeyDocument extends InEpochMs<ApiKeyRecord> {
  writeId: string;
}

const hashOf = (value: string) => createHash("sha256").update(value).digest("base64url");
export const groupDocumentId = (groupId: string) => `group-${hashOf(groupId)}`;
export const dedupDocumentId = (dedupKey: string) => `dedup-${hashOf(dedupKey)}`;

export function toQueue(document: QueueDocument): Queue {
  const { id, tenantId, queueId, ordering, createdAt, updatedAt, partitions, writeId, ...settings } =
    document;
  const { _rid, _self, _etag, _attachments, _ts, ...clean } = settings as typeof settings &
    Record<string, unknown>;
  return {
    ...(clean as Omit<QueueSettings, "partitions">),
    partitions: partitions ?? LIMITS.partitions.default,
    id: queueId,
    tenantId,
    name: id,
    ordering,
    createdAt: new Date(createdAt),
    updatedAt: new Date(updatedAt),
  };
}

export function toQueueDocument(queue: Queue): QueueDocument {
  const { id, tenantId, name, ordering, createdAt, updatedAt, ...settings } = queue;
  return {
    ...settings,
    id: name,
    tenantId,
    queueId: id,
    ordering,
    createdAt: createdAt.getTime(),
    updatedAt: updatedAt.getTime(),
    writeId: newWriteId(),
  };
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
const time = (at: Date | null): number | null => (at === null ? null : at.getTime());

export function toMessage(document: MessageDocument): Message {
  return {
    id: document.id,
    tenantId: document.tenantId,
    queueId: queueIdOf(document.queueId),
    body: document.body,
    attributes: document.attributes,
    priority: document.priority,
    groupId: document.groupId,
    sequence: document.sequence,
    dedupKey: document.dedupKey,
    state: document.state,
    visibleAt: new Date(document.visibleAt),
    enqueuedAt: new Date(document.enqueuedAt),
    expiresAt: new Date(document.expiresAt),
    deliveryCount: document.deliveryCount,
    leaseToken: document.leaseToken,
    leaseExpiresAt: date(document.leaseExpiresAt),
    lastError: document.lastError,
    reason: document.reason,
    deadLetteredAt: date(document.deadLetteredAt),
    ackedAt: date(document.ackedAt),
  };
}

/** A change-feed document as a message; other documents of the container (totals, claims, groups) are not. */
export function messageFromDocument(document: unknown): Message | undefined {
  const candidate = document as Partial<MessageDocument> | null;
  return candidate?.kind === "message" ? toMessage(candidate as MessageDocument) : undefined;
}

/** The document of a message in the partition `partitionKey`; an acked one with the TTL that removes its tombstone. */
export function toDocument(
  message: Message,
  partitionKey: string,
  removeAt: Date | null = null,
): MessageDocument {
  const document: MessageDocument = {
    ...message,
    kind: "message",
    queueId: partitionKey,
    visibleAt: message.visibleAt.getTime(),
    enqueuedAt: message.enqueuedAt.getTime(),
    expiresAt: message.expiresAt.getTime(),
    leaseExpiresAt: time(message.leaseExpiresAt),
    deadLetteredAt: time(message.deadLetteredAt),
    ackedAt: time(message.ackedAt),
    removeAt: time(removeAt),
    writeId: newWriteId(),
  };
  if (removeAt && message.ackedAt) {
    // Cosmos DB removes the tombstone itself; `removeAt` lets housekeeping do it where TTL is not enforced.
    document.ttl = Math.max(1, Math.ceil((removeAt.getTime() - message.ackedAt.getTime()) / 1000));
  }
  return document;
}

export function toTask(document: TaskDocument): RedriveTaskRecord {
  return {
    id: document.id,
    tenantId: document.tenantId,
    queueId: document.queueId,
    status: document.status,
    redriven: document.redriven,
    remaining: document.remaining,
    cutoff: document.cutoff,
    owner: document.owner,
    leaseExpiresAt: new Date(document.leaseExpiresAt),
    error: document.error,
    createdAt: new Date(document.createdAt),
    updatedAt: new Date(document.updatedAt),
  };
}

export function toKey(document: KeyDocument): ApiKeyRecord {
  return {
    id: document.id,
    tenantId: document.tenantId,
    name: document.name,
    secretHash: document.secretHash,
    roles: document.roles,
    grants: document.grants,
    createdAt: new Date(document.createdAt),
  };
}

/** The stats of a sample document, without the system properties Cosmos DB adds (_rid, _etag, _ts). */
export const pickStats = (document: QueueStats): QueueStats => ({
  available: document.available,
  delayed: document.delayed,
  inFlight: document.inFlight,
  deadLettered: document.deadLettered,
  oldestAvailableAgeSeconds: document.oldestAvailableAgeSeconds,
  enqueuedTotal: document.enqueuedTotal,
  ackedTotal: document.ackedTotal,
  deadLetteredTotal: document.deadLetteredTotal,
  redrivenTotal: document.redrivenTotal,
});
