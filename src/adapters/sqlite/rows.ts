import { LIMITS } from "../../domain/limits.js";
import type { DeadLetterReason, Message, MessageState } from "../../domain/message.js";
import type { Ordering, Queue, QueueSettings } from "../../domain/queue.js";
import type { ApiKeyRecord, RedriveTaskRecord } from "../../service/ports.js";

/** The SQLite rows and their mappings to domain values; the schema is in migrations.ts. */

export interface QueueRow {
  id: string;
  tenant_id: string;
  name: string;
  ordering: string;
  settings: string;
  created_at: number;
  updated_at: number;
}

export interface MessageRow {
  pk: number;
  tenant_id: string;
  queue_id: string;
  id: string;
  body: string;
  attributes: string;
  priority: number;
  group_id: string | null;
  sequence: number;
  dedup_key: string | null;
  state: string;
  visible_at: number;
  enqueued_at: number;
  expires_at: number;
  delivery_count: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  reason: string | null;
  dead_lettered_at: number | null;
  acked_at: number | null;
  partition: number;
  version: number;
}

export interface TaskRow {
  id: string;
  tenant_id: string;
  queue_id: string;
  status: string;
  redriven: number;
  remaining: number;
  cutoff: number;
  owner: string;
  lease_expires_at: number;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface KeyRow {
  id: string;
  tenant_id: string;
  name: string;
  secret_hash: string;
  roles: string;
  grants: string;
  created_at: number;
}

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toQueue(row: QueueRow): Queue {
  // Queues stored before sharding have no `partitions`: they have one.
  const settings = JSON.parse(row.settings) as Omit<QueueSettings, "partitions"> & { partitions?: number };
  return {
    ...settings,
    partitions: settings.partitions ?? LIMITS.partitions.default,
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    ordering: row.ordering as Ordering,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function settingsOf(queue: Queue): string {
  const { id: _id, tenantId: _t, name: _n, ordering: _o, createdAt: _c, updatedAt: _u, ...settings } = queue;
  return JSON.stringify(settings);
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    queueId: row.queue_id,
    body: row.body,
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    priority: row.priority,
    groupId: row.group_id,
    sequence: row.sequence,
    dedupKey: row.dedup_key,
    state: row.state as MessageState,
    visibleAt: new Date(row.visible_at),
    enqueuedAt: new Date(row.enqueued_at),
    expiresAt: new Date(row.expires_at),
    deliveryCount: row.delivery_count,
    leaseToken: row.lease_token,
    leaseExpiresAt: toDate(row.lease_expires_at),
    lastError: row.last_error,
    reason: row.reason as DeadLetterReason | null,
    deadLetteredAt: toDate(row.dead_lettered_at),
    ackedAt: toDate(row.acked_at),
  };
}

export function toTask(row: TaskRow): RedriveTaskRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    queueId: row.queue_id,
    status: row.status as RedriveTaskRecord["status"],
    redriven: row.redriven,
    remaining: row.remaining,
    cutoff: row.cutoff,
    owner: row.owner,
    leaseExpiresAt: new Date(row.lease_expires_at),
    error: row.error,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    secretHash: row.secret_hash,
    roles: JSON.parse(row.roles) as string[],
    grants: JSON.parse(row.grants) as ApiKeyRecord["grants"],
    createdAt: new Date(row.created_at),
  };
}
