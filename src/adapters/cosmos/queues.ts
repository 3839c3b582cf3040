import type { Container } from "@azure/cosmos";
import { fail, ok, type Result } from "../../domain/errors.js";
import type { Queue } from "../../domain/queue.js";
import {
  type Page,
  type PageRequest,
  type QueueStats,
  SAMPLE_RETENTION_MS,
  type StatsSample,
} from "../../service/ports.js";
import { BY_NAME, readPage } from "../shared/pages.js";
import {
  META_ID,
  type MetaDocument,
  pickStats,
  type QueueDocument,
  type SampleDocument,
  type Total,
  toQueue,
  toQueueDocument,
} from "./documents.js";
import {
  countMessages,
  deleteAll,
  deleteWhere,
  partitionKeys,
  query,
  queryEach,
  readItem,
  readTotals,
  retried,
  statusOf,
} from "./queries.js";
import { createOnce } from "./resilience.js";
import type { PendingTotals } from "./totals.js";

/** Tombstones one clean-up pass removes: housekeeping runs often, so a bounded pass keeps each one short. */
const TOMBSTONES_A_PASS = 1000;

/** Queues, their stats (summed over partitions) and stats history, and tombstone clean-up. */
export class CosmosQueues {
  constructor(
    private readonly queues: Container,
    private readonly messages: Container,
    private readonly totals: PendingTotals<Total>,
  ) {}

  async createQueue(queue: Queue): Promise<Result<Queue>> {
    const created = await createOnce(this.queues, toQueueDocument(queue), queue.tenantId);
    if (!created.ok) return fail("conflict", `a queue named "${queue.name}" already exists`);
    // Partition 0's totals exist from the start (stats read them); the others' come with their first change.
    // An upsert of zeros before any message: repeating it changes nothing.
    await retried(() =>
      this.messages.items.upsert<MetaDocument>({
        id: META_ID,
        kind: "meta",
        queueId: queue.id,
        enqueuedTotal: 0,
        ackedTotal: 0,
        deadLetteredTotal: 0,
        redrivenTotal: 0,
      }),
    );
    return ok(queue);
  }

  async getQueue(tenantId: string, name: string): Promise<Queue | undefined> {
    const resource = await readItem<QueueDocument>(this.queues, name, tenantId);
    return resource && toQueue(resource);
  }

  async getQueueById(tenantId: string, queueId: string): Promise<Queue | undefined> {
    const [document] = await query<QueueDocument>(
      this.queues,
      tenantId,
      "SELECT * FROM c WHERE c.tenantId = @pk AND c.queueId = @queueId",
      { queueId },
    );
    return document && toQueue(document);
  }

  listQueues(tenantId: string, page: PageRequest): Promise<Result<Page<Queue>>> {
    return readPage(page, BY_NAME, async ([after], count) => {
      const documents = await query<QueueDocument>(
        this.queues,
        tenantId,
        "SELECT TOP @n * FROM c WHERE c.tenantId = @pk AND c.id > @after ORDER BY c.id",
        { n: count, after },
      );
      return documents.map(toQueue);
    });
  }

  async updateQueue(queue: Queue): Promise<void> {
    // Last writer wins, as before: the same document replaced again is the same outcome.
    await retried(() => this.queues.item(queue.name, queue.tenantId).replace(toQueueDocument(queue)));
  }

  async deleteQueue(queue: Queue): Promise<void> {
    this.totals.forget(partitionKeys(queue));
    try {
      await retried(() => this.queues.item(queue.name, queue.tenantId).delete());
    } catch (error) {
      // A retry after a lost answer finds it gone: deleted all the same (the messages still go below).
      if (statusOf(error) !== 404) throw error;
    }
    await deleteWhere(this.messages, queue, "");
  }

  /** Crosses partitions: only the push dispatcher's sweep calls it, never a request. */
  async listPushQueues(): Promise<Queue[]> {
    const { resources } = await retried(() =>
      this.queues.items
        .query<QueueDocument>("SELECT * FROM c WHERE IS_DEFINED(c.push) AND NOT IS_NULL(c.push)")
        .fetchAll(),
    );
    return resources.map(toQueue);
  }

  async stats(queue: Queue, now: Date): Promise<QueueStats> {
    const at = { now: now.getTime() };
    // What this process counted and has not sent yet: its own answers are then all in the totals read below.
    await this.totals.flush(partitionKeys(queue));
    const [available, delayed, inFlight, deadLettered, oldest, totals] = await Promise.all([
      countMessages(this.messages, queue, "c.state = 'ready' AND c.visibleAt <= @now", at),
      countMessages(
        this.messages,
        queue,
        "c.state = 'ready' AND c.visibleAt > @now AND IS_NULL(c.leaseToken)",
        at,
      ),
      countMessages(
        this.messages,
        queue,
        "c.state = 'ready' AND c.visibleAt > @now AND NOT IS_NULL(c.leaseToken)",
        at,
      ),
      countMessages(this.messages, queue, "c.state = 'dead'", {}),
      queryEach<number | undefined>(
        this.messages,
        queue,
        "SELECT VALUE MIN(c.enqueuedAt) FROM c WHERE c.queueId = @pk AND c.kind = 'message' AND c.state = 'ready' AND c.visibleAt <= @now",
        at,
      ),
      readTotals(this.messages, queue),
    ]);
    const oldestAts = oldest.filter((value): value is number => typeof value === "number");
    return {
      available,
      delayed,
      inFlight,
      deadLettered,
      oldestAvailableAgeSeconds:
        oldestAts.length > 0 ? Math.max(0, Math.floor((now.getTime() - Math.min(...oldestAts)) / 1000)) : 0,
      ...totals,
    };
  }

  async recordSample(queue: Queue, sample: StatsSample): Promise<void> {
    const { at, ...stats } = sample;
    // Two instances sampling the same moment write one document: its id is the time.
    await retried(() =>
      this.messages.items.upsert<SampleDocument>({
        ...stats,
        id: `sample:${at.getTime()}`,
        kind: "sample",
        queueId: queue.id,
        tenantId: queue.tenantId,
        at: at.getTime(),
        ttl: SAMPLE_RETENTION_MS / 1000,
      }),
    );
  }

  async samples(queue: Queue, since: Date): Promise<StatsSample[]> {
    const documents = await query<SampleDocument>(
      this.messages,
      queue.id,
      `SELECT * FROM c WHERE c.queueId = @pk AND c.kind = 'sample' AND c.tenantId = @tenant
         AND c.at >= @since ORDER BY c.at ASC`,
      { tenant: queue.tenantId, since: since.getTime() },
    );
    return documents.map((document) => ({ at: new Date(document.at), ...pickStats(document) }));
  }

  /**
   * On Cosmos DB the per-item TTL removes acked tombstones; this catches any
   * the TTL has not reached yet (and is the only clean-up where TTL is not
   * enforced, as on the local test server). It queries across partitions:
   * housekeeping, never the hot path. `queueId` is each tombstone's partition key.
   */
  async removeExpiredTombstones(now: Date): Promise<number> {
    const { resources } = await retried(() =>
      this.messages.items
        .query<{ id: string; queueId: string }>({
          query: `SELECT TOP ${TOMBSTONES_A_PASS} c.id, c.queueId FROM c WHERE c.kind = 'message' AND c.state = 'acked' AND c.removeAt <= @now`,
          parameters: [{ name: "@now", value: now.getTime() }],
        })
        .fetchAll(),
    );
    for (const { id, queueId } of resources) await deleteAll(this.messages, queueId, [id]);
    return resources.length;
  }
}
