import type { Database } from "better-sqlite3";

/**
 * Schema migrations, applied in order at open; `PRAGMA user_version` records
 * how many ran. Append only: a released migration is never edited.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE queues (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ordering TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_sequence INTEGER NOT NULL DEFAULT 1,
    enqueued_total INTEGER NOT NULL DEFAULT 0,
    acked_total INTEGER NOT NULL DEFAULT 0,
    dead_lettered_total INTEGER NOT NULL DEFAULT 0,
    redriven_total INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, name)
  );

  CREATE TABLE messages (
    pk INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    priority INTEGER NOT NULL,
    group_id TEXT,
    sequence INTEGER NOT NULL,
    dedup_key TEXT,
    state TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_expires_at INTEGER,
    last_error TEXT,
    reason TEXT,
    dead_lettered_at INTEGER,
    acked_at INTEGER,
    remove_at INTEGER
  );
  CREATE UNIQUE INDEX messages_by_id ON messages (queue_id, id);
  -- Receive on standard queues walks this index in delivery order; visible_at
  -- is in it so in-flight and delayed messages are skipped without reading rows.
  CREATE INDEX messages_standard_order ON messages (queue_id, priority DESC, sequence, visible_at) WHERE state = 'ready';
  CREATE INDEX messages_fifo_order ON messages (queue_id, group_id, sequence) WHERE state = 'ready';
  CREATE INDEX messages_dead_letters ON messages (queue_id, dead_lettered_at, id) WHERE state = 'dead';
  CREATE INDEX messages_dedup ON messages (queue_id, dedup_key, enqueued_at) WHERE dedup_key IS NOT NULL;
  CREATE INDEX messages_tombstones ON messages (remove_at) WHERE state = 'acked';

  -- Fifo groups with ready messages, and when each was last served, for fair receives.
  CREATE TABLE fifo_groups (
    queue_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    served_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, group_id)
  ) WITHOUT ROWID;
  CREATE INDEX fifo_groups_by_service ON fifo_groups (queue_id, served_at, group_id);

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    grants TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);
  `,
  // Stats in time independent of depth: counting a million ready rows blocked
  // the event loop for a large fraction of a second. The ready count is kept
  // by enqueue (one update a call, not a trigger a row: the hot path) and by
  // triggers on every other path that changes a message's state; an index
  // holding only what is not visible yet (in flight or delayed) counts the rest.
  `
  ALTER TABLE queues ADD COLUMN ready_count INTEGER NOT NULL DEFAULT 0;
  UPDATE queues SET ready_count = (SELECT COUNT(*) FROM messages WHERE queue_id = queues.id AND state = 'ready');
  CREATE TRIGGER messages_ready_deleted AFTER DELETE ON messages WHEN old.state = 'ready'
  BEGIN UPDATE queues SET ready_count = ready_count - 1 WHERE id = old.queue_id; END;
  CREATE TRIGGER messages_ready_changed AFTER UPDATE OF state ON messages
    WHEN (old.state = 'ready') <> (new.state = 'ready')
  BEGIN
    UPDATE queues SET ready_count = ready_count + (CASE WHEN new.state = 'ready' THEN 1 ELSE -1 END)
    WHERE id = new.queue_id;
  END;
  -- Only rows that can be invisible: leased, delayed or backed off. A message
  -- enqueued for now is neither, so the hot insert path skips this index.
  CREATE INDEX messages_by_visibility ON messages (queue_id, visible_at, lease_token IS NOT NULL)
    WHERE state = 'ready' AND (lease_token IS NOT NULL OR visible_at > enqueued_at);
  -- Standard queues' messages have no group: out of the fifo index, one index update less an enqueue.
  DROP INDEX messages_fifo_order;
  CREATE INDEX messages_fifo_order ON messages (queue_id, group_id, sequence) WHERE state = 'ready' AND group_id IS NOT NULL;
  `,
  // Redrive tasks outlive the process that started them: a restart resumes them (RedriveTaskRecord in src/service/ports.ts).
  `
  CREATE TABLE redrive_tasks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    status TEXT NOT NULL,
    redriven INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    cutoff INTEGER NOT NULL,
    owner TEXT NOT NULL,
    lease_expires_at INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX redrive_tasks_running ON redrive_tasks (lease_expires_at) WHERE status = 'running';
  CREATE INDEX redrive_tasks_finished ON redrive_tasks (updated_at) WHERE status <> 'running';
  `,
  // A queue's stats history for the console's charts: one row a sample, the last hour kept.
  `
  CREATE TABLE queue_samples (
    queue_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (queue_id, at)
  ) WITHOUT ROWID;
  `,
  // Sharded queues (src/domain/partition.ts) and compare-and-set writes from the
  // service's receive loop: every message belongs to one partition (0 for all
  // that existed before), every write bumps its version, and the indexes that a
  // receive or a dedup look-up walks lead with the partition.
  `
  ALTER TABLE messages ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE fifo_groups ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
  DROP INDEX messages_standard_order;
  CREATE INDEX messages_standard_order ON messages (queue_id, partition, priority DESC, sequence, visible_at) WHERE state = 'ready';
  DROP INDEX messages_fifo_order;
  CREATE INDEX messages_fifo_order ON messages (queue_id, partition, group_id, sequence) WHERE state = 'ready' AND group_id IS NOT NULL;
  DROP INDEX messages_dedup;
  CREATE INDEX messages_dedup ON messages (queue_id, partition, dedup_key, enqueued_at) WHERE dedup_key IS NOT NULL;
  DROP INDEX fifo_groups_by_service;
  CREATE INDEX fifo_groups_by_service ON fifo_groups (queue_id, partition, served_at, group_id);
  `,
  // Topics (src/adapters/sqlite/topics.ts): a publish and its copies commit in one transaction.
  `
  CREATE TABLE topics (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_sequence INTEGER NOT NULL DEFAULT 1,
    published_total INTEGER NOT NULL DEFAULT 0,
    delivered_total INTEGER NOT NULL DEFAULT 0,
    filtered_total INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, name)
  );
  CREATE TABLE subscriptions (
    topic_id TEXT NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    filter TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_total INTEGER NOT NULL DEFAULT 0,
    undeliverable_total INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (topic_id, name)
  ) WITHOUT ROWID;
  CREATE TABLE topic_messages (
    topic_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    dedup_key TEXT,
    published_at INTEGER NOT NULL,
    content TEXT NOT NULL,
    copies TEXT NOT NULL,
    pending TEXT NOT NULL,
    pending_count INTEGER NOT NULL,
    filtered INTEGER NOT NULL,
    remove_at INTEGER NOT NULL,
    PRIMARY KEY (topic_id, sequence)
  );
  CREATE INDEX topic_messages_dedup ON topic_messages (topic_id, dedup_key, published_at) WHERE dedup_key IS NOT NULL;
  CREATE INDEX topic_messages_pending ON topic_messages (published_at) WHERE pending_count > 0;
  CREATE INDEX topic_messages_expiry ON topic_messages (remove_at) WHERE pending_count = 0;
  `,
];

export function migrate(db: Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the database schema is version ${current}, newer than this build knows (${MIGRATIONS.length}); upgrade Conveyor`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
