/**
 * The crash harness's history and its checker: what producers sent (every
 * attempt's outcome) and consumers received (with their acks' outcomes), and
 * the classification of every message in a queue (docs/reliability.md).
 */

export type Outcome = "ok" | "fail" | "unknown";

export interface SendRecord {
  id: string;
  /** The queue sent to, or the topic published to. */
  target: string;
  group?: string;
  seq: number;
  /** What a publish carried for the subscriptions' filters (topics only). */
  attributes?: Record<string, string>;
  outcomes: Outcome[];
  messageIds: Set<string>;
}

export interface DeliveryRecord {
  id: string;
  queue: string;
  messageId: string;
  group?: string;
  seq: number;
  deliveryCount: number;
  ack?: Outcome;
}

export interface ChaosReport {
  kills: number;
  sends: number;
  acknowledgedSends: number;
  unknownSends: number;
  /** Sends whose first attempts had an unknown outcome and were retried with the same dedup id. */
  retriedAcrossCrash: number;
  /** Of those, delivered as more than one message (must be 0). */
  dedupViolations: string[];
  deliveries: number;
  lost: string[];
  unexpected: string[];
  duplicated: number;
  unexplainedDuplicates: string[];
  recovered: number;
  fifoViolations: string[];
  /** After the drain: the queues' lifetime totals against the distinct messages delivered. */
  totals?: { enqueuedTotal: number; ackedTotal: number; distinctMessages: number; exact: boolean };
  /** Topics only: each subscription queue's own report (the lists above name their subscription). */
  subscriptions?: Record<string, ChaosReport>;
  /** Topics only: publishes that reached some of the subscriptions they matched but not all (must be none). */
  partialFanOut?: string[];
  /** Topics only: the topic's counters against what its queues hold; the run passes only when `exact`. */
  topicCounters?: {
    publishedTotal: number;
    deliveredTotal: number;
    filteredTotal: number;
    distinctPublished: number;
    subscriptions: Record<
      string,
      { deliveredTotal: number; undeliverableTotal: number; distinctMessages: number }
    >;
    exact: boolean;
  };
  /** What the Cosmos DB model charged, throttled and injected (cosmos only). */
  model?: { requestUnits: number; throttled: number; faults: Record<string, number> };
  passed: boolean;
}

export function check(
  kills: number,
  sends: Map<string, SendRecord>,
  deliveries: DeliveryRecord[],
  totals?: { enqueuedTotal: number; ackedTotal: number },
): ChaosReport {
  const delivered = new Map<string, DeliveryRecord[]>();
  for (const delivery of deliveries)
    delivered.set(delivery.id, [...(delivered.get(delivery.id) ?? []), delivery]);

  const acknowledged = [...sends.values()].filter((send) => send.outcomes.includes("ok"));
  const unknown = [...sends.values()].filter(
    (send) => !send.outcomes.includes("ok") && send.outcomes.includes("unknown"),
  );
  const lost = acknowledged.filter((send) => !delivered.has(send.id)).map((send) => send.id);
  const unexpected = [...delivered.keys()].filter((id) => !sends.has(id));
  const recovered = unknown.filter((send) => delivered.has(send.id)).length;

  // One producer id must never become two messages (the dedup id survives crashes and retries).
  const dedupViolations = [...delivered.entries()]
    .filter(([, records]) => new Set(records.map((record) => record.messageId)).size > 1)
    .map(([id]) => id);

  // A second delivery is explained only if no earlier delivery of the message was acked for sure.
  let duplicated = 0;
  const unexplainedDuplicates: string[] = [];
  for (const [id, records] of delivered) {
    if (records.length < 2) continue;
    duplicated++;
    const ackedBefore = records.slice(0, -1).some((record) => record.ack === "ok");
    if (ackedBefore) unexplainedDuplicates.push(id);
  }

  // Fifo: the first successful ack of each message, per group, in the order acks happened, must follow seq.
  const fifoViolations: string[] = [];
  const lastAcked = new Map<string, number>();
  for (const delivery of deliveries) {
    if (!delivery.group || delivery.ack !== "ok") continue;
    const previous = lastAcked.get(delivery.group) ?? -1;
    if (delivery.seq < previous)
      fifoViolations.push(`${delivery.group}: seq ${delivery.seq} acked after ${previous}`);
    lastAcked.set(delivery.group, Math.max(previous, delivery.seq));
  }

  const report: ChaosReport = {
    kills,
    sends: sends.size,
    acknowledgedSends: acknowledged.length,
    unknownSends: unknown.length,
    retriedAcrossCrash: [...sends.values()].filter(
      (send) => send.outcomes.includes("unknown") && send.outcomes.includes("ok"),
    ).length,
    deliveries: deliveries.length,
    lost,
    unexpected,
    duplicated,
    unexplainedDuplicates,
    recovered,
    dedupViolations,
    fifoViolations,
    passed: false,
  };
  // Every message was delivered and acked by the end of the drain: each is counted once in both totals.
  if (totals) {
    const distinctMessages = new Set(deliveries.map((delivery) => delivery.messageId)).size;
    const exact = totals.enqueuedTotal === distinctMessages && totals.ackedTotal === distinctMessages;
    report.totals = { ...totals, distinctMessages, exact };
  }
  report.passed =
    lost.length === 0 &&
    unexpected.length === 0 &&
    unexplainedDuplicates.length === 0 &&
    dedupViolations.length === 0 &&
    fifoViolations.length === 0 &&
    report.totals?.exact !== false;
  return report;
}
