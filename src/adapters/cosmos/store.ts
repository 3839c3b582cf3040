import { createHash } from "node:crypto";
import {
  BulkOperationType,
  type Container,
  type CosmosClient,
  type JSONObject,
  type OperationInput,
  type PatchOperation,
  type SqlParameter,
} from "@azure/cosmos";
import { isDuplicateOf, tombstoneExpiresAt } from "../../domain/dedup.js";
import { enqueuedMessage, redrivenMessage } from "../../domain/enqueue.js";
import { fail, ok, type Result } from "../../domain/errors.js";
import { newLeaseToken, onReceive, type Transition } from "../../domain/lease.js";
import type { Availability, DeadLetterReason, Message, MessageState } from "../../domain/message.js";
import { fifoRun } from "../../domain/ordering.js";
import type { Ordering, Queue, QueueSettings } from "../../domain/queue.js";
import { redriveProgress } from "../../domain/redrive.js";
import { decodeCursor, pageOf } from "../../service/cursor.js";
import {
  type ApiKeyRecord,
  type Enqueued,
  FINISHED_TASK_RETENTION_SECONDS,
  type KeyStore,
  type NewMessage,
  type Page,
  type PageRequest,
  type QueueStats,
  type QueueStore,
  type Received,
  type ReceiveRequest,
  type RedriveSelection,
  type RedriveTaskClaim,
  type RedriveTaskRecord,
  SAMPLE_RETENTION_MS,
  type Settlement,
  type StatsSample,
} from "../../service/ports.js";
import definitions from "./containers.json" with { type: "json" };
import { HybridLogicalClock } from "./sequence.js";

interface QueueDocument extends QueueSettings {
  id: string; // the queue's name: unique in its tenant's partition
  tenantId: string;
  queueId: string;
  ordering: Ordering;
  createdAt: number;
  updatedAt: number;
}

interface MessageDocument {
  id: string;
  kind: "message";
  queueId: string;
  tenantId: string;
  body: string;
  attributes: Record<string, string>;
  priority: number;
  groupId: string | null;
  sequence: number;
  dedupKey: string | null;
  state: MessageState;
  visibleAt: number;
  enqueuedAt: number;
  expiresAt: number;
  deliveryCount: number;
  leaseToken: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  reason: DeadLetterReason | null;
  deadLetteredAt: number | null;
  ackedAt: number | null;
  removeAt: number | null;
  ttl?: number;
  _etag?: string;
}

/** Per-queue lifetime totals, in the queue's own partition; changed only by `incr` patches. */
interface MetaDocument {
  id: typeof META_ID;
  kind: "meta";
  queueId: string;
  enqueuedTotal: number;
  ackedTotal: number;
  deadLetteredTotal: number;
  redrivenTotal: number;
}

/** Claims a dedup key: its id derives from the key, so a second claim's create conflicts. */
interface DedupDocument {
  id: string;
  kind: "dedup";
  queueId: string;
  messageId: string;
  windowEndsAt: number;
  ttl: number;
  _etag?: string;
}

/** A fifo group with ready messages, and when it was last served (fair receives). */
interface GroupDocument {
  id: string;
  kind: "group";
  queueId: string;
  groupId: string;
  servedAt: number;
}

/** A redrive task, in its queue's partition: deleted with the queue, read with one point read. */
interface TaskDocument {
  id: string;
  kind: "task";
  queueId: string;
  tenantId: string;
  status: RedriveTaskRecord["status"];
  redriven: number;
  remaining: number;
  cutoff: number;
  owner: string;
  leaseExpiresAt: number;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  ttl?: number;
  _etag?: string;
}

/** A stats sample, in its queue's partition: deleted with the queue, and by item TTL after an hour. */
interface SampleDocument extends QueueStats {
  id: string;
  kind: "sample";
  queueId: string;
  tenantId: string;
  at: number;
  ttl: number;
}

interface KeyDocument {
  id: string;
  tenantId: string;
  name: string;
  secretHash: string;
  roles: string[];
  grants: ApiKeyRecord["grants"];
  createdAt: number;
}

const META_ID = "meta";
const MAX_CAS_RETRIES = 5;
const TOTALS = ["enqueuedTotal", "ackedTotal", "deadLetteredTotal", "redrivenTotal"] as const;
type Total = (typeof TOTALS)[number];

/**
 * Whether a Cosmos DB failure means "unavailable, retry" (503 to the
 * client) rather than a bug: throttling (429, after the SDK's own retries),
 * unavailability (503), timeouts (408 and the SDK's `TimeoutError`), a
 * write conflict to retry (449), and a store that cannot be reached. The
 * SDK's transactional batch rethrows every request-level failure as a plain
 * `Error("Batch request error: …")` without its status (@azure/cosmos
 * dist/esm/client/Item/Items.js, `batch`); its operations' own failures
 * (409, 412) come back in the response instead, so what it throws is
 * throttling, unavailability or the network (the store's limits keep a
 * batch from being too large), and counts as unavailable too. The outage
 * drill (src/tools/drill.ts) found it: without this, refused connections
 * during an enqueue answered 500.
 */
function isTransientCosmosError(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status === 429 || status === 503 || status === 408 || status === 449;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|TimeoutError|REQUEST_SEND_ERROR)$/.test(
      code,
    );
  }
  return typeof message === "string" && message.startsWith("Batch request error: ");
}

