import type { Database, Statement } from "better-sqlite3";
import type { Result } from "../../domain/errors.js";
import type { Message } from "../../domain/message.js";
import type { Queue } from "../../domain/queue.js";
import { redriveProgress } from "../../domain/redrive.js";
import { applyChange } from "../../domain/transition.js";
import {
  FINISHED_TASK_RETENTION_SECONDS,
  type Page,
  type PageRequest,
  type RedriveSelection,
  type RedriveTaskClaim,
  type RedriveTaskRecord,
} from "../../service/ports.js";
import { BY_DEAD_LETTERED_AT, readPage } from "../shared/pages.js";
import type { Committer } from "./group-commit.js";
import type { SqliteMessages } from "./messages.js";
import { type MessageRow, type TaskRow, toMessage, toTask } from "./rows.js";

function prepare(db: Database) {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    messageById: q("SELECT * FROM messages WHERE queue_id = ? AND id = ? AND tenant_id = ?"),
    deadLetters: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND tenant_id = ? AND state = 'dead'
         AND (dead_lettered_at > ? OR (dead_lettered_at = ? AND id > ?))
       ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    oldestDeadLetters: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND state = 'dead' ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    deadLettersBelow: q(
      `SELECT * FROM messages INDEXED BY messages_dead_letters
       WHERE queue_id = ? AND state = 'dead' AND sequence < ? ORDER BY dead_lettered_at, id LIMIT ?`,
    ),
    countDead: q("SELECT COUNT(*) AS n FROM messages WHERE queue_id = ? AND state = 'dead'"),
    purgeDead: q("DELETE FROM messages WHERE queue_id = ? AND tenant_id = ? AND state = 'dead'"),
    nextSequence: q("SELECT next_sequence FROM queues WHERE id = ?"),
    insertTask: q(
      `INSERT INTO redrive_tasks (id, tenant_id, queue_id, status, redriven, remaining, cutoff, owner,
         lease_expires_at, error, created_at, updated_at)
       VALUES (@id, @tenant_id, @queue_id, @status, @redriven, @remaining, @cutoff, @owner,
         @lease_expires_at, @error, @created_at, @updated_at)`,
    ),
    taskById: q("SELECT * FROM redrive_tasks WHERE id = ? AND queue_id = ? AND tenant_id = ?"),
    updateTask: q(
      `UPDATE redrive_tasks SET status = @status, redriven = @redriven, remaining = @remaining, owner = @owner,
         lease_expires_at = @lease_expires_at, updated_at = @updated_at
       WHERE id = @id AND queue_id = @queue_id AND tenant_id = @tenant_id`,
    ),
    failTask: q(
      `UPDATE redrive_tasks SET status = 'failed', error = ?, updated_at = ?
       WHERE id = ? AND queue_id = ? AND owner = ? AND status = 'running'`,
    ),
    orphanedTasks: q(
      `SELECT * FROM redrive_tasks INDEXED BY redrive_tasks_running
       WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?`,
    ),
    forgetFinishedTasks: q(
      "DELETE FROM redrive_tasks INDEXED BY redrive_tasks_finished WHERE status <> 'running' AND updated_at < ?",
    ),
  };
}

