import { loaderCpuSeconds, sleep, treeCpuSeconds } from "./processes.js";
import type { MetricId, Sample } from "./stats.js";
import { percentile } from "./stats.js";
import type { System } from "./system.js";

/**
 * The workloads, each run the same way on every system from this
 * one loader process, with 1 KiB bodies. Every scenario starts on an empty
 * queue.
 */

export const BODY_BYTES = 1024;
const BODY = "x".repeat(BODY_BYTES);
const BATCH = 100;
/** Batches in flight at once: the producer's own default window. */
const BATCHES_IN_FLIGHT = 4;
/** Handlers (or prefetch) a consumer runs with when draining a backlog. */
const DRAIN_CONCURRENCY = 64;
/** ... and when keeping up with a paced producer. */
const FLOW_CONCURRENCY = 16;

export interface ScenarioPlan {
  /** Length of each timed send run. */
  seconds: number;
  /** Messages in the backlog the consumer drains. */
  backlog: number;
  /** The most a drain may take; what was consumed by then counts. */
  drainCapSeconds: number;
  /** The end-to-end run's producer rate and length. */
  rate: number;
  flowSeconds: number;
}

export type Outcome = Omit<Sample, "system" | "round">;

/** Runs `work` and the CPU that the loader and the server's process tree spent on it. */
async function metered(
  scenario: string,
  system: System,
  work: () => Promise<
    | Partial<Record<MetricId, number>>
    | ((seconds: number, serverCpuPct: number) => Partial<Record<MetricId, number>>)
  >,
): Promise<Outcome> {
  const server = treeCpuSeconds(system.pid);
  const loader = loaderCpuSeconds();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const serverCpuPct = ((treeCpuSeconds(system.pid) - server) / seconds) * 100;
  const loaderCpuPct = ((loaderCpuSeconds() - loader) / seconds) * 100;
  return {
    scenario,
    metrics: typeof result === "function" ? result(seconds, serverCpuPct) : result,
    seconds,
    serverCpuPct,
    loaderCpuPct,
  };
}

/** `concurrency` loops, each awaiting one send after another, for `seconds`. */
async function sendFor(concurrency: number, seconds: number, send: () => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await send();
        count++;
      }
    }),
  );
  return count;
}

export async function sendOne(system: System, plan: ScenarioPlan, concurrency: 1 | 64): Promise<Outcome> {
  await system.purge();
  const metric: MetricId = concurrency === 1 ? "send1" : "send64";
  return metered(`send c=${concurrency}`, system, async () => {
    const count = await sendFor(concurrency, plan.seconds, () => system.send(BODY));
    return (seconds) => ({ [metric]: count / seconds });
  });
}

export async function sendBatches(system: System, plan: ScenarioPlan): Promise<Outcome> {
  await system.purge();
  const bodies = Array.from({ length: BATCH }, () => BODY);
  return metered("batches of 100", system, async () => {
    const batches = await sendFor(BATCHES_IN_FLIGHT, plan.seconds, () => system.sendBatch(bodies));
    return (seconds) => ({ batch100: (batches * BATCH) / seconds });
  });
}

/** Fills the queue with `backlog` messages (not timed), then times a consumer emptying it. */
export async function drain(system: System, plan: ScenarioPlan): Promise<Outcome> {
  await system.purge();
  const bodies = Array.from({ length: BATCH }, () => BODY);
  let filled = 0;
  await Promise.all(
    Array.from({ length: BATCHES_IN_FLIGHT }, async () => {
      while (filled < plan.backlog) {
        const size = Math.min(BATCH, plan.backlog - filled);
        filled += size;
        await system.sendBatch(size === BATCH ? bodies : bodies.slice(0, size));
      }
    }),
  );
  const outcome = await metered(
    `consume + ack, backlog ${plan.backlog.toLocaleString("en")}`,
    system,
    async () => {
      let consumed = 0;
      let done: () => void = () => undefined;
      const all = new Promise<void>((resolve) => {
        done = resolve;
      });
      const stop = await system.consume(() => {
        if (++consumed === plan.backlog) done();
      }, DRAIN_CONCURRENCY);
      await Promise.race([all, sleep(plan.drainCapSeconds * 1000)]);
      // Stopping waits for the acks of what was handled: they are part of the work.
      await stop();
      return (seconds) => ({ drain: consumed / seconds });
    },
  );
  await system.purge();
  return outcome;
}

/**
 * A producer paced at `plan.rate` (each send timestamped in its body, not
 * awaited before the next is due) and a consumer running beside it; the
 * latency is from the start of a send to its handler. The server's CPU over
 * the run is the row "server CPU at that rate".
 */
export async function endToEnd(system: System, plan: ScenarioPlan): Promise<Outcome> {
  await system.purge();
  const latencies: number[] = [];
  const stop = await system.consume((body) => {
    latencies.push(performance.now() - Number(body.slice(0, body.indexOf("|"))));
  }, FLOW_CONCURRENCY);
  try {
    return await metered(`end to end at ${plan.rate.toLocaleString("en")}/s`, system, async () => {
      const sends: Promise<void>[] = [];
      let failed = 0;
      const started = performance.now();
      for (let now = started; now < started + plan.flowSeconds * 1000; now = performance.now()) {
        const due = Math.floor(((now - started) / 1000) * plan.rate);
        while (sends.length < due) {
          const body = `${performance.now().toFixed(3)}|`.padEnd(BODY_BYTES, "x");
          sends.push(system.send(body).catch(() => void failed++));
        }
        await sleep(1);
      }
      await Promise.all(sends);
      // The tail: what was sent is given up to 5 s to arrive.
      for (let waited = 0; latencies.length < sends.length - failed && waited < 5000; waited += 10)
        await sleep(10);
      const sorted = [...latencies].sort((a, b) => a - b);
      if (failed > 0 || sorted.length < sends.length)
        throw new Error(
          `end to end: ${failed} sends failed, ${sends.length - failed - sorted.length} never arrived`,
        );
      return (_seconds, serverCpuPct) => ({
        e2eP50: percentile(sorted, 50),
        e2eP99: percentile(sorted, 99),
        e2eCpu: serverCpuPct,
      });
    });
  } finally {
    await stop();
    await system.purge();
  }
}

export const SCENARIOS: readonly ((system: System, plan: ScenarioPlan) => Promise<Outcome>)[] = [
  (system, plan) => sendOne(system, plan, 1),
  (system, plan) => sendOne(system, plan, 64),
  sendBatches,
  drain,
  endToEnd,
];
