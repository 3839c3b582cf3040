import { ConveyorClient } from "../../client/index.js";
import {
  constantPost,
  conveyorDialect,
  pacedProducer,
  type QueueDialect,
  receiveAndSettle,
  topicDialect,
} from "../bench-lua.js";
import { wrk } from "./loaders.js";
import { assertAlive, cpuSeconds } from "./processes.js";
import { type BenchRow, describe, producerConsumerRow } from "./report.js";
import type { Run } from "./scenarios.js";
import { BODY } from "./targets.js";

/** What every published message carries; the filtered-out half of `fan-50-half` asks for another type. */
const ATTRIBUTES = { type: "order.created" };
const BASELINE_QUEUE = "fan-base";

interface Fan {
  topic: string;
  subscriptions: number;
  /** How many of them filter the message out. */
  filtered: number;
}

const FANS: Fan[] = [
  { topic: "fan-1", subscriptions: 1, filtered: 0 },
  { topic: "fan-10", subscriptions: 10, filtered: 0 },
  { topic: "fan-50", subscriptions: 50, filtered: 0 },
  { topic: "fan-50-half", subscriptions: 50, filtered: 25 },
];

const fanName = (fan: Fan) =>
  `${fan.subscriptions} subscription${fan.subscriptions === 1 ? "" : "s"}${fan.filtered ? `, ${fan.filtered} filtered out` : ""}`;
/** A fan's subscription queues; `fan-50-half` shares those of `fan-50`. */
const queueOf = (fan: Fan, index: number) => `fan-${fan.subscriptions}-${index}`;

/** Publishes a second for the receivable-latency rows: below what the throughput rows reach, so the latency is not queueing. */
const PACED_PUBLISHES_PER_SECOND = 100;

/**
 * The `topics` part: publish throughput to a topic with 1, 10 and 50
 * subscriptions (and 50 of which half filter the message out), single and in
 * batches of 100, beside plain enqueue to a queue in the same run; then how
 * soon a copy is receivable after its publish was sent.
 */
export async function topics(run: Run): Promise<void> {
  await createFans(run);
  const json = { authorization: `Bearer ${run.token}`, "content-type": "application/json" };
  const message = { body: BODY, attributes: ATTRIBUTES };
  const single = JSON.stringify(message);
  const batch = JSON.stringify({ messages: Array.from({ length: 100 }, () => message) });
  const { topics: plan } = run.plan;
  for (const [kind, body, size, concurrencies] of [
    ["1", single, 1, plan.single],
    ["batch 100", batch, 100, plan.batch],
  ] as const) {
    for (const c of concurrencies) {
      const baseline = run.script(constantPost(`/v1/queues/${BASELINE_QUEUE}/messages`, json, body));
      await run.measure(
        `enqueue ${kind} (topics baseline)`,
        run.conveyor,
        baseline,
        c,
        size,
        undefined,
        plan.seconds,
      );
      for (const fan of FANS) {
        const post = run.script(constantPost(`/v1/topics/${fan.topic}/messages`, json, body));
        const row = await run.measure(
          `publish ${kind} → ${fanName(fan)}`,
          run.conveyor,
          post,
          c,
          size,
          undefined,
          plan.seconds,
        );
        row.copiesPerSecond = row.messagesPerSecond * (fan.subscriptions - fan.filtered);
      }
    }
  }
  const baseline = conveyorDialect(BASELINE_QUEUE, run.token, "batch");
  await run.purgeConveyor(BASELINE_QUEUE);
  await timeToReceive(run, "enqueue → received (topics baseline)", baseline, BASELINE_QUEUE);
  for (const fan of FANS.filter((candidate) => !candidate.filtered)) {
    // The last subscription's queue: its copy is made last.
    const queue = queueOf(fan, fan.subscriptions);
    await run.purgeConveyor(queue);
    const dialect = topicDialect(fan.topic, queue, run.token, ATTRIBUTES);
    await timeToReceive(run, `publish → copy received, ${fanName(fan)}`, dialect, queue);
  }
}

/** The topics, their subscription queues and subscriptions (the filtered half of `fan-50-half` asks for another type). */
async function createFans(run: Run): Promise<void> {
  const client = new ConveyorClient({ baseUrl: run.conveyor.url, token: run.token });
  await client.createQueue({
    name: BASELINE_QUEUE,
    visibilityTimeoutSeconds: 300,
    deduplicationWindowSeconds: 0,
  });
  for (const fan of FANS) {
    await client.topics.create({ name: fan.topic });
    for (let index = 1; index <= fan.subscriptions; index++) {
      const queue = queueOf(fan, index);
      if (!fan.filtered)
        await client.createQueue({
          name: queue,
          visibilityTimeoutSeconds: 300,
          deduplicationWindowSeconds: 0,
        });
      const type = index <= fan.filtered ? "order.cancelled" : ATTRIBUTES.type;
      await client.topics.subscribe(fan.topic, `s${index}`, {
        queue,
        ...(fan.filtered ? { filter: { attributes: { type: [type] } } } : {}),
      });
    }
  }
}

/**
 * A paced producer (4 connections) and one long-polling consumer on `queue`,
 * together: the latency is from the send to the receive that returned the
 * message, p50 and p99 over every message received.
 */
async function timeToReceive(run: Run, scenario: string, dialect: QueueDialect, queue: string) {
  const pid = run.conveyor.child.pid as number;
  const cpuBefore = cpuSeconds(pid);
  const seconds = run.plan.topics.seconds;
  const consumer = { wait: 1, endToEnd: false, idleDelayMs: 0, timeToReceive: true };
  const [produced, consumed] = await Promise.all([
    wrk(run.conveyor.url, run.script(pacedProducer(dialect, PACED_PUBLISHES_PER_SECOND / 2)), 4, seconds),
    wrk(run.conveyor.url, run.script(receiveAndSettle(dialect, consumer)), 1, seconds),
  ]);
  assertAlive(run.conveyor);
  const row: BenchRow = {
    ...producerConsumerRow(scenario, run.conveyor, {
      connections: 5,
      seconds,
      produced,
      consumed,
      delivered: consumed.measured?.count ?? 0,
      serverCpuSeconds: cpuSeconds(pid) - cpuBefore,
      offeredPerSecond: PACED_PUBLISHES_PER_SECOND,
    }),
    backlog: await run.conveyorBacklog(queue),
  };
  run.rows.push(row);
  run.log(describe(row));
}
