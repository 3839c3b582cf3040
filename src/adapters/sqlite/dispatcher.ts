import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3, { type Database } from "better-sqlite3";
import type { Logger } from "../../logger.js";
import { type Dispatcher, type PushJob, pushJobId } from "../../service/ports.js";

interface JobRow {
  id: string;
  tenant_id: string;
  queue_id: string;
  message_id: string;
  delivery_count: number;
  due_at: number;
}

/** The push job handler; it schedules again, on this dispatcher, whatever must run later. */
export type RunJob = (job: PushJob) => Promise<unknown>;

/**
 * The local host's push dispatcher: jobs in their own SQLite file (WAL,
 * `synchronous=FULL`), run in due order by the same job handler the Service
 * Bus function runs. A job leaves the table only after its handler finished,
 * so jobs cut short by a crash run again after the restart. Scheduling an
 * attempt that already has a job does nothing (the ids are per attempt).
 */
export class SqliteDispatcher implements Dispatcher {
  private readonly db: Database;
  private readonly running = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private run: RunJob | undefined;

  constructor(
    dataDir: string,
    private readonly logger: Logger,
    private readonly options: { maxParallel: number; idlePollMs: number } = {
      maxParallel: 64,
      idlePollMs: 1000,
    },
  ) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new BetterSqlite3(join(dataDir, "dispatcher.db"));
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS push_jobs (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        delivery_count INTEGER NOT NULL,
        due_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS push_jobs_by_due_time ON push_jobs (due_at);
    `);
  }

  async schedule(jobs: PushJob[]): Promise<void> {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO push_jobs (id, tenant_id, queue_id, message_id, delivery_count, due_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const job of jobs) {
        insert.run(
          pushJobId(job),
          job.tenantId,
          job.queueId,
          job.messageId,
          job.deliveryCount,
          job.dueAt.getTime(),
        );
      }
    })();
    this.wake();
  }

  /** Starts running due jobs with `run`, the push job handler. */
  start(run: RunJob): void {
    this.run = run;
    this.stopped = false;
    this.wake();
  }

  /** Stops taking jobs and waits for those running; their rows stay if they did not finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
    if (this.db.open) this.db.close();
  }

  private wake(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), 0);
  }

  private tick(): void {
    if (this.stopped || !this.run) return;
    const now = Date.now();
    const free = this.options.maxParallel - this.running.size;
    const rows =
      free > 0
        ? (this.db
            .prepare("SELECT * FROM push_jobs WHERE due_at <= ? ORDER BY due_at LIMIT ?")
            .all(now, free + this.running.size) as JobRow[])
        : [];
    for (const row of rows) {
      if (this.running.has(row.id) || this.running.size >= this.options.maxParallel) continue;
      this.running.add(row.id);
      const work = this.execute(row).finally(() => {
        this.running.delete(row.id);
        this.inFlight.delete(work);
        this.wake();
      });
      this.inFlight.add(work);
    }
    const next = this.db.prepare("SELECT MIN(due_at) AS at FROM push_jobs").get() as { at: number | null };
    const waitMs =
      next.at === null
        ? this.options.idlePollMs
        : Math.min(this.options.idlePollMs, Math.max(5, next.at - now));
    this.timer = setTimeout(() => this.tick(), waitMs);
  }

  private async execute(row: JobRow): Promise<void> {
    const job: PushJob = {
      tenantId: row.tenant_id,
      queueId: row.queue_id,
      messageId: row.message_id,
      deliveryCount: row.delivery_count,
      dueAt: new Date(row.due_at),
    };
    try {
      await (this.run as RunJob)(job);
      if (this.db.open) this.db.prepare("DELETE FROM push_jobs WHERE id = ?").run(row.id);
    } catch (error) {
      // The row stays and is retried shortly: a failing store must not lose a delivery.
      this.logger.warn("push job failed; retrying", { messageId: row.message_id, error: String(error) });
      if (this.db.open)
        this.db.prepare("UPDATE push_jobs SET due_at = ? WHERE id = ?").run(Date.now() + 1000, row.id);
    }
  }
}