/** Dead letters, redrives and the background redrive tasks: one write transaction a chunk. */
export class SqliteDeadLetters {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writes: Committer<Message>,
    private readonly messages: SqliteMessages,
  ) {
    this.sql = prepare(db);
  }

  countDead(queue: Queue): number {
    return (this.sql.countDead.get(queue.id) as { n: number }).n;
  }

  listDeadLetters(queue: Queue, page: PageRequest): Promise<Result<Page<Message>>> {
    return readPage(page, BY_DEAD_LETTERED_AT, ([at, id], count) => {
      const rows = this.sql.deadLetters.all(queue.id, queue.tenantId, at, at, id, count) as MessageRow[];
      return rows.map(toMessage);
    });
  }

  redrive(
    queue: Queue,
    selection: RedriveSelection,
    now: Date,
  ): Promise<{ redriven: number; remaining: number }> {
    return this.writes.run(() => {
      const rows =
        "all" in selection
          ? (this.sql.oldestDeadLetters.all(queue.id, selection.limit) as MessageRow[])
          : selection.messageIds
              .map((id) => this.sql.messageById.get(queue.id, id, queue.tenantId) as MessageRow | undefined)
              .filter((row): row is MessageRow => row?.state === "dead");
      this.redriveRows(queue, rows, now);
      const remaining = "all" in selection ? this.countDead(queue) : 0;
      return { redriven: rows.length, remaining };
    });
  }

  /** Runs inside a write transaction, so every compare-and-set write wins. */
  private redriveRows(queue: Queue, rows: MessageRow[], now: Date): void {
    let sequence = this.messages.takeSequences(queue.id, rows.length);
    for (const row of rows) {
      const { next, totals } = applyChange(
        toMessage(row),
        { kind: "redrive", at: now, sequence: sequence++ },
        queue,
      );
      this.messages.writeWithin(queue, { version: String(row.version), next, totals });
    }
  }

  purgeDeadLetters(queue: Queue): Promise<number> {
    return this.writes.run(() => this.sql.purgeDead.run(queue.id, queue.tenantId).changes);
  }

  createRedriveTask(queue: Queue, id: string, claim: RedriveTaskClaim): Promise<RedriveTaskRecord> {
    return this.writes.run(() => {
      this.sql.forgetFinishedTasks.run(claim.now.getTime() - FINISHED_TASK_RETENTION_SECONDS * 1000);
      // Every message of the queue has a sequence below the next one, and every redrive takes a new one above it.
      const { next_sequence: cutoff } = this.sql.nextSequence.get(queue.id) as { next_sequence: number };
      const row: TaskRow = {
        id,
        tenant_id: queue.tenantId,
        queue_id: queue.id,
        status: "running",
        redriven: 0,
        remaining: this.countDead(queue),
        cutoff,
        owner: claim.owner,
        lease_expires_at: claim.leaseExpiresAt.getTime(),
        error: null,
        created_at: claim.now.getTime(),
        updated_at: claim.now.getTime(),
      };
      this.sql.insertTask.run(row);
      return toTask(row);
    });
  }

  async getRedriveTask(queue: Queue, id: string): Promise<RedriveTaskRecord | undefined> {
    const row = this.sql.taskById.get(id, queue.id, queue.tenantId) as TaskRow | undefined;
    return row && toTask(row);
  }

  advanceRedriveTask(
    queue: Queue,
    id: string,
    claim: RedriveTaskClaim,
    limit: number,
  ): Promise<RedriveTaskRecord | undefined> {
    return this.writes.run(() => {
      const task = this.sql.taskById.get(id, queue.id, queue.tenantId) as TaskRow | undefined;
      if (task?.status !== "running") return undefined;
      if (task.owner !== claim.owner && task.lease_expires_at > claim.now.getTime()) return undefined;
      const rows = this.sql.deadLettersBelow.all(queue.id, task.cutoff, limit) as MessageRow[];
      this.redriveRows(queue, rows, claim.now);
      const next: TaskRow = {
        ...task,
        ...redriveProgress(task, rows.length, rows.length < limit),
        owner: claim.owner,
        lease_expires_at: claim.leaseExpiresAt.getTime(),
        updated_at: claim.now.getTime(),
      };
      this.sql.updateTask.run(next);
      return toTask(next);
    });
  }

  failRedriveTask(queue: Queue, id: string, owner: string, error: string, now: Date): Promise<void> {
    return this.writes.run(() => {
      this.sql.failTask.run(error, now.getTime(), id, queue.id, owner);
    });
  }

  async orphanedRedriveTasks(now: Date, limit: number): Promise<RedriveTaskRecord[]> {
    return (this.sql.orphanedTasks.all(now.getTime(), limit) as TaskRow[]).map(toTask);
  }
}
