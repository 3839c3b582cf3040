import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { LIMITS } from "../domain/limits.js";
import { measureRuPerMessage, type RuPerMessage } from "./cosmos-model/measure.js";

/**
 * The capacity and cost model of docs/scale.md, computed from measured
 * request units per message (never typed by hand):
 *
 *   node dist/src/tools/scale-model.js measure   # bench/ru-per-message.json, from the Cosmos DB model
 *   node dist/src/tools/scale-model.js report    # docs/scale.md from it
 *
 * Limits and prices, with where they come from:
 * - 10,000 RU/s and 20 GB per logical partition (partition key value), and
 *   1,000,000 RU/s per container unless a support ticket raises it:
 *   https://learn.microsoft.com/azure/cosmos-db/concepts-limits and .../partitioning-overview.
 * - Serverless: 5,000 RU/s per container up to 50 GB, +1,000 RU/s per
 *   physical partition past 5 (20,000 at 1 TB):
 *   https://learn.microsoft.com/azure/cosmos-db/serverless-performance.
 * - Provisioned $0.008 per 100 RU/s per hour, serverless $0.25 per million
 *   RU (single region, the US prices of the billing examples in
 *   https://learn.microsoft.com/azure/cosmos-db/understand-your-bill);
 *   autoscale 1.5 times provisioned for its maximum RU/s
 *   (https://www.cloudnerchuko.in/2025/06/Understand-Azure-Cosmos-DB-NoSQL-API-Pricing-and-Provisioning.html).
 * - Amazon SQS standard: $0.40 per million requests for the first 100 billion
 *   a month, $0.30 for the next 100 billion, $0.24 beyond; a batch of up to 10
 *   messages is one request per 64 KB (https://cloudburn.io/blog/amazon-sqs-pricing).
 * - Event Hubs: a throughput unit takes 1 MB/s in and 2 MB/s out, standard
 *   ¥0.19 an hour per unit and ¥0.18 per million ingress events (azure.cn,
 *   https://www.azure.cn/en-us/pricing/details/event-hubs/: the USD page
 *   renders no figures to the search tool, so CNY is what could be sourced).
 * - Service Bus Premium bills a daily rate per messaging unit
 *   (https://azure.microsoft.com/en-gb/resources/knowledge-center/what-is-a-messaging-unit/);
 *   neither that rate nor a throughput per unit could be sourced: not computed.
 * - Functions: one request per call; an instance at `httpPerInstanceConcurrency`
 *   100 with ≈ 20 ms a request (docs/deploy.md) serves at most ≈ 5,000 a second,
 *   and Flex Consumption takes up to 1,000 instances: an upper bound, not a measurement.
 */

const MEASURED = "bench/ru-per-message.json";
const REPORT = "docs/scale.md";
const WRITES_PER_SECOND = 1_000_000;
const READS_PER_SECOND = 2_000_000;
const SECONDS_A_MONTH = 730 * 3600;
const PARTITION_RU = 10_000;
/** Headroom: a shard is planned at 80% of its partition's ceiling. */
const PLANNED_RU = PARTITION_RU * 0.8;
const PROVISIONED_PER_100_RU_HOUR = 0.008;
const AUTOSCALE_FACTOR = 1.5;
const SERVERLESS_PER_MILLION_RU = 0.25;
const SERVERLESS_CONTAINER_RU = 5_000;
const SERVERLESS_MAX_RU = 20_000;
const CONTAINER_RU = 1_000_000;
const PARTITION_BYTES = 20e9;
const REQUESTS_PER_INSTANCE = 5_000;
const EVENT_HUBS_TU_HOUR_CNY = 0.19;
const EVENT_HUBS_MILLION_EVENTS_CNY = 0.18;

const whole = (value: number) => Math.ceil(value).toLocaleString("en-US");
const dollars = (value: number) => `$${Math.round(value).toLocaleString("en-US")}`;

function sqsMonthly(requestsPerSecond: number): number {
  const millions = (requestsPerSecond * SECONDS_A_MONTH) / 1e6;
  const tiers: [number, number][] = [
    [100_000, 0.4],
    [100_000, 0.3],
    [Number.POSITIVE_INFINITY, 0.24],
  ];
  let left = millions;
  let cost = 0;
  for (const [size, price] of tiers) {
    const used = Math.min(left, size);
    cost += used * price;
    left -= used;
  }
  return cost;
}

