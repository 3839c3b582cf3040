import type { Container } from "@azure/cosmos";
import { isDuplicateOf, tombstoneExpiresAt } from "../../domain/dedup.js";
import { type DraftMessage, enqueuedMessage } from "../../domain/enqueue.js";
import type { Availability, Message } from "../../domain/message.js";
import { fifoRun } from "../../domain/ordering.js";
import { partitionOfMessageId } from "../../domain/partition.js";
import type { Queue } from "../../domain/queue.js";
import type { Enqueued, MessageWrite, QueueStore, StoredMessage, WriteOutcome } from "../../service/ports.js";
import { BY_ID, readPage } from "../shared/pages.js";
import {
  type DedupDocument,
  dedupDocumentId,
  type GroupDocument,
  groupDocumentId,
  META_ID,
  type MessageDocument,
  partitionKeyOf,
  type Total,
  toDocument,
  toMessage,
} from "./documents.js";
import {
  countMessages,
  deleteIfMatch,
  deleteWhere,
  query,
  queryEach,
  readItem,
  retried,
  statusOf,
} from "./queries.js";
import {
  createAllOnce,
  createOnce,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  replaceOnce,
  StoreBusyError,
} from "./resilience.js";
import type { HybridLogicalClock } from "./sequence.js";
import type { PendingTotals } from "./totals.js";

/**
 * How often an enqueue claims a dedup key again after the claim it found
 * turned out stale and another enqueue replaced it first: a few tries settle
 * any realistic race; beyond them the client retries (503).
 */
const MAX_CLAIM_ATTEMPTS = 5;

/**
 * Replaces one store write sends at once: a receive or settle of up to 100
 * messages goes out in one round trip; a redrive chunk of 1000 in ten, so
 * its requests do not crowd out every other request's connections.
 */
const PARALLEL_WRITES = 100;

/** A lease that yields to throttling gives up at its first 429 (ports.ts, MessageWrite.yieldsToThrottling). */
const YIELDING_POLICY: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxThrottledWaits: 0 };

/** The explorer's views of a ready message at @now; a lease's expiry is null once settled or released. */
const VIEW_FILTERS: Record<Availability, string> = {
  available: "c.visibleAt <= @now",
  delayed:
    "c.visibleAt > @now AND (IS_NULL(c.leaseExpiresAt) OR NOT IS_DEFINED(c.leaseExpiresAt) OR c.leaseExpiresAt <= @now)",
  inFlight: "c.leaseExpiresAt > @now",
};

const STANDARD_CANDIDATES = `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready'
  AND c.visibleAt <= @now ORDER BY c.priority DESC, c.sequence ASC`;

/** A message's partition key, from the partition its id names. */
export const messageKey = (queue: Queue, messageId: string): string =>
  partitionKeyOf(queue.id, partitionOfMessageId(messageId));

/**
 * Messages: enqueue with dedup claims, the receive loop's candidates and
 * compare-and-set writes (`If-Match` on `_etag`), and the views of ready
 * messages, each over the queue's partitions.
 */
export class CosmosMessages {
  constructor(
    private readonly messages: Container,
    private readonly sequences: HybridLogicalClock,
    private readonly totals: PendingTotals<Total>,
  ) {}

  async enqueue(queue: Queue, drafts: DraftMessage[]): Promise<Enqueued[]> {
    const results: Enqueued[] = [];
    const added = new Map<string, number>();
    try {
      for (const draft of drafts) {
        const result = await this.enqueueOne(queue, draft);
        results.push(result);
        const pk = messageKey(queue, draft.id);
        if (!result.duplicate) added.set(pk, (added.get(pk) ?? 0) + 1);
      }
    } finally {
      // The messages stored before a later one failed are stored: they count.
      for (const [pk, count] of added) this.totals.add(pk, { enqueuedTotal: count });
    }
    return results;
  }

  /**
   * A fifo message's group is put in its partition's service order before
   * the message is created (a crash between leaves an empty group, which a
   * receive retires) and again after it: a receive that found the group
   * drained while the create was under way retires it, and its look after
   * the delete (retireGroup) can come before the create lands, leaving the
   * message where no receive looks (a chaos run at 100 RU/s with faults
   * ended with fifo messages nobody received). The second touch finds the
   * group there and costs a 409, about 1 RU.
   */
  private async enqueueOne(queue: Queue, draft: DraftMessage): Promise<Enqueued> {
    const pk = messageKey(queue, draft.id);
    const document = toDocument(
      enqueuedMessage(queue, draft, this.sequences.next(draft.enqueuedAt.getTime())),
      pk,
    );
    if (draft.groupId === null) return this.createMessage(queue, draft, pk, document);
    await this.touchGroup(pk, draft.groupId);
    const enqueued = await this.createMessage(queue, draft, pk, document);
    if (!enqueued.duplicate) await this.touchGroup(pk, draft.groupId);
    return enqueued;
  }

