import type { Database, Statement } from "better-sqlite3";
import { isDuplicateOf, tombstoneExpiresAt } from "../../domain/dedup.js";
import { type DraftMessage, enqueuedMessage } from "../../domain/enqueue.js";
import { LIMITS } from "../../domain/limits.js";
import type { Message } from "../../domain/message.js";
import { fifoRun } from "../../domain/ordering.js";
import { partitionOfMessageId } from "../../domain/partition.js";
import type { Queue } from "../../domain/queue.js";
import { addTotals, NO_TOTALS, type TotalsDelta } from "../../domain/transition.js";
import type { Enqueued, MessageWrite, QueueStore, StoredMessage, WriteOutcome } from "../../service/ports.js";
import { BY_ID, readPage } from "../shared/pages.js";
import type { Committer } from "./group-commit.js";
import { type MessageRow, toMessage } from "./rows.js";

const PRIORITY_LEVELS = Array.from(
  { length: LIMITS.priority.max - LIMITS.priority.min + 1 },
  (_, index) => LIMITS.priority.min + index,
);

function prepare(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    reserveForEnqueue: q(
      `UPDATE queues SET next_sequence = next_sequence + @n, enqueued_total = enqueued_total + @n,
         ready_count = ready_count + @n WHERE id = @queue RETURNING next_sequence`,
    ),
    uncountDuplicates: q(
      "UPDATE queues SET enqueued_total = enqueued_total - @n, ready_count = ready_count - @n WHERE id = @queue",
    ),
    takeSequences: q(
      "UPDATE queues SET next_sequence = next_sequence + ? WHERE id = ? RETURNING next_sequence",
    ),
    addTotals: q(
      `UPDATE queues SET acked_total = acked_total + ?, dead_lettered_total = dead_lettered_total + ?,
         redriven_total = redriven_total + ? WHERE id = ?`,
    ),
    latestByDedupKey: q(
      `SELECT * FROM messages INDEXED BY messages_dedup
       WHERE queue_id = ? AND partition = ? AND dedup_key = ? ORDER BY enqueued_at DESC LIMIT 1`,
    ),
    insertMessage: q(
      `INSERT INTO messages (tenant_id, queue_id, id, body, attributes, priority, group_id, sequence, dedup_key,
         state, visible_at, enqueued_at, expires_at, partition)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?, ?)`,
    ),
    touchGroup: q("INSERT OR IGNORE INTO fifo_groups (queue_id, group_id, partition) VALUES (?, ?, ?)"),
    standardCandidates: q(
      `SELECT * FROM messages INDEXED BY messages_standard_order
       WHERE queue_id = ? AND partition = ? AND state = 'ready' AND visible_at <= ?
       ORDER BY priority DESC, sequence LIMIT ?`,
    ),
    groupsByService: q(
      `SELECT group_id FROM fifo_groups INDEXED BY fifo_groups_by_service
       WHERE queue_id = ? AND partition = ? ORDER BY served_at, group_id`,
    ),
    groupHead: q(
      `SELECT * FROM messages INDEXED BY messages_fifo_order
       WHERE queue_id = ? AND partition = ? AND state = 'ready' AND group_id IS NOT NULL AND group_id = ?
       ORDER BY sequence LIMIT ?`,
    ),
    // Only while the group still has no ready message: an enqueue may have come between the look and this write.
    deleteDrainedGroup: q(
      `DELETE FROM fifo_groups WHERE queue_id = @queue AND group_id = @group AND NOT EXISTS (
         SELECT 1 FROM messages INDEXED BY messages_fifo_order
         WHERE queue_id = @queue AND partition = @partition AND state = 'ready' AND group_id IS NOT NULL
           AND group_id = @group)`,
    ),
    serveGroup: q("UPDATE fifo_groups SET served_at = ? WHERE queue_id = ? AND group_id = ?"),
    messageById: q("SELECT * FROM messages WHERE queue_id = ? AND id = ? AND tenant_id = ?"),
    // Every mutable field (the payload goes with an ack), compare-and-set on the version the change was decided on.
    write: q(
      `UPDATE messages SET body = ?, attributes = ?, sequence = ?, state = ?, visible_at = ?, expires_at = ?, delivery_count = ?,
         lease_token = ?, lease_expires_at = ?, last_error = ?, reason = ?, dead_lettered_at = ?, acked_at = ?,
         remove_at = ?, version = version + 1
       WHERE queue_id = ? AND id = ? AND version = ?`,
    ),
    purgeReady: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ? AND state = 'ready'"),
    deleteGroupsOfQueue: q("DELETE FROM fifo_groups WHERE queue_id = ?"),
    nextVisible: q(
      "SELECT MIN(visible_at) AS at FROM messages WHERE queue_id = ? AND state = 'ready' AND visible_at > ?",
    ),
    // The explorer's views of ready messages at @now; it is for looking, not a hot path.
    browse: {
      available: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND visible_at <= @now ORDER BY id LIMIT @limit`,
      ),
      delayed: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND visible_at > @now AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
         ORDER BY id LIMIT @limit`,
      ),
      inFlight: q(
        `SELECT * FROM messages WHERE queue_id = @queue AND tenant_id = @tenant AND state = 'ready'
           AND id > @after AND lease_expires_at > @now ORDER BY id LIMIT @limit`,
      ),
    },
    countInFlight: q(
      `SELECT COUNT(*) AS n FROM messages
       WHERE queue_id = ? AND state = 'ready' AND lease_token IS NOT NULL AND visible_at > ?`,
    ),
    // The oldest of the messages next in line, one per partition and priority:
    // a walk down the delivery-order index that stops at the first visible message.
    oldestNextInLine: q(
      `SELECT MIN((SELECT enqueued_at FROM messages INDEXED BY messages_standard_order
                   WHERE queue_id = @queue AND partition = shard.value AND state = 'ready'
                     AND priority = level.value AND visible_at <= @now
                   ORDER BY priority DESC, sequence LIMIT 1)) AS enqueued_at
       FROM json_each(@partitions) AS shard, json_each('${JSON.stringify(PRIORITY_LEVELS)}') AS level`,
    ),
  };
}

