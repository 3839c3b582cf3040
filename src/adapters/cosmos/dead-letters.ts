import type { Container } from "@azure/cosmos";
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
import { type MessageDocument, newWriteId, type TaskDocument, toMessage, toTask } from "./documents.js";
import type { CosmosMessages } from "./messages.js";
import { countMessages, deleteWhere, params, queryEach, readItem, retried } from "./queries.js";
import { createOnce, replaceOnce } from "./resilience.js";
import type { HybridLogicalClock } from "./sequence.js";

/**
 * How often recording a chunk's progress reads the task again after another
 * owner changed it first: two owners at most overlap for a lease's length, so
 * a few tries settle it; beyond them the chunk is retried (503).
 */
const MAX_TASK_ATTEMPTS = 5;

const DEAD_LETTER_ORDER = (a: Message, b: Message) =>
  (a.deadLetteredAt?.getTime() ?? 0) - (b.deadLetteredAt?.getTime() ?? 0) ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Dead letters and redrives, over every partition of the queue, and the
 * background redrive tasks (in the queue's partition 0).
 *
 * A task's chunk is three steps: claim the task (compare-and-set on its etag),
 * move each dead letter (compare-and-set on the message's etag), record the
 * progress (compare-and-set again, re-read and retried on a conflict). An
 * instance that dies between the moves and the record leaves those moves
 * uncounted in `redriven`, never undone or repeated: a moved message's new
 * sequence is at or above the task's cutoff, so no chunk selects it again.
 */
export class CosmosDeadLetters {
  constructor(
    private readonly messages: Container,
    private readonly store: CosmosMessages,
    private readonly sequences: HybridLogicalClock,
  ) {}

  countDead(queue: Queue): Promise<number> {
    return countMessages(this.messages, queue, "c.state = 'dead'", {});
  }

  listDeadLetters(queue: Queue, page: PageRequest): Promise<Result<Page<Message>>> {
    return readPage(page, BY_DEAD_LETTERED_AT, async ([at, id], count) => {
      const documents = await queryEach<MessageDocument>(
        this.messages,
        queue,
        `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead' AND c.tenantId = @tenant
           AND (c.deadLetteredAt > @at OR (c.deadLetteredAt = @at AND c.id > @id))
         ORDER BY c.deadLetteredAt ASC, c.id ASC`,
        { n: count, tenant: queue.tenantId, at, id },
      );
      return documents.map(toMessage).sort(DEAD_LETTER_ORDER).slice(0, count);
    });
  }

  /** The oldest dead letters over every partition (with a sequence below `cutoff`, when given). */
  private async oldest(queue: Queue, limit: number, cutoff?: number): Promise<MessageDocument[]> {
    const below = cutoff === undefined ? "" : "AND c.sequence < @cutoff";
    const documents = await queryEach<MessageDocument>(
      this.messages,
      queue,
      `SELECT TOP @n * FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'dead' ${below}
       ORDER BY c.deadLetteredAt ASC, c.id ASC`,
      cutoff === undefined ? { n: limit } : { n: limit, cutoff },
    );
    return documents.sort((a, b) => DEAD_LETTER_ORDER(toMessage(a), toMessage(b))).slice(0, limit);
  }

  async redrive(
    queue: Queue,
    selection: RedriveSelection,
    now: Date,
  ): Promise<{ redriven: number; remaining: number }> {
    const candidates =
      "all" in selection
        ? await this.oldest(queue, selection.limit)
        : await this.readDead(queue, selection.messageIds);
    const redriven = await this.revive(queue, candidates, now, now.getTime());
    const remaining = "all" in selection ? await this.countDead(queue) : 0;
    return { redriven, remaining };
  }

  private async readDead(queue: Queue, ids: string[]): Promise<MessageDocument[]> {
    const found = await Promise.all(ids.map((id) => this.store.readDocument(queue, id)));
    return found.filter((document): document is MessageDocument => document?.state === "dead");
  }

  /** Returns dead letters to the queue, compare-and-set, in one store write; how many moved (not changed or gone first). */
  private async revive(
    queue: Queue,
    documents: MessageDocument[],
    now: Date,
    floorMs: number,
  ): Promise<number> {
    const writes = documents.map((document) => {
      const change = { kind: "redrive" as const, at: now, sequence: this.sequences.next(floorMs) };
      return { version: document._etag ?? "", ...applyChange(toMessage(document), change, queue) };
    });
    // Each fifo group back in its partition's service order, once.
    const groups = new Map<string, { pk: string; groupId: string }>();
    for (const { queueId: pk, groupId } of documents) {
      if (groupId !== null) groups.set(`${pk}\u0000${groupId}`, { pk, groupId });
    }
    for (const { pk, groupId } of groups.values()) await this.store.touchGroup(pk, groupId);
    const won = await this.store.write(queue, writes);
    return won.filter(Boolean).length;
  }

  async purgeDeadLetters(queue: Queue): Promise<number> {
    return (await deleteWhere(this.messages, queue, "AND c.kind = 'message' AND c.state = 'dead'")).length;
  }

  async createRedriveTask(queue: Queue, id: string, claim: RedriveTaskClaim): Promise<RedriveTaskRecord> {
    // Above every sequence the queue holds, even one another instance's clock put ahead of this one's.
    const highest = await queryEach<number>(
      this.messages,
      queue,
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
      remaining: await this.countDead(queue),
      cutoff: Math.max(this.sequences.next(claim.now.getTime()), Math.max(0, ...highest) + 1),
      owner: claim.owner,
      leaseExpiresAt: claim.leaseExpiresAt.getTime(),
      error: null,
      createdAt: claim.now.getTime(),
      updatedAt: claim.now.getTime(),
      writeId: newWriteId(),
    };
    const created = await createOnce(this.messages, document, queue.id);
    if (!created.ok) throw new Error(`redrive task id ${id} is taken`);
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
    const candidates = await this.oldest(queue, limit, claimed.cutoff);
    const floorMs = Math.max(claim.now.getTime(), Math.ceil(claimed.cutoff / 1000));
    const moved = await this.revive(queue, candidates, claim.now, floorMs);
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
    const { resources } = await retried(() =>
      this.messages.items
        .query<TaskDocument>({
          query:
            "SELECT TOP @n * FROM c WHERE c.kind = 'task' AND c.status = 'running' AND c.leaseExpiresAt <= @now",
          parameters: params({ n: limit, now: now.getTime() }),
        })
        .fetchAll(),
    );
    return resources.map(toTask);
  }

  private async readTask(queue: Queue, id: string): Promise<TaskDocument | undefined> {
    if (!id.startsWith("task_")) return undefined;
    const resource = await readItem<TaskDocument>(this.messages, id, queue.id);
    return resource?.kind === "task" && resource.tenantId === queue.tenantId ? resource : undefined;
  }

  /** Replaces the task if its etag still matches (a lost answer resolved by reading back); the written copy, or undefined. */
  private async replaceTask(
    queue: Queue,
    current: TaskDocument,
    next: TaskDocument,
  ): Promise<TaskDocument | undefined> {
    const { _etag: etag, ...body } = next;
    const replaced = await replaceOnce(
      this.messages,
      { ...body, writeId: newWriteId() },
      current._etag ?? "",
      queue.id,
    );
    return replaced.ok ? replaced.resource : undefined;
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
    for (let attempt = 0; attempt < MAX_TASK_ATTEMPTS; attempt++) {
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
}
