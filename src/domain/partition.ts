import { fail, ok, type Result } from "./errors.js";
import { LIMITS } from "./limits.js";
import type { Queue } from "./queue.js";

/**
 * Sharded queues. A queue spreads its messages over `partitions` shards, each
 * its own logical partition on Cosmos DB (so one queue is not capped at one
 * partition's throughput) and its own index range on SQLite.
 *
 * Which shard a new message goes to:
 * - fifo: a stable hash of its group, so a group lives in one shard and its
 *   order holds (fifo queues cannot change `partitions`, so the hash never moves);
 * - with a deduplication key: a stable hash of the key, so a repeat lands
 *   where the original is and is found there. Deduplication is checked within
 *   the shard only: on fifo queues its scope is effectively the message group,
 *   as SQS high-throughput FIFO documents `deduplicationScope: messageGroup`.
 *   Growing a standard queue's `partitions` moves where a key hashes to, so a
 *   repeat sent inside the window across a growth may be accepted again;
 * - else spread at random.
 *
 * Delivery order: priority is strict within a shard and best effort across
 * shards, and fifo order holds per group.
 *
 * The shard is part of the message id (`messageIdIn`), so reading a message by
 * id needs no search. Ids of shard 0 carry no mark: every message stored before
 * queues were sharded is in shard 0 and keeps its id.
 */
export function partitionFor(
  queue: Pick<Queue, "ordering" | "partitions">,
  message: { groupId: string | null; dedupKey: string | null },
  random: () => number,
): number {
  const count = queue.partitions;
  if (count <= 1) return 0;
  if (queue.ordering === "fifo") return stableHash(message.groupId ?? LIMITS.groupId.default) % count;
  if (message.dedupKey !== null) return stableHash(message.dedupKey) % count;
  return Math.min(count - 1, Math.floor(random() * count));
}

/** Separates a message id from its shard; no character a UUID uses. */
const SHARD_MARK = "~";

export function messageIdIn(baseId: string, partition: number): string {
  return partition === 0 ? baseId : `${baseId}${SHARD_MARK}${partition}`;
}

/** The shard a message id names; 0 for an unmarked id or one no store issued (which then is simply not found). */
export function partitionOfMessageId(id: string): number {
  const mark = id.lastIndexOf(SHARD_MARK);
  if (mark < 0) return 0;
  const digits = id.slice(mark + 1);
  if (!/^[1-9][0-9]?$/.test(digits)) return 0;
  const partition = Number(digits);
  return partition < LIMITS.partitions.max ? partition : 0;
}

/** 32-bit FNV-1a over UTF-16 code units: stable across processes and versions, which is all a shard needs. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A queue's `partitions` may be set at creation; a standard queue may grow it later, never shrink it. */
export function checkPartitionsChange(current: Queue, next: number): Result<number> {
  if (next === current.partitions) return ok(next);
  if (current.ordering === "fifo") {
    return refused("a fifo queue's partitions are fixed at creation: its groups are hashed to them");
  }
  if (next < current.partitions) {
    return refused(`partitions can only grow (from ${current.partitions}): messages live in every shard`);
  }
  return ok(next);
}

const refused = (message: string) =>
  fail("validation_failed", message, { errors: [{ path: "partitions", message }] });
