import type { Database, Statement } from "better-sqlite3";
import type { Message } from "../../domain/message.js";
import type { Queue } from "../../domain/queue.js";
import { type QueueStats, SAMPLE_RETENTION_MS, type StatsSample } from "../../service/ports.js";
import type { SqliteDeadLetters } from "./dead-letters.js";
import type { Committer } from "./group-commit.js";
import type { SqliteMessages } from "./messages.js";

/**
 * Tombstones one write removes. One 10,000-row delete held the event loop for
 * about a tenth of a second; chunks of 500 each wait their turn among the requests.
 */
const TOMBSTONES_A_WRITE = 500;

function prepare(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    totals: q(
      "SELECT ready_count, enqueued_total, acked_total, dead_lettered_total, redriven_total FROM queues WHERE id = ?",
    ),
    // Only rows not visible yet: in flight or delayed, covered by messages_by_visibility.
    // Its condition is restated for the planner; every invisible row meets it,
    // since visible_at > now >= enqueued_at for any row without a lease.
    invisibleCounts: q(
      `SELECT COUNT(*) AS invisible, SUM(lease_token IS NOT NULL) AS in_flight
       FROM messages INDEXED BY messages_by_visibility
       WHERE queue_id = ? AND state = 'ready' AND (lease_token IS NOT NULL OR visible_at > enqueued_at)
         AND visible_at > ?`,
    ),
    insertSample: q(
      "INSERT OR REPLACE INTO queue_samples (queue_id, at, tenant_id, stats) VALUES (?, ?, ?, ?)",
    ),
    forgetSamples: q("DELETE FROM queue_samples WHERE queue_id = ? AND at < ?"),
    samplesSince: q(
      "SELECT at, stats FROM queue_samples WHERE queue_id = ? AND tenant_id = ? AND at >= ? ORDER BY at",
    ),
    removeTombstones: q(
      `DELETE FROM messages WHERE pk IN (
         SELECT pk FROM messages INDEXED BY messages_tombstones WHERE state = 'acked' AND remove_at <= ? LIMIT ?)`,
    ),
  };
}

/** A queue's stats (over all its partitions), their history for the console, and tombstone clean-up. */
export class SqliteStats {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writes: Committer<Message>,
    private readonly messages: SqliteMessages,
    private readonly deadLetters: SqliteDeadLetters,
  ) {
    this.sql = prepare(db);
  }

  async stats(queue: Queue, now: Date): Promise<QueueStats> {
    const at = now.getTime();
    const invisible = this.sql.invisibleCounts.get(queue.id, at) as {
      invisible: number;
      in_flight: number | null;
    };
    const oldest = this.messages.oldestAvailableAt(queue, now);
    const totals = this.sql.totals.get(queue.id) as {
      ready_count: number;
      enqueued_total: number;
      acked_total: number;
      dead_lettered_total: number;
      redriven_total: number;
    };
    const inFlight = invisible.in_flight ?? 0;
    return {
      available: totals.ready_count - invisible.invisible,
      delayed: invisible.invisible - inFlight,
      inFlight,
      deadLettered: this.deadLetters.countDead(queue),
      oldestAvailableAgeSeconds: oldest === null ? 0 : Math.max(0, Math.floor((at - oldest) / 1000)),
      enqueuedTotal: totals.enqueued_total,
      ackedTotal: totals.acked_total,
      deadLetteredTotal: totals.dead_lettered_total,
      redrivenTotal: totals.redriven_total,
    };
  }

  recordSample(queue: Queue, sample: StatsSample): Promise<void> {
    const { at, ...stats } = sample;
    return this.writes.run(() => {
      this.sql.insertSample.run(queue.id, at.getTime(), queue.tenantId, JSON.stringify(stats));
      this.sql.forgetSamples.run(queue.id, at.getTime() - SAMPLE_RETENTION_MS);
    });
  }

  async samples(queue: Queue, since: Date): Promise<StatsSample[]> {
    const rows = this.sql.samplesSince.all(queue.id, queue.tenantId, since.getTime()) as {
      at: number;
      stats: string;
    }[];
    return rows.map((row) => ({ at: new Date(row.at), ...(JSON.parse(row.stats) as QueueStats) }));
  }

  async removeExpiredTombstones(now: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const chunk = await this.writes.run(
        () => this.sql.removeTombstones.run(now.getTime(), TOMBSTONES_A_WRITE).changes,
      );
      removed += chunk;
      if (chunk < TOMBSTONES_A_WRITE) return removed;
    }
  }
}