  private async createMessage(
    queue: Queue,
    draft: DraftMessage,
    pk: string,
    document: MessageDocument,
  ): Promise<Enqueued> {
    if (draft.dedupKey === null) {
      // The id is fresh, so a conflict can only be this call's own create whose answer was lost: createOnce resolves it.
      const created = await createOnce(this.messages, document, pk);
      if (!created.ok) throw new Error(`message id ${document.id} is taken`);
      return { message: toMessage(document), duplicate: false };
    }
    const claim: DedupDocument = {
      id: dedupDocumentId(draft.dedupKey),
      kind: "dedup",
      queueId: pk,
      messageId: draft.id,
      windowEndsAt: draft.enqueuedAt.getTime() + queue.deduplicationWindowSeconds * 1000,
      ttl: Math.max(1, queue.deduplicationWindowSeconds),
      writeId: document.writeId,
    };
    let existing = await readItem<DedupDocument>(this.messages, claim.id, pk);
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      if (existing) {
        const original = await this.readMessage(queue, existing.messageId);
        if (original && isDuplicateOf(original.message, queue, draft.enqueuedAt))
          return { message: original.message, duplicate: true };
        // The window has passed, or the original was purged: the claim is stale; release it, compare-and-set.
        if (!(await deleteIfMatch(this.messages, pk, existing.id, existing._etag))) {
          existing = await readItem<DedupDocument>(this.messages, claim.id, pk);
          continue;
        }
      }
      // The claim and the message in one transactional batch: on Cosmos DB both exist or neither.
      const claimed = await createAllOnce(this.messages, [claim, document], pk);
      if (claimed.ok) return { message: toMessage(document), duplicate: false };
      // Another enqueue claimed the key first: `current` is its claim, a duplicate's or a stale one.
      existing = claimed.current;
    }
    throw new StoreBusyError("unavailable", 100, { cause: new Error("the dedup claim kept changing") });
  }

  /** Puts a fifo group in its partition's service order (a no-op when it is there; so a create repeated is too). */
  async touchGroup(pk: string, groupId: string): Promise<void> {
    try {
      await retried(() =>
        this.messages.items.create<GroupDocument>({
          id: groupDocumentId(groupId),
          kind: "group",
          queueId: pk,
          groupId,
          servedAt: 0,
        }),
      );
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
  }

  async candidates(queue: Queue, partition: number, now: Date, limit: number): Promise<StoredMessage[]> {
    const pk = partitionKeyOf(queue.id, partition);
    if (queue.ordering !== "fifo") {
      const documents = await query<MessageDocument>(this.messages, pk, STANDARD_CANDIDATES, {
        n: limit,
        now: now.getTime(),
      });
      return documents.map(stored);
    }
    const groups = await query<GroupDocument>(
      this.messages,
      pk,
      "SELECT * FROM c WHERE c.queueId = @pk AND c.kind = 'group' ORDER BY c.servedAt",
      {},
    );
    const found: StoredMessage[] = [];
    for (const group of groups.sort(
      (a, b) => a.servedAt - b.servedAt || a.groupId.localeCompare(b.groupId),
    )) {
      const room = limit - found.length;
      if (room <= 0) break;
      const head = await query<MessageDocument>(
        this.messages,
        pk,
        "SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.groupId = @group ORDER BY c.sequence",
        { n: room, group: group.groupId },
      );
      // A group without ready messages leaves the service order; an enqueue or redrive brings it back.
      if (head.length === 0) await this.retireGroup(pk, group);
      const run = fifoRun(head.map(toMessage), now, room);
      found.push(...head.slice(0, run.length).map(stored));
    }
    return found;
  }

  /**
   * Removes a drained group from the service order. An enqueue that found the
   * group document still there (and so did not create it) may have added a
   * message meanwhile: a look after the delete puts the group back then.
   */
  private async retireGroup(pk: string, group: GroupDocument): Promise<void> {
    if (!(await deleteIfMatch(this.messages, pk, group.id, group._etag))) return;
    const [still] = await query<string>(
      this.messages,
      pk,
      "SELECT TOP 1 VALUE c.id FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.groupId = @group",
      { group: group.groupId },
    );
    if (still !== undefined) await this.touchGroup(pk, group.groupId);
  }

  async readDocument(queue: Queue, id: string): Promise<MessageDocument | undefined> {
    if (id === "" || id === META_ID || id.startsWith("dedup-") || id.startsWith("group-")) return undefined;
    const resource = await readItem<MessageDocument>(this.messages, id, messageKey(queue, id));
    return resource?.kind === "message" && resource.tenantId === queue.tenantId ? resource : undefined;
  }

  async readMessage(queue: Queue, id: string): Promise<StoredMessage | undefined> {
    const document = await this.readDocument(queue, id);
    return document && stored(document);
  }

  async getMessage(queue: Queue, id: string): Promise<Message | undefined> {
    return (await this.readMessage(queue, id))?.message;
  }

  /**
   * Each write replaces its document `If-Match` its etag, in parallel
   * (replaceOnce: a lost answer is resolved by reading back); the totals of
   * those that won are counted once they committed (totals.ts). A write
   * that yields to throttling is let go at its first 429; when all of them
   * were, the call throws that StoreBusyError, so the client is answered 429
   * with the server's retry-after at once, as SQS and Service Bus answer a
   * throttled call, rather than held while a stale write waits (waiting
   * them out instead ran 17-24% slower with more conflicts on 1-4
   * partitions: docs/performance.md, "Leases that give way to throttling").
   */
  async write(queue: Queue, writes: MessageWrite[]): Promise<WriteOutcome[]> {
    const outcomes: WriteOutcome[] = [];
    let busy: StoreBusyError | undefined;
    const settled = async (write: MessageWrite): Promise<WriteOutcome> => {
      try {
        return await this.writeOne(queue, write);
      } catch (error) {
        if (!(write.yieldsToThrottling && error instanceof StoreBusyError && error.reason === "overloaded"))
          throw error;
        busy = error;
        return "throttled";
      }
    };
    for (let start = 0; start < writes.length; start += PARALLEL_WRITES) {
      const chunk = writes.slice(start, start + PARALLEL_WRITES);
      outcomes.push(...(await Promise.all(chunk.map(settled))));
    }
    writes.forEach((write, index) => {
      if (outcomes[index] === "written") this.totals.add(messageKey(queue, write.next.id), write.totals);
    });
    if (busy && outcomes.every((outcome) => outcome === "throttled")) throw busy;
    return outcomes;
  }

  private async writeOne(
    queue: Queue,
    { version, next, servedGroupAt, yieldsToThrottling }: MessageWrite,
  ): Promise<WriteOutcome> {
    const pk = messageKey(queue, next.id);
    const removeAt = next.ackedAt && tombstoneExpiresAt(next, queue, next.ackedAt);
    const document = toDocument(next, pk, removeAt);
    const policy = yieldsToThrottling ? YIELDING_POLICY : undefined;
    // Lost (412: another write moved the etag; 404: purged): the service reads again.
    const replaced = await replaceOnce(this.messages, document, version, pk, policy);
    if (!replaced.ok) return "lost";
    if (next.groupId !== null && servedGroupAt) await this.serveGroup(pk, next.groupId, servedGroupAt);
    return "written";
  }

  /** Marks when a group was last served (a `set`, so repeating it is harmless); a group gone meanwhile is created again. */
  private async serveGroup(pk: string, groupId: string, at: Date): Promise<void> {
    try {
      await retried(() =>
        this.messages
          .item(groupDocumentId(groupId), pk)
          .patch([{ op: "set", path: "/servedAt", value: at.getTime() }]),
      );
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await this.touchGroup(pk, groupId);
    }
  }

  /** Ready messages go with their fifo groups' places in the service order; only the messages count. */
  async purge(queue: Queue): Promise<number> {
    const deleted = await deleteWhere(
      this.messages,
      queue,
      "AND ((c.kind = 'message' AND c.state = 'ready') OR c.kind = 'group')",
    );
    return deleted.filter((id) => !id.startsWith("group-")).length;
  }

  async nextVisibleAt(queue: Queue, now: Date): Promise<Date | undefined> {
    const ats = await queryEach<number | undefined>(
      this.messages,
      queue,
      "SELECT VALUE MIN(c.visibleAt) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt > @now",
      { now: now.getTime() },
    );
    const due = ats.filter((at): at is number => typeof at === "number");
    return due.length > 0 ? new Date(Math.min(...due)) : undefined;
  }

  readonly listMessages: QueueStore["listMessages"] = (queue, view, now, page) =>
    readPage(page, BY_ID, async ([id], count) => {
      const documents = await queryEach<MessageDocument>(
        this.messages,
        queue,
        `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.tenantId = @tenant
           AND c.id > @id AND ${VIEW_FILTERS[view]} ORDER BY c.id ASC`,
        { n: count, tenant: queue.tenantId, id, now: now.getTime() },
      );
      const sorted = documents.map(toMessage).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return sorted.slice(0, count);
    });

  countInFlight(queue: Queue, now: Date): Promise<number> {
    return countMessages(
      this.messages,
      queue,
      "c.state = 'ready' AND c.visibleAt > @now AND NOT IS_NULL(c.leaseToken)",
      {
        now: now.getTime(),
      },
    );
  }

  async dueMessages(queue: Queue, now: Date, limit: number): Promise<Message[]> {
    const documents = await queryEach<MessageDocument>(this.messages, queue, STANDARD_CANDIDATES, {
      n: limit,
      now: now.getTime(),
    });
    return documents
      .map(toMessage)
      .sort((a, b) => a.sequence - b.sequence)
      .slice(0, limit);
  }
}

const stored = (document: MessageDocument): StoredMessage => ({
  message: toMessage(document),
  version: document._etag ?? "",
});