export function scaleReport(measured: RuPerMessage): string {
  const { steps } = measured;
  const plans = [
    {
      name: "single calls",
      write: steps.enqueueSingle.requestUnits,
      read: steps.receiveSingle.requestUnits + steps.ackSingle.requestUnits,
      perRequest: 1,
    },
    {
      name: "batches of 10",
      write: steps.enqueueBatch10.requestUnits,
      read: steps.receiveBatch10.requestUnits + steps.settleBatch10.requestUnits,
      perRequest: 10,
    },
  ];
  const rows = plans.map((plan) => {
    const ruPerSecond = WRITES_PER_SECOND * plan.write + READS_PER_SECOND * plan.read;
    const requests = (WRITES_PER_SECOND + 2 * READS_PER_SECOND) / plan.perRequest;
    const provisioned = (ruPerSecond / 100) * PROVISIONED_PER_100_RU_HOUR * 730;
    return {
      ...plan,
      ruPerSecond,
      shards: Math.ceil(ruPerSecond / PLANNED_RU),
      instances: Math.ceil(requests / REQUESTS_PER_INSTANCE),
      provisioned,
      autoscale: provisioned * AUTOSCALE_FACTOR,
      serverless: ((ruPerSecond * SECONDS_A_MONTH) / 1e6) * SERVERLESS_PER_MILLION_RU,
      // SQS the same way: a send, a receive and a delete per message (or per 10).
      sqs: sqsMonthly(requests),
    };
  });
  // 1 KiB events: MB/s in against 1 MB/s a unit, MB/s out against 2 MB/s a unit.
  const megabytes = (perSecond: number) => (perSecond * 1024) / 1e6;
  const eventHubUnits = Math.max(megabytes(WRITES_PER_SECOND), megabytes(READS_PER_SECOND) / 2);
  const eventHubsCny =
    eventHubUnits * EVENT_HUBS_TU_HOUR_CNY * 730 +
    ((WRITES_PER_SECOND * SECONDS_A_MONTH) / 1e6) * EVENT_HUBS_MILLION_EVENTS_CNY;
  const lifeSingle = measured.lifeSingle;
  const rates = [100, 1_000, 10_000, 100_000, 1_000_000];
  const lines = [
    "# Scale: capacity and cost",
    "",
    "Generated by `node dist/src/tools/scale-model.js report` (then `npx biome check --write docs/scale.md`) from",
    `\`${MEASURED}\` (measured ${measured.measuredAt.slice(0, 10)} with \`${measured.command}\`:`,
    "the Cosmos DB model's charges while today's store served each step through the API, 1 KiB",
    "messages). Do not edit by hand; the limits and prices and their sources are in",
    "`src/tools/scale-model.ts`. The load: 1,000,000 enqueues and 2,000,000 deliveries (receive",
    "and ack) a second.",
    "",
    "## Request units per message (measured)",
    "",
    "| step | RU per message |",
    "| ---- | -------------- |",
    ...Object.entries(steps).map(([step, cost]) => `| ${step} | ${cost.requestUnits} |`),
    `| a whole life, single calls | ${measured.lifeSingle} |`,
    `| a whole life, batches of 10 | ${measured.lifeBatched} |`,
    "",
    "## What the load needs",
    "",
    "| calls | RU/s | partition key values (shards) at 8,000 RU/s | Functions instances (upper-bound rate) | provisioned / month | autoscale / month | serverless / month | Amazon SQS standard / month, the same calls |",
    "| ----- | ---- | ------------------------------------------- | -------------------------------------- | ------------------- | ----------------- | ------------------ | ------------------------------------------ |",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${whole(row.ruPerSecond)} | ${whole(row.shards)} | ${whole(row.instances)} | ${dollars(row.provisioned)} | ${dollars(row.autoscale)} | not possible (${SERVERLESS_CONTAINER_RU.toLocaleString("en-US")} RU/s a container); at list price ${dollars(row.serverless)} | ${dollars(row.sqs)} |`,
    ),
    "",
    `Event Hubs (standard) for the same bytes: ${whole(eventHubUnits)} throughput units (1 MB/s in, 2 MB/s out each), about ¥${whole(eventHubsCny)} a month at azure.cn prices; a standard namespace takes 40 units, so this is the premium or dedicated tier. Service Bus Premium: not computed (no sourced rate or throughput per messaging unit).`,
    "",
    "## Limits",
    "",
    "- A partition key value (one queue shard, `queueId` or `queueId#n`) gets at most 10,000 RU/s and 20 GB. At",
    `  ${lifeSingle} RU a message with single calls (${measured.lifeBatched} batched), one shard carries about ${whole(PARTITION_RU / lifeSingle)} (${whole(PARTITION_RU / measured.lifeBatched)}) messages a second at its ceiling.`,
    `- 20 GB holds fewer than ${whole(PARTITION_BYTES / measured.messageBytes / 1e6)} million ${measured.messageBytes / 1024} KiB messages a shard (each document is larger than its body).`,
    `  A shard whose consumers stop fills it in under ${whole(PARTITION_BYTES / measured.messageBytes / (PARTITION_RU / steps.enqueueBatch10.requestUnits) / 3600)} hours of batched enqueues at its ceiling (${whole(PARTITION_RU / steps.enqueueBatch10.requestUnits)} a second), after which its writes fail: size the partitions for the backlog a queue may hold too.`,
    `- A container takes ${CONTAINER_RU.toLocaleString("en-US")} RU/s unless a support ticket raises it: the load above needs ${rows.map((row) => `${whole(row.ruPerSecond / CONTAINER_RU)} times that with ${row.name}`).join(", ")}.`,
    `- Serverless: ${SERVERLESS_CONTAINER_RU.toLocaleString("en-US")} RU/s for the whole container, every queue together, up to 250 GB or 5 physical partitions; then 1,000 RU/s more per physical partition (${SERVERLESS_MAX_RU.toLocaleString("en-US")} RU/s at 1 TB). That is about ${whole(SERVERLESS_CONTAINER_RU / lifeSingle)} messages a second with single calls (${whole(SERVERLESS_CONTAINER_RU / measured.lifeBatched)} batched) for all queues, ${whole(SERVERLESS_MAX_RU / measured.lifeBatched)} batched at 1 TB; no guarantee of throughput or latency.`,
    "- Functions Flex Consumption: up to 1,000 instances per app (docs/deploy.md).",
    "",
    "## Shards a queue needs for a rate (planned at 8,000 RU/s a shard)",
    "",
    `A queue takes at most ${LIMITS.partitions.max} partitions (\`partitions\`, src/domain/limits.ts): about ${whole((LIMITS.partitions.max * PLANNED_RU) / lifeSingle)} messages a second with single calls and ${whole((LIMITS.partitions.max * PLANNED_RU) / measured.lifeBatched)} batched at the planned rate; more than that takes more queues.`,
    "",
    "| messages a second (each enqueued, received, acked once) | shards, single calls | shards, batches of 10 |",
    "| ------------------------------------------------------- | -------------------- | --------------------- |",
    ...rates.map(
      (rate) =>
        `| ${rate.toLocaleString("en-US")} | ${whole((rate * lifeSingle) / PLANNED_RU)} | ${whole((rate * measured.lifeBatched) / PLANNED_RU)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { messages: { type: "string", default: "100" } },
  });
  if (positionals[0] === "measure") {
    const measured = await measureRuPerMessage(Number(values.messages));
    mkdirSync(dirname(MEASURED), { recursive: true });
    writeFileSync(MEASURED, `${JSON.stringify(measured, null, 2)}\n`);
    process.stdout.write(
      `${MEASURED}: life ${measured.lifeSingle} RU single, ${measured.lifeBatched} batched\n`,
    );
  } else if (positionals[0] === "report") {
    writeFileSync(REPORT, scaleReport(JSON.parse(readFileSync(MEASURED, "utf8")) as RuPerMessage));
    process.stdout.write(`${REPORT} written\n`);
  } else throw new Error("usage: scale-model.js measure|report");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`scale-model: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