const statusOf = (error: unknown): number | undefined => {
  const code =
    (error as { code?: unknown; statusCode?: unknown }).code ??
    (error as { statusCode?: unknown }).statusCode;
  return typeof code === "number" ? code : undefined;
};

const groupDocumentId = (groupId: string) => `group-${hashOf(groupId)}`;
const dedupDocumentId = (dedupKey: string) => `dedup-${hashOf(dedupKey)}`;
const hashOf = (value: string) => createHash("sha256").update(value).digest("base64url");

function toQueue(document: QueueDocument): Queue {
  const { id, tenantId, queueId, ordering, createdAt, updatedAt, ...settings } = document;
  const { _rid, _self, _etag, _attachments, _ts, ...clean } = settings as typeof settings &
    Record<string, unknown>;
  return {
    ...(clean as QueueSettings),
    id: queueId,
    tenantId,
    name: id,
    ordering,
    createdAt: new Date(createdAt),
    updatedAt: new Date(updatedAt),
  };
}

function toQueueDocument(queue: Queue): QueueDocument {
  const { id, tenantId, name, ordering, createdAt, updatedAt, ...settings } = queue;
  return {
    ...settings,
    id: name,
    tenantId,
    queueId: id,
    ordering,
    createdAt: createdAt.getTime(),
    updatedAt: updatedAt.getTime(),
  };
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function toMessage(document: MessageDocument): Message {
  return {
    id: document.id,
    tenantId: document.tenantId,
    queueId: document.queueId,
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

const time = (at: Date | null): number | null => (at === null ? null : at.getTime());

function toDocument(message: Message): MessageDocument {
  return {
    ...message,
    kind: "message",
    visibleAt: message.visibleAt.getTime(),
    enqueuedAt: message.enqueuedAt.getTime(),
    expiresAt: message.expiresAt.getTime(),
    leaseExpiresAt: time(message.leaseExpiresAt),
    deadLetteredAt: time(message.deadLetteredAt),
    ackedAt: time(message.ackedAt),
    removeAt: null,
  };
}

function toTask(document: TaskDocument): RedriveTaskRecord {
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

function toKey(document: KeyDocument): ApiKeyRecord {
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

export interface CosmosStoreOptions {
  client: CosmosClient;
  databaseId: string;
}

/**
 * The Cosmos DB (NoSQL) store. Partitioning: `queues` by tenant, `messages`
 * by queue (a queue's messages, totals, dedup claims and fifo groups share
 * one logical partition, so no hot-path query crosses partitions), `keys` by
 * key id. Every change to a message is a compare-and-set on its `_etag`
 * (`If-Match`), so concurrent receivers on any number of instances never
 * lease one message twice. See docs/cosmos.md for costs and limits.
 */
/** The stats of a sample document, without the system properties Cosmos DB adds (_rid, _etag, _ts). */
const pickStats = (document: QueueStats): QueueStats => ({
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

/** The explorer's views of a ready message at @now; a lease's expiry is null once settled or released. */
const VIEW_FILTERS: Record<Availability, string> = {
  available: "c.visibleAt <= @now",
  delayed:
    "c.visibleAt > @now AND (IS_NULL(c.leaseExpiresAt) OR NOT IS_DEFINED(c.leaseExpiresAt) OR c.leaseExpiresAt <= @now)",
  inFlight: "c.leaseExpiresAt > @now",
};

export class CosmosStore implements QueueStore, KeyStore {
  readonly kind = "cosmos" as const;
  private readonly queues: Container;
  private readonly messages: Container;
  private readonly keys: Container;
  private readonly sequences = new HybridLogicalClock();

  constructor(private readonly options: CosmosStoreOptions) {
    const database = options.client.database(options.databaseId);
    this.queues = database.container("queues");
    this.messages = database.container("messages");
    this.keys = database.container("keys");
  }

  /** Creates the database and containers from the shared definitions (emulators and tests; Bicep does it on Azure). */
  static async ensureContainers(client: CosmosClient, databaseId: string): Promise<void> {
    const { database } = await client.databases.createIfNotExists({ id: databaseId });
    for (const container of definitions.containers) {
      await database.containers.createIfNotExists({
        id: container.id,
        partitionKey: { paths: [container.partitionKey] },
        indexingPolicy: container.indexingPolicy as never,
        ...(container.defaultTtl === null ? {} : { defaultTtl: container.defaultTtl }),
      });
    }
  }

  async ping(): Promise<void> {
    await this.options.client.database(this.options.databaseId).read();
  }

  async close(): Promise<void> {
    this.options.client.dispose();
  }

  isUnavailable(error: unknown): boolean {
    return isTransientCosmosError(error);
  }

  // Queues

  async createQueue(queue: Queue): Promise<Result<Queue>> {
    try {
      await this.queues.items.create(toQueueDocument(queue));
    } catch (error) {
      if (statusOf(error) === 409) return fail("conflict", `a queue named "${queue.name}" already exists`);
      throw error;
    }
    await this.messages.items.upsert<MetaDocument>({
      id: META_ID,
      kind: "meta",
      queueId: queue.id,
      enqueuedTotal: 0,
      ackedTotal: 0,
      deadLetteredTotal: 0,
      redrivenTotal: 0,
    });
    return ok(queue);
  }

  async getQueue(tenantId: string, name: string): Promise<Queue | undefined> {
    const { resource } = await this.queues.item(name, tenantId).read<QueueDocument>();
    return resource && toQueue(resource);
  }

  async listQueues(tenantId: string, page: PageRequest): Promise<Result<Page<Queue>>> {
    const after = decodeCursor(page.cursor, 1);
    if (!after.ok) return after;
    const documents = await this.query<QueueDocument>(
      this.queues,
      tenantId,
      "SELECT TOP @n * FROM c WHERE c.tenantId = @pk AND c.id > @after ORDER BY c.id",
      { n: page.limit + 1, after: after.value?.[0] ?? "" },
    );
    return ok(pageOf(documents.map(toQueue), page.limit, (queue) => [queue.name]));
  }

  async updateQueue(queue: Queue): Promise<void> {
    await this.queues.item(queue.name, queue.tenantId).replace(toQueueDocument(queue));
  }

  async deleteQueue(queue: Queue): Promise<void> {
    await this.queues.item(queue.name, queue.tenantId).delete();
    const ids = await this.query<{ id: string }>(
      this.messages,
      queue.id,
      "SELECT c.id FROM c WHERE c.queueId = @pk",
      {},
    );
    await this.deleteAll(
      queue.id,
      ids.map((item) => item.id),
    );
  }

  // Messages

  async enqueue(queue: Queue, drafts: NewMessage[]): Promise<Enqueued[]> {
    const results: Enqueued[] = [];
    for (const draft of drafts) results.push(await this.enqueueOne(queue, draft));
    const added = results.filter((result) => !result.duplicate).length;
    if (added > 0) await this.addToTotals(queue.id, { enqueuedTotal: added });
    return results;
  }

  private async enqueueOne(queue: Queue, draft: NewMessage): Promise<Enqueued> {
    const document = toDocument(
      enqueuedMessage(queue, draft, this.sequences.next(draft.enqueuedAt.getTime())),
    );
    if (draft.groupId !== null) await this.touchGroup(queue.id, draft.groupId);
    if (draft.dedupKey === null) {
      await this.messages.items.create(document);
      return { message: toMessage(document), duplicate: false };
    }
    const claim: DedupDocument = {
      id: dedupDocumentId(draft.dedupKey),
      kind: "dedup",
      queueId: queue.id,
      messageId: draft.id,
      windowEndsAt: draft.enqueuedAt.getTime() + queue.deduplicationWindowSeconds * 1000,
      ttl: Math.max(1, queue.deduplicationWindowSeconds),
    };
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const existing = await this.readDedup(queue, claim.id);
      if (existing) {
        const original = await this.readMessage(queue, existing.messageId);
        if (original && isDuplicateOf(original, queue, draft.enqueuedAt))
          return { message: original, duplicate: true };
        // The window has passed, or the original was purged: the claim is stale; release it, compare-and-set.
        const released = await this.deleteIfMatch(queue.id, existing.id, existing._etag);
        if (!released) continue;
      }
      if (await this.createClaimed(queue.id, document, claim))
        return { message: toMessage(document), duplicate: false };
    }
    throw Object.assign(new Error("the dedup claim kept changing; retry"), { code: 503 });
  }

  /**
   * Creates the dedup claim and the message in one transactional batch: on
   * Cosmos DB either both exist or neither (a claim that conflicts fails the
   * batch with 409, the message with 424). False when another enqueue claimed
   * the key first.
   */
  private async createClaimed(
    queueId: string,
    message: MessageDocument,
    claim: DedupDocument,
  ): Promise<boolean> {
    const operations: OperationInput[] = [
      { operationType: BulkOperationType.Create, resourceBody: claim as unknown as JSONObject },
      { operationType: BulkOperationType.Create, resourceBody: message as unknown as JSONObject },
    ];
    const response = await this.messages.items.batch(operations, queueId);
    if (response.result?.[0]?.statusCode === 409) return false;
    if (!response.result?.every((item) => item.statusCode >= 200 && item.statusCode < 300)) {
      throw Object.assign(new Error(`the enqueue batch failed with ${response.code}`), {
        code: response.code,
      });
    }
    return true;
  }

  private async touchGroup(queueId: string, groupId: string): Promise<void> {
    try {
      await this.messages.items.create<GroupDocument>({
        id: groupDocumentId(groupId),
        kind: "group",
        queueId,
        groupId,
        servedAt: 0,
      });
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
  }

  async receive(queue: Queue, request: ReceiveRequest): Promise<Received> {
    return queue.ordering === "fifo"
      ? this.receiveFifo(queue, request)
      : this.receiveStandard(queue, request);
  }

  private async receiveStandard(queue: Queue, request: ReceiveRequest): Promise<Received> {
    const received: Received = { delivered: [], deadLettered: [] };
    // Candidates another receiver leases first are skipped (their etag no longer matches), so look a little further.
    for (let pass = 0; pass < 5 && received.delivered.length < request.max; pass++) {
      const want = request.max - received.delivered.length;
      const candidates = await this.query<MessageDocument>(
        this.messages,
        queue.id,
        `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt <= @now
         ORDER BY c.priority DESC, c.sequence ASC`,
        { n: want * 2, now: request.now.getTime() },
      );
      for (const candidate of candidates) {
        if (received.delivered.length >= request.max) break;
        await this.leaseCandidate(queue, candidate, request, received);
      }
      if (candidates.length < want * 2) break;
    }
    return received;
  }

  private async receiveFifo(queue: Queue, request: ReceiveRequest): Promise<Received> {
    const received: Received = { delivered: [], deadLettered: [] };
    const groups = await this.query<GroupDocument & { _etag: string }>(
      this.messages,
      queue.id,
      "SELECT * FROM c WHERE c.queueId = @pk AND c.kind = 'group' ORDER BY c.servedAt",
      {},
    );
    for (const group of [...groups].sort(
      (a, b) => a.servedAt - b.servedAt || a.groupId.localeCompare(b.groupId),
    )) {
      const want = request.max - received.delivered.length;
      if (want <= 0) break;
      const head = await this.query<MessageDocument>(
        this.messages,
        queue.id,
        "SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.groupId = @group ORDER BY c.sequence",
        { n: want + 16, group: group.groupId },
      );
      if (head.length === 0) {
        await this.deleteIfMatch(queue.id, group.id, group._etag);
        continue;
      }
      const before = received.delivered.length;
      const run = fifoRun(head.map(toMessage), request.now, head.length);
      for (const candidate of head.slice(0, run.length)) {
        if (received.delivered.length >= request.max) break;
        // Someone else leased this one first: the group is theirs now, and order forbids skipping ahead.
        if (!(await this.leaseCandidate(queue, candidate, request, received))) break;
      }
      if (received.delivered.length > before) {
        await this.messages
          .item(group.id, queue.id)
          .patch([{ op: "set", path: "/servedAt", value: request.now.getTime() }]);
      }
    }
    return received;
  }

  /** Leases or dead-letters one candidate, compare-and-set; false when another receiver changed it first. */
  private async leaseCandidate(
    queue: Queue,
    candidate: MessageDocument,
    request: ReceiveRequest,
    into: Received,
  ): Promise<boolean> {
    const message = toMessage(candidate);
    const transition = onReceive(
      message,
      queue,
      request.now,
      request.visibilityTimeoutSeconds,
      newLeaseToken(),
    );
    const written = await this.write(queue, candidate, transition);
    if (!written) return false;
    if (transition.kind === "lease") into.delivered.push(written);
    else {
      into.deadLettered.push(written);
      await this.addToTotals(queue.id, { deadLetteredTotal: 1 });
    }
    return true;
  }

  async settle(queue: Queue, settlements: Settlement[]): Promise<Result<Message>[]> {
    const results: Result<Message>[] = [];
    const totals: Partial<Record<Total, number>> = {};
    for (const { messageId, decide } of settlements) {
      results.push(await this.settleOne(queue, messageId, decide, totals));
    }
    await this.addToTotals(queue.id, totals);
    return results;
  }

  private async settleOne(
    queue: Queue,
    messageId: string,
    decide: Settlement["decide"],
    totals: Partial<Record<Total, number>>,
  ): Promise<Result<Message>> {
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const document = await this.readMessageDocument(queue, messageId);
      if (!document) return fail("message_not_found", `no message "${messageId}" in this queue`);
      const decision = decide(toMessage(document));
      if (!decision.ok) return decision;
      if (decision.value === null) return ok(toMessage(document));
      const written = await this.write(queue, document, decision.value);
      if (!written) continue; // changed under us: decide again on the fresh copy
      if (decision.value.kind === "ack") totals.ackedTotal = (totals.ackedTotal ?? 0) + 1;
      if (decision.value.kind === "deadLetter")
        totals.deadLetteredTotal = (totals.deadLetteredTotal ?? 0) + 1;
      return ok(written);
    }
    throw Object.assign(new Error("the message kept changing; retry"), { code: 503 });
  }

  /** Writes a domain transition with If-Match on the etag it was decided on; undefined when the etag moved. */
  private async write(
    queue: Queue,
    document: MessageDocument,
    transition: Transition,
  ): Promise<Message | undefined> {
    const next: MessageDocument = { ...document };
    switch (transition.kind) {
      case "lease":
        next.leaseToken = transition.leaseToken;
        next.visibleAt = transition.visibleAt.getTime();
        next.leaseExpiresAt = transition.leaseExpiresAt.getTime();
        next.deliveryCount = transition.deliveryCount;
        break;
      case "deadLetter":
        next.state = "dead";
        next.reason = transition.reason;
        next.lastError = transition.lastError;
        next.deadLetteredAt = transition.at.getTime();
        next.leaseToken = null;
        next.leaseExpiresAt = null;
        break;
      case "ack": {
        const removeAt = tombstoneExpiresAt(toMessage(document), queue, transition.at).getTime();
        next.state = "acked";
        next.ackedAt = transition.at.getTime();
        next.removeAt = removeAt;
        // Cosmos DB removes the tombstone itself; `removeAt` lets housekeeping do it where TTL is not enforced.
        next.ttl = Math.max(1, Math.ceil((removeAt - transition.at.getTime()) / 1000));
        break;
      }
      case "release":
        next.visibleAt = transition.visibleAt.getTime();
        next.lastError = transition.lastError;
        next.leaseToken = null;
        next.leaseExpiresAt = null;
        break;
      case "extend":
        next.visibleAt = transition.visibleAt.getTime();
        next.leaseExpiresAt = transition.leaseExpiresAt.getTime();
        break;
    }
    const { _etag: etag, ...body } = next;
    try {
      await this.messages
        .item(document.id, queue.id)
        .replace(body, { accessCondition: { type: "IfMatch", condition: document._etag ?? "" } });
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) return undefined;
      throw error;
    }
    return toMessage(next);
  }

  async getMessage(queue: Queue, messageId: string): Promise<Message | undefined> {
    return this.readMessage(queue, messageId);
  }

  async purge(queue: Queue): Promise<number> {
    const ready = await this.query<{ id: string }>(
      this.messages,
      queue.id,
      "SELECT c.id FROM c WHERE c.queueId = @pk AND ((c.kind = 'message' AND c.state = 'ready') OR c.kind = 'group')",
      {},
    );
    await this.deleteAll(
      queue.id,
      ready.map((item) => item.id),
    );
    return ready.filter((item) => !item.id.startsWith("group-")).length;
  }

  async nextVisibleAt(queue: Queue, now: Date): Promise<Date | undefined> {
    const [at] = await this.query<number | undefined>(
      this.messages,
      queue.id,
      "SELECT VALUE MIN(c.visibleAt) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt > @now",
      { now: now.getTime() },
    );
    return typeof at === "number" ? new Date(at) : undefined;
  }

  // Dead letters

  async listDeadLetters(queue: Queue, page: PageRequest): Promise<Result<Page<Message>>> {
    const after = decodeCursor(page.cursor, 2);
    if (!after.ok) return after;
    const [at, id] = after.value ?? [-1, ""];
    const documents = await this.query<MessageDocument>(
      this.messages,
      queue.id,
      `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead' AND c.tenantId = @tenant
         AND (c.deadLetteredAt > @at OR (c.deadLetteredAt = @at AND c.id > @id))
       ORDER BY c.deadLetteredAt ASC, c.id ASC`,
      { n: page.limit + 1, tenant: queue.tenantId, at, id },
    );
    return ok(
      pageOf(documents.map(toMessage), page.limit, (message) => [
        message.deadLetteredAt?.getTime() ?? 0,
        message.id,
      ]),
    );
  }

  async recordSample(queue: Queue, sample: StatsSample): Promise<void> {
    const { at, ...stats } = sample;
    // Two instances sampling the same moment write one document: its id is the time.
    await this.messages.items.upsert<SampleDocument>({
      ...stats,
      id: `sample:${at.getTime()}`,
      kind: "sample",
      queueId: queue.id,
      tenantId: queue.tenantId,
      at: at.getTime(),
      ttl: SAMPLE_RETENTION_MS / 1000,
    });
  }

  async samples(queue: Queue, since: Date): Promise<StatsSample[]> {
    const documents = await this.query<SampleDocument>(
      this.messages,
      queue.id,
      `SELECT * FROM c WHERE c.queueId = @pk AND c.kind = 'sample' AND c.tenantId = @tenant
         AND c.at >= @since ORDER BY c.at ASC`,
      { tenant: queue.tenantId, since: since.getTime() },
    );
    return documents.map((document) => ({ at: new Date(document.at), ...pickStats(document) }));
  }

  async listMessages(
    queue: Queue,
    view: Availability,
    now: Date,
    page: PageRequest,
  ): Promise<Result<Page<Message>>> {
    const after = decodeCursor(page.cursor, 1);
    if (!after.ok) return after;
    const [id] = after.value ?? [""];
    const documents = await this.query<MessageDocument>(
      this.messages,
      queue.id,
      `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.tenantId = @tenant
         AND c.id > @id AND ${VIEW_FILTERS[view]} ORDER BY c.id ASC`,
      { n: page.limit + 1, tenant: queue.tenantId, id, now: now.getTime() },
    );
    return ok(pageOf(documents.map(toMessage), page.limit, (message) => [message.id]));
  }

  async redrive(
    queue: Queue,
    selection: RedriveSelection,
    now: Date,
  ): Promise<{ redriven: number; remaining: number }> {
    const candidates =
      "all" in selection
        ? await this.query<MessageDocument>(
            this.messages,
            queue.id,
            "SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead' ORDER BY c.deadLetteredAt ASC, c.id ASC",
            { n: selection.limit },
          )
        : (await Promise.all(selection.messageIds.map((id) => this.readMessageDocument(queue, id)))).filter(
            (document): document is MessageDocument => document?.state === "dead",
          );
    let redriven = 0;
    for (const document of candidates) {
      if (await this.revive(queue, document, now, this.sequences.next(now.getTime()))) redriven++;
    }
    await this.addToTotals(queue.id, { redrivenTotal: redriven });
    const remaining = "all" in selection ? await this.count(queue.id, "c.state = 'dead'", {}) : 0;
    return { redriven, remaining };
  }

  /** Returns a dead letter to the queue, compare-and-set; false when it changed or went first. */
  private async revive(
    queue: Queue,
    document: MessageDocument,
    now: Date,
    sequence: number,
  ): Promise<boolean> {
    const { _etag: etag, ...body } = document;
    const back = redrivenMessage(toMessage(document), queue, now);
    const revived: MessageDocument = {
      ...body,
      state: back.state,
      sequence,
      visibleAt: back.visibleAt.getTime(),
      expiresAt: back.expiresAt.getTime(),
      deliveryCount: back.deliveryCount,
      leaseToken: back.leaseToken,
      leaseExpiresAt: null,
      reason: back.reason,
      deadLetteredAt: null,
    };
    if (document.groupId !== null) await this.touchGroup(queue.id, document.groupId);
    try {
      await this.messages.item(document.id, queue.id).replace(revived, {
        accessCondition: { type: "IfMatch", condition: etag ?? "" },
      });
      return true;
    } catch (error) {
      if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
      return false;
    }
  }

  async purgeDeadLetters(queue: Queue): Promise<number> {
    const dead = await this.query<{ id: string }>(
      this.messages,
      queue.id,
      "SELECT c.id FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead'",
      {},
    );
    await this.deleteAll(
      queue.id,
      dead.map((item) => item.id),
    );
    return dead.length;
  }

  // Redrive tasks
  //
  // A chunk is three steps: claim the task (compare-and-set on its etag),
  // move each dead letter (compare-and-set on the message's etag), record the
  // progress (compare-and-set again, re-read and retried on a conflict). An
  // instance that dies between the moves and the record leaves those moves
  // uncounted in `redriven`, never undone or repeated: a moved message's new
  // sequence is at or above the task's cutoff, so no chunk selects it again.

  async createRedriveTask(queue: Queue, id: string, claim: RedriveTaskClaim): Promise<RedriveTaskRecord> {
    // Above every sequence the queue holds, even one another instance's clock put ahead of this one's.
    const [highest] = await this.query<number>(
      this.messages,
      queue.id,
      "SELECT TOP 1 VALUE c.sequence FROM c WHERE c.queueId = @pk AND c.kind = 'message' ORDER BY c.sequence DESC",
      {},
    );
    const document: TaskDocument = {
      id,
      kind: "task",
      queueId: queue.id,
      tenantId: queue.tenantId,
      status: "running",
      redriven: 0,
      remaining: await this.count(queue.id, "c.state = 'dead'", {}),
      cutoff: Math.max(this.sequences.next(claim.now.getTime()), (highest ?? 0) + 1),
      owner: claim.owner,
      leaseExpiresAt: claim.leaseExpiresAt.getTime(),
      error: null,
      createdAt: claim.now.getTime(),
      updatedAt: claim.now.getTime(),
    };
    await this.messages.items.create(document);
    return toTask(document);
  }

  async getRedriveTask(queue: Queue, id: string): Promise<RedriveTaskRecord | undefined> {
    const document = await this.readTask(queue, id);
    return document && toTask(document);
  }

  async advanceRedriveTask(
    queue: Queue,
    id: string,
    claim: RedriveTaskClaim,
    limit: number,
  ): Promise<RedriveTaskRecord | undefined> {
    const claimed = await this.claimTask(queue, id, claim);
    if (!claimed) return undefined;
    const candidates = await this.query<MessageDocument>(
      this.messages,
      queue.id,
      `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead' AND c.sequence < @cutoff
       ORDER BY c.deadLetteredAt ASC, c.id ASC`,
      { n: limit, cutoff: claimed.cutoff },
    );
    const floorMs = Math.max(claim.now.getTime(), Math.ceil(claimed.cutoff / 1000));
    let moved = 0;
    for (const document of candidates) {
      if (await this.revive(queue, document, claim.now, this.sequences.next(floorMs))) moved++;
    }
    await this.addToTotals(queue.id, { redrivenTotal: moved });
    const recorded = await this.recordProgress(queue, claimed, claim, moved, candidates.length < limit);
    return recorded?.owner === claim.owner ? toTask(recorded) : undefined;
  }

  async failRedriveTask(queue: Queue, id: string, owner: string, error: string, now: Date): Promise<void> {
    const task = await this.readTask(queue, id);
    if (task?.status !== "running" || task.owner !== owner) return;
    await this.replaceTask(queue, task, {
      ...task,
      status: "failed",
      error,
      updatedAt: now.getTime(),
      ttl: FINISHED_TASK_RETENTION_SECONDS,
    });
  }

  /** Crosses partitions: only the resume trigger calls it, never a request. */
  async orphanedRedriveTasks(now: Date, limit: number): Promise<RedriveTaskRecord[]> {
    const { resources } = await this.messages.items
      .query<TaskDocument>({
        query:
          "SELECT TOP @n * FROM c WHERE c.kind = 'task' AND c.status = 'running' AND c.leaseExpiresAt <= @now",
        parameters: params({ n: limit, now: now.getTime() }),
      })
      .fetchAll();
    return resources.map(toTask);
  }

  private async readTask(queue: Queue, id: string): Promise<TaskDocument | undefined> {
    if (!id.startsWith("task_")) return undefined;
    const { resource } = await this.messages.item(id, queue.id).read<TaskDocument>();
    return resource?.kind === "task" && resource.tenantId === queue.tenantId ? resource : undefined;
  }

  /** Replaces the task if its etag still matches; the written copy with its new etag, or undefined. */
  private async replaceTask(
    queue: Queue,
    current: TaskDocument,
    next: TaskDocument,
  ): Promise<TaskDocument | undefined> {
    const { _etag: etag, ...body } = next;
    try {
      const { resource } = await this.messages.item(current.id, queue.id).replace<TaskDocument>(body, {
        accessCondition: { type: "IfMatch", condition: current._etag ?? "" },
      });
      return resource;
    } catch (error) {
      if (statusOf(error) === 412) return undefined;
      throw error;
    }
  }

  private async claimTask(
    queue: Queue,
    id: string,
    claim: RedriveTaskClaim,
  ): Promise<TaskDocument | undefined> {
    const task = await this.readTask(queue, id);
    if (task?.status !== "running") return undefined;
    if (task.owner !== claim.owner && task.leaseExpiresAt > claim.now.getTime()) return undefined;
    return this.replaceTask(queue, task, {
      ...task,
      owner: claim.owner,
      leaseExpiresAt: claim.leaseExpiresAt.getTime(),
      updatedAt: claim.now.getTime(),
    });
  }

  /**
   * Adds this chunk's moves to the task as it is now: another owner's
   * progress in between is kept. Undefined when the task is gone (its queue
   * was deleted).
   */
  private async recordProgress(
    queue: Queue,
    claimed: TaskDocument,
    claim: RedriveTaskClaim,
    moved: number,
    short: boolean,
  ): Promise<TaskDocument | undefined> {
    let current: TaskDocument | undefined = claimed;
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      if (!current) return undefined;
      const progress = redriveProgress(current, moved, short);
      // A task another owner already finished or failed keeps its status; the moves still count.
      const status = current.status === "running" ? progress.status : current.status;
      const finished = status !== "running";
      const ours = current.owner === claim.owner;
      const written = await this.replaceTask(queue, current, {
        ...current,
        ...progress,
        status,
        ...(ours ? { leaseExpiresAt: claim.leaseExpiresAt.getTime() } : {}),
        updatedAt: claim.now.getTime(),
        ...(finished ? { ttl: FINISHED_TASK_RETENTION_SECONDS } : {}),
      });
      if (written) return written;
      current = await this.readTask(queue, claimed.id);
    }
    throw Object.assign(new Error("the redrive task kept changing; retry"), { code: 503 });
  }

  // Stats and housekeeping

  async stats(queue: Queue, now: Date): Promise<QueueStats> {
    const at = { now: now.getTime() };
    const [available, delayed, inFlight, deadLettered, oldest, meta] = await Promise.all([
      this.count(queue.id, "c.state = 'ready' AND c.visibleAt <= @now", at),
      this.count(queue.id, "c.state = 'ready' AND c.visibleAt > @now AND IS_NULL(c.leaseToken)", at),
      this.count(queue.id, "c.state = 'ready' AND c.visibleAt > @now AND NOT IS_NULL(c.leaseToken)", at),
      this.count(queue.id, "c.state = 'dead'", {}),
      this.query<number | undefined>(
        this.messages,
        queue.id,
        "SELECT VALUE MIN(c.enqueuedAt) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt <= @now",
        at,
      ),
      this.messages.item(META_ID, queue.id).read<MetaDocument>(),
    ]);
    const oldestAt = oldest[0];
    return {
      available,
      delayed,
      inFlight,
      deadLettered,
      oldestAvailableAgeSeconds:
        typeof oldestAt === "number" ? Math.max(0, Math.floor((now.getTime() - oldestAt) / 1000)) : 0,
      enqueuedTotal: meta.resource?.enqueuedTotal ?? 0,
      ackedTotal: meta.resource?.ackedTotal ?? 0,
      deadLetteredTotal: meta.resource?.deadLetteredTotal ?? 0,
      redrivenTotal: meta.resource?.redrivenTotal ?? 0,
    };
  }

  /**
   * On Cosmos DB the per-item TTL removes acked tombstones; this catches any
   * the TTL has not reached yet (and is the only clean-up where TTL is not
   * enforced, as on the local test server). It queries across partitions:
   * housekeeping, never the hot path.
   */
  async removeExpiredTombstones(now: Date): Promise<number> {
    const { resources } = await this.messages.items
      .query<{ id: string; queueId: string }>({
        query:
          "SELECT TOP 1000 c.id, c.queueId FROM c WHERE c.kind = 'message' AND c.state = 'acked' AND c.removeAt <= @now",
        parameters: [{ name: "@now", value: now.getTime() }],
      })
      .fetchAll();
    for (const { id, queueId } of resources) await this.deleteAll(queueId, [id]);
    return resources.length;
  }

  /** Crosses partitions: only the push dispatcher's sweep calls it, never a request. */
  async listPushQueues(): Promise<Queue[]> {
    const { resources } = await this.queues.items
      .query<QueueDocument>("SELECT * FROM c WHERE IS_DEFINED(c.push) AND NOT IS_NULL(c.push)")
      .fetchAll();
    return resources.map(toQueue);
  }

  async getQueueById(tenantId: string, queueId: string): Promise<Queue | undefined> {
    const [document] = await this.query<QueueDocument>(
      this.queues,
      tenantId,
      "SELECT * FROM c WHERE c.tenantId = @pk AND c.queueId = @queueId",
      { queueId },
    );
    return document && toQueue(document);
  }

  async countInFlight(queue: Queue, now: Date): Promise<number> {
    return this.count(queue.id, "c.state = 'ready' AND c.visibleAt > @now AND NOT IS_NULL(c.leaseToken)", {
      now: now.getTime(),
    });
  }

  async dueMessages(queue: Queue, now: Date, limit: number): Promise<Message[]> {
    const documents = await this.query<MessageDocument>(
      this.messages,
      queue.id,
      `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt <= @now
       ORDER BY c.priority DESC, c.sequence ASC`,
      { n: limit, now: now.getTime() },
    );
    return documents.map(toMessage);
  }

  // API keys

  async createKey(record: ApiKeyRecord): Promise<void> {
    await this.keys.items.create<KeyDocument>({ ...record, createdAt: record.createdAt.getTime() });
  }

  async findKey(id: string): Promise<ApiKeyRecord | undefined> {
    const { resource } = await this.keys.item(id, id).read<KeyDocument>();
    return resource && toKey(resource);
  }

  /** Crosses partitions (keys are partitioned by id for the hot-path look-up); an admin's listing, not the hot path. */
  async listKeys(tenantId: string, page: PageRequest): Promise<Result<Page<ApiKeyRecord>>> {
    const after = decodeCursor(page.cursor, 2);
    if (!after.ok) return after;
    const [at, id] = after.value ?? [-1, ""];
    const { resources } = await this.keys.items
      .query<KeyDocument>({
        query: `SELECT * FROM c WHERE c.tenantId = @tenant AND (c.createdAt > @at OR (c.createdAt = @at AND c.id > @id))`,
        parameters: params({ tenant: tenantId, at, id }),
      })
      .fetchAll();
    const sorted = resources
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .slice(0, page.limit + 1);
    return ok(pageOf(sorted.map(toKey), page.limit, (key) => [key.createdAt.getTime(), key.id]));
  }

  async deleteKey(tenantId: string, id: string): Promise<boolean> {
    const existing = await this.findKey(id);
    if (!existing || existing.tenantId !== tenantId) return false;
    await this.keys.item(id, id).delete();
    return true;
  }

  // Helpers

  /**
   * A query inside one logical partition. The partition key is both the
   * request's scope and, as `@pk`, a condition every query text must state:
   * the local test server ignores the scope, and naming the tenant or queue in
   * the filter keeps isolation from resting on one request option.
   */
  private async query<T>(
    container: Container,
    partitionKey: string,
    query: string,
    values: Record<string, unknown>,
  ): Promise<T[]> {
    if (!query.includes("= @pk")) throw new Error(`query does not filter on its partition: ${query}`);
    const { resources } = await container.items
      .query<T>({ query, parameters: params({ ...values, pk: partitionKey }) }, { partitionKey })
      .fetchAll();
    return resources;
  }

  private async count(queueId: string, where: string, values: Record<string, unknown>): Promise<number> {
    const [count] = await this.query<number>(
      this.messages,
      queueId,
      `SELECT VALUE COUNT(1) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND ${where}`,
      values,
    );
    return count ?? 0;
  }

  private async readMessageDocument(queue: Queue, id: string): Promise<MessageDocument | undefined> {
    if (id === "" || id === META_ID || id.startsWith("dedup-") || id.startsWith("group-")) return undefined;
    const { resource } = await this.messages.item(id, queue.id).read<MessageDocument>();
    return resource?.kind === "message" && resource.tenantId === queue.tenantId ? resource : undefined;
  }

  private async readMessage(queue: Queue, id: string): Promise<Message | undefined> {
    const document = await this.readMessageDocument(queue, id);
    return document && toMessage(document);
  }

  private async readDedup(queue: Queue, id: string): Promise<DedupDocument | undefined> {
    const { resource } = await this.messages.item(id, queue.id).read<DedupDocument>();
    return resource;
  }

  private async deleteIfMatch(queueId: string, id: string, etag: string | undefined): Promise<boolean> {
    try {
      await this.messages
        .item(id, queueId)
        .delete({ accessCondition: { type: "IfMatch", condition: etag ?? "" } });
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return false;
      if (status === 404) return true;
      throw error;
    }
  }

  private async deleteAll(queueId: string, ids: string[]): Promise<void> {
    for (let start = 0; start < ids.length; start += 100) {
      const operations: OperationInput[] = ids
        .slice(start, start + 100)
        .map((id) => ({ operationType: BulkOperationType.Delete, id, partitionKey: queueId }));
      await this.messages.items.executeBulkOperations(operations);
    }
  }

  /** Adds to the queue's totals with one atomic `incr` patch (no read, no etag race). */
  private async addToTotals(queueId: string, totals: Partial<Record<Total, number>>): Promise<void> {
    const operations: PatchOperation[] = TOTALS.filter((total) => (totals[total] ?? 0) > 0).map((total) => ({
      op: "incr",
      path: `/${total}`,
      value: totals[total] as number,
    }));
    if (operations.length > 0) await this.messages.item(META_ID, queueId).patch(operations);
  }
}

function params(values: Record<string, unknown>): SqlParameter[] {
  return Object.entries(values).map(([name, value]) => ({ name: `@${name}`, value: value as never }));
}
