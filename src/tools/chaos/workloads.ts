import type { ConveyorClient, QueueStatsView } from "../../client/index.js";
import { type ChaosReport, check, type DeliveryRecord, type SendRecord } from "./check.js";

/**
 * What the crash harness writes and how it checks it: straight to two queues
 * (the default), or through a topic to three subscription queues (`--topics`).
 */
export interface Workload {
  /** The queues consumers drain; in a fifo one each group's order is checked. */
  queues: { name: string; fifo: boolean }[];
  setup(client: ConveyorClient): Promise<void>;
  /** Producer `producer`'s operation number `seq`: each fifo group belongs to one producer, in seq order. */
  next(producer: number, seq: number): SendRecord;
  /** One attempt; throws what the client threw. Returns the message id the answer named. */
  send(client: ConveyorClient, record: SendRecord): Promise<string>;
  /** After the drain, while the hosts still run: reads the counters and classifies every message. */
  check(
    client: ConveyorClient,
    kills: number,
    sends: Map<string, SendRecord>,
    deliveries: DeliveryRecord[],
  ): Promise<ChaosReport>;
}

/** A lease short enough that the drain after the last kill is quick. */
export const VISIBILITY_SECONDS = 3;
const queueSettings = { visibilityTimeoutSeconds: VISIBILITY_SECONDS, maxDeliveries: 1000 };

const body = (record: SendRecord) => ({ id: record.id, seq: record.seq, group: record.group ?? null });

const totalsOf = (stats: QueueStatsView[]) => ({
  enqueuedTotal: stats.reduce((sum, s) => sum + s.enqueuedTotal, 0),
  ackedTotal: stats.reduce((sum, s) => sum + s.ackedTotal, 0),
});

/** Odd operations go to the fifo queue, in the producer's own group; even ones to the standard queue. */
export function queueWorkload(): Workload {
  const standard = "chaos-standard";
  const fifo = "chaos-fifo";
  return {
    queues: [
      { name: standard, fifo: false },
      { name: fifo, fifo: true },
    ],
    async setup(client) {
      await client.createQueue({ name: standard, ...queueSettings });
      await client.createQueue({ name: fifo, ordering: "fifo", ...queueSettings });
    },
    next(producer, seq) {
      const inFifo = seq % 2 === 1;
      return {
        id: `p${producer}-${seq}`,
        target: inFifo ? fifo : standard,
        ...(inFifo ? { group: `g${producer}` } : {}),
        seq,
        outcomes: [],
        messageIds: new Set(),
      };
    },
    async send(client, record) {
      const sent = await client.send(record.target, {
        body: body(record),
        deduplicationId: record.id,
        ...(record.group ? { groupId: record.group } : {}),
      });
      return sent.messageId;
    },
    async check(client, kills, sends, deliveries) {
      const stats = await Promise.all([client.stats(standard), client.stats(fifo)]);
      return check(kills, sends, deliveries, totalsOf(stats));
    },
  };
}

const TOPIC = "chaos-topic";

/**
 * The topic's subscriptions, each with the harness's own reading of its
 * filter (a reference written apart from src/domain/filter.ts): every one of
 * them must hold exactly the acknowledged publishes that match.
 */
const SUBSCRIPTIONS = [
  { name: "all", queue: "chaos-topic-all", fifo: false, filter: undefined, matches: () => true },
  { name: "ordered", queue: "chaos-topic-fifo", fifo: true, filter: undefined, matches: () => true },
  {
    name: "some",
    queue: "chaos-topic-some",
    fifo: false,
    filter: { attributes: { kind: ["match"] } },
    matches: (record: SendRecord) => record.attributes?.kind === "match",
  },
];

/**
 * Every operation is a publish in the producer's own group; one in three
 * carries `kind: match`, which the filtered subscription asks for.
 */
export function topicWorkload(): Workload {
  return {
    queues: SUBSCRIPTIONS.map(({ queue, fifo }) => ({ name: queue, fifo })),
    async setup(client) {
      await client.topics.create({ name: TOPIC });
      for (const subscription of SUBSCRIPTIONS) {
        await client.createQueue({
          name: subscription.queue,
          ...(subscription.fifo ? { ordering: "fifo" as const } : {}),
          ...queueSettings,
        });
        await client.topics.subscribe(TOPIC, subscription.name, {
          queue: subscription.queue,
          ...(subscription.filter ? { filter: subscription.filter } : {}),
        });
      }
    },
    next(producer, seq) {
      return {
        id: `p${producer}-${seq}`,
        target: TOPIC,
        group: `g${producer}`,
        seq,
        attributes: { kind: seq % 3 === 0 ? "match" : "other" },
        outcomes: [],
        messageIds: new Set(),
      };
    },
    async send(client, record) {
      const published = await client.topics.publish(TOPIC, {
        body: body(record),
        deduplicationId: record.id,
        ...(record.attributes ? { attributes: record.attributes } : {}),
        ...(record.group ? { groupId: record.group } : {}),
      });
      return published.messageId;
    },
    async check(client, kills, sends, deliveries) {
      const topic = await client.topics.get(TOPIC);
      const totals = new Map<string, { enqueuedTotal: number; ackedTotal: number }>();
      for (const { queue } of SUBSCRIPTIONS) totals.set(queue, totalsOf([await client.stats(queue)]));
      return checkTopic(kills, sends, deliveries, totals, topic);
    },
  };
}