/** Messages: enqueue, the receive loop's candidates and compare-and-set writes, and the views of ready messages. */
export class SqliteMessages {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writes: Committer<Message>,
  ) {
    this.sql = prepare(db);
  }

  /**
   * Inserts new messages, each deduplicated within its partition; runs inside
   * the store's write transaction (topics fan out into queues through it).
   */
  enqueueWithin(queue: Queue, drafts: DraftMessage[]): Enqueued[] {
    const results: Enqueued[] = [];
    // One update reserves the sequence range and counts every message in;
    // duplicates are taken back at the end (and leave gaps ordering ignores).
    const { next_sequence: end } = this.sql.reserveForEnqueue.get({ n: drafts.length, queue: queue.id }) as {
      next_sequence: number;
    };
    let sequence = end - drafts.length;
    let duplicates = 0;
    for (const draft of drafts) {
      const partition = partitionOfMessageId(draft.id);
      if (draft.dedupKey !== null) {
        const existing = this.sql.latestByDedupKey.get(queue.id, partition, draft.dedupKey) as
          | MessageRow
          | undefined;
        if (existing && isDuplicateOf(toMessage(existing), queue, draft.enqueuedAt)) {
          results.push({ message: toMessage(existing), duplicate: true });
          duplicates++;
          continue;
        }
      }
      // Positional parameters: binding by name costs a property lookup each, a row.
      this.sql.insertMessage.run(
        queue.tenantId,
        queue.id,
        draft.id,
        draft.body,
        JSON.stringify(draft.attributes),
        draft.priority,
        draft.groupId,
        sequence,
        draft.dedupKey,
        draft.visibleAt.getTime(),
        draft.enqueuedAt.getTime(),
        draft.expiresAt.getTime(),
        partition,
      );
      if (draft.groupId !== null) this.sql.touchGroup.run(queue.id, draft.groupId, partition);
      const message = enqueuedMessage(queue, draft, sequence++);
      this.writes.record(message);
      results.push({ duplicate: false, message });
    }
    if (duplicates > 0) this.sql.uncountDuplicates.run({ n: duplicates, queue: queue.id });
    return results;
  }

  /** Reserves `count` consecutive sequence numbers for the queue and returns the first; inside a write. */
  takeSequences(queueId: string, count: number): number {
    const { next_sequence: next } = this.sql.takeSequences.get(count, queueId) as { next_sequence: number };
    return next - count;
  }

  async candidates(queue: Queue, partition: number, now: Date, limit: number): Promise<StoredMessage[]> {
    if (queue.ordering !== "fifo") {
      const rows = this.sql.standardCandidates.all(queue.id, partition, now.getTime(), limit) as MessageRow[];
      return rows.map(stored);
    }
    const found: StoredMessage[] = [];
    const drained: string[] = [];
    const groups = this.sql.groupsByService.all(queue.id, partition) as { group_id: string }[];
    for (const { group_id: groupId } of groups) {
      const room = limit - found.length;
      if (room <= 0) break;
      const head = this.sql.groupHead.all(queue.id, partition, groupId, room) as MessageRow[];
      if (head.length === 0) drained.push(groupId);
      const run = fifoRun(head.map(toMessage), now, room);
      found.push(...head.slice(0, run.length).map(stored));
    }
    // A group without ready messages leaves the service order; an enqueue or redrive brings it back.
    if (drained.length > 0) {
      await this.writes.run(() => {
        for (const group of drained) this.sql.deleteDrainedGroup.run({ queue: queue.id, group, partition });
      });
    }
    return found;
  }

  async readMessage(queue: Queue, messageId: string): Promise<StoredMessage | undefined> {
    const row = this.sql.messageById.get(queue.id, messageId, queue.tenantId) as MessageRow | undefined;
    return row && stored(row);
  }

  /** The writes' totals go to the queue's row in one update, not one a message (a settle of 100 acks). */
  write(queue: Queue, writes: MessageWrite[]): Promise<WriteOutcome[]> {
    return this.writes.run(() => {
      let totals = NO_TOTALS;
      const won = writes.map((write): WriteOutcome => {
        const applied = this.applyWrite(queue, write);
        if (applied) totals = addTotals(totals, write.totals);
        return applied ? "written" : "lost";
      });
      this.countTotals(queue, totals);
      return won;
    });
  }

  /** One compare-and-set write with its totals and its change record; inside a write transaction. */
  writeWithin(queue: Queue, write: MessageWrite): boolean {
    const applied = this.applyWrite(queue, write);
    if (applied) this.countTotals(queue, write.totals);
    return applied;
  }

  /** The write without its totals. */
  private applyWrite(queue: Queue, { version, next, servedGroupAt }: MessageWrite): boolean {
    const removeAt = next.ackedAt && tombstoneExpiresAt(next, queue, next.ackedAt).getTime();
    const { changes } = this.sql.write.run(
      next.body,
      JSON.stringify(next.attributes),
      next.sequence,
      next.state,
      next.visibleAt.getTime(),
      next.expiresAt.getTime(),
      next.deliveryCount,
      next.leaseToken,
      next.leaseExpiresAt?.getTime() ?? null,
      next.lastError,
      next.reason,
      next.deadLetteredAt?.getTime() ?? null,
      next.ackedAt?.getTime() ?? null,
      removeAt,
      queue.id,
      next.id,
      Number(version),
    );
    if (changes === 0) return false;
    if (next.groupId !== null) {
      if (servedGroupAt) this.sql.serveGroup.run(servedGroupAt.getTime(), queue.id, next.groupId);
      // A redriven message's group may have left the service order while it was dead.
      if (next.state === "ready")
        this.sql.touchGroup.run(queue.id, next.groupId, partitionOfMessageId(next.id));
    }
    this.writes.record(next);
    return true;
  }

  private countTotals(queue: Queue, totals: TotalsDelta): void {
    if (totals.ackedTotal === 0 && totals.deadLetteredTotal === 0 && totals.redrivenTotal === 0) return;
    this.sql.addTotals.run(totals.ackedTotal, totals.deadLetteredTotal, totals.redrivenTotal, queue.id);
  }

  async getMessage(queue: Queue, messageId: string): Promise<Message | undefined> {
    return (await this.readMessage(queue, messageId))?.message;
  }

  purge(queue: Queue): Promise<number> {
    return this.writes.run(() => {
      const { changes } = this.sql.purgeReady.run(queue.id, queue.tenantId);
      this.sql.deleteGroupsOfQueue.run(queue.id);
      return changes;
    });
  }

  async nextVisibleAt(queue: Queue, now: Date): Promise<Date | undefined> {
    const row = this.sql.nextVisible.get(queue.id, now.getTime()) as { at: number | null };
    return row.at === null ? undefined : new Date(row.at);
  }

  readonly listMessages: QueueStore["listMessages"] = (queue, view, now, page) =>
    readPage(page, BY_ID, ([id], count) => {
      const rows = this.sql.browse[view].all({
        queue: queue.id,
        tenant: queue.tenantId,
        after: id,
        now: now.getTime(),
        limit: count,
      }) as MessageRow[];
      return rows.map(toMessage);
    });

  async countInFlight(queue: Queue, now: Date): Promise<number> {
    return (this.sql.countInFlight.get(queue.id, now.getTime()) as { n: number }).n;
  }

  /** Due and not leased, in delivery order within each partition, the oldest first across them. */
  async dueMessages(queue: Queue, now: Date, limit: number): Promise<Message[]> {
    const due: Message[] = [];
    for (let partition = 0; partition < queue.partitions; partition++) {
      const rows = this.sql.standardCandidates.all(queue.id, partition, now.getTime(), limit) as MessageRow[];
      due.push(...rows.map(toMessage));
    }
    return due.sort((a, b) => a.sequence - b.sequence).slice(0, limit);
  }

  /** When the oldest message next in line (over every partition and priority) was enqueued. */
  oldestAvailableAt(queue: Queue, now: Date): number | null {
    const partitions = JSON.stringify(Array.from({ length: queue.partitions }, (_, index) => index));
    const row = this.sql.oldestNextInLine.get({ queue: queue.id, now: now.getTime(), partitions }) as {
      enqueued_at: number | null;
    };
    return row.enqueued_at;
  }
}

const stored = (row: MessageRow): StoredMessage => ({
  message: toMessage(row),
  version: String(row.version),
});