/** Each subscription queue against the acknowledged publishes its filter matches, then all of them as one. */
export function checkTopic(
  kills: number,
  sends: Map<string, SendRecord>,
  deliveries: DeliveryRecord[],
  totals: Map<string, { enqueuedTotal: number; ackedTotal: number }>,
  topic: TopicDetail,
): ChaosReport {
  const reports = new Map<string, ChaosReport>();
  for (const subscription of SUBSCRIPTIONS) {
    const owed = new Map([...sends].filter(([, record]) => subscription.matches(record)));
    const received = deliveries.filter((delivery) => delivery.queue === subscription.queue);
    reports.set(subscription.name, check(kills, owed, received, totals.get(subscription.queue)));
  }
  return topicReport(kills, sends, reports, topic, partialFanOut(sends, deliveries));
}

/** Publishes in at least one subscription queue but missing from another whose filter they match. */
function partialFanOut(sends: Map<string, SendRecord>, deliveries: DeliveryRecord[]): string[] {
  const where = new Map<string, Set<string>>();
  for (const delivery of deliveries)
    where.set(delivery.id, (where.get(delivery.id) ?? new Set()).add(delivery.queue));
  const partial: string[] = [];
  for (const [id, queues] of where) {
    const record = sends.get(id);
    if (!record) continue; // never published: each subscription's report calls it unexpected
    const missing = SUBSCRIPTIONS.filter((sub) => sub.matches(record) && !queues.has(sub.queue));
    if (missing.length > 0) partial.push(`${id} (not in ${missing.map((sub) => sub.name).join(", ")})`);
  }
  return partial;
}

type TopicDetail = Awaited<ReturnType<ConveyorClient["topics"]["get"]>>;

/**
 * The subscriptions' reports as one: each list names its subscription
 * (`some: p3-12`); a publish must reach all the subscriptions it matches or none. The topic's counters must match what the queues hold:
 * `publishedTotal` the distinct publishes in the unfiltered queue, each
 * subscription's `deliveredTotal` its queue's distinct messages, and
 * `filteredTotal` the publishes the filtered one did not get.
 */
function topicReport(
  kills: number,
  sends: Map<string, SendRecord>,
  reports: Map<string, ChaosReport>,
  topic: TopicDetail,
  partial: string[],
): ChaosReport {
  const each = [...reports];
  const named = (pick: (report: ChaosReport) => string[]) =>
    each.flatMap(([name, report]) => pick(report).map((entry) => `${name}: ${entry}`));
  const sum = (pick: (report: ChaosReport) => number) =>
    each.reduce((total, [, report]) => total + pick(report), 0);
  const distinct = (name: string) => reports.get(name)?.totals?.distinctMessages ?? Number.NaN;
  const published = distinct("all");
  const subscriptions = Object.fromEntries(
    topic.subscriptions.map((subscription) => [
      subscription.name,
      {
        deliveredTotal: subscription.stats.deliveredTotal,
        undeliverableTotal: subscription.stats.undeliverableTotal,
        distinctMessages: distinct(subscription.name),
      },
    ]),
  );
  const exact =
    topic.stats.publishedTotal === published &&
    topic.stats.filteredTotal === published - distinct("some") &&
    topic.subscriptions.length === reports.size &&
    Object.values(subscriptions).every(
      (counts) => counts.deliveredTotal === counts.distinctMessages && counts.undeliverableTotal === 0,
    );
  const values = [...sends.values()];
  const report: ChaosReport = {
    kills,
    sends: sends.size,
    acknowledgedSends: values.filter((send) => send.outcomes.includes("ok")).length,
    unknownSends: values.filter((send) => !send.outcomes.includes("ok") && send.outcomes.includes("unknown"))
      .length,
    retriedAcrossCrash: values.filter(
      (send) => send.outcomes.includes("unknown") && send.outcomes.includes("ok"),
    ).length,
    deliveries: sum((r) => r.deliveries),
    lost: named((r) => r.lost),
    unexpected: named((r) => r.unexpected),
    duplicated: sum((r) => r.duplicated),
    unexplainedDuplicates: named((r) => r.unexplainedDuplicates),
    recovered: reports.get("all")?.recovered ?? 0,
    dedupViolations: named((r) => r.dedupViolations),
    fifoViolations: named((r) => r.fifoViolations),
    subscriptions: Object.fromEntries(each),
    partialFanOut: partial,
    topicCounters: {
      publishedTotal: topic.stats.publishedTotal,
      deliveredTotal: topic.stats.deliveredTotal,
      filteredTotal: topic.stats.filteredTotal,
      distinctPublished: published,
      subscriptions,
      exact,
    },
    passed: false,
  };
  report.passed = exact && partial.length === 0 && each.every(([, subscription]) => subscription.passed);
  return report;
}
