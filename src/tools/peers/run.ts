import { startConveyor } from "./conveyor.js";
import { startPostgres } from "./postgres.js";
import { startRabbitMq } from "./rabbitmq.js";
import { startRedis } from "./redis.js";
import { SCENARIOS, type ScenarioPlan } from "./scenarios.js";
import { cpuTable, peerTable, type Sample, type SystemStatus } from "./stats.js";
import type { System } from "./system.js";

/**
 * `npm run bench -- --peers`: Conveyor (its typed client's producer and
 * consumer) against RabbitMQ, BullMQ on Redis and pg-boss on PostgreSQL,
 * each through its own client from this one process, every server on
 * loopback with its own data directory and durability equal to Conveyor's.
 * Each round runs every system through every scenario, the systems' order
 * rotating from round to round so none always goes first.
 */

export interface PeerPlan extends ScenarioPlan {
  rounds: number;
}

export const PEER_PLANS: Record<"quick" | "full", PeerPlan> = {
  quick: { rounds: 1, seconds: 1, backlog: 2_000, drainCapSeconds: 10, rate: 1_000, flowSeconds: 3 },
  full: { rounds: 3, seconds: 5, backlog: 50_000, drainCapSeconds: 60, rate: 1_000, flowSeconds: 10 },
};

export interface PeerFailure {
  system: string;
  round: number;
  scenario: number;
  message: string;
}

export interface PeerReport {
  plan: PeerPlan;
  systems: SystemStatus[];
  samples: Sample[];
  failures: PeerFailure[];
}

const STARTS: { name: string; start: (root: string) => Promise<System> }[] = [
  { name: "Conveyor", start: startConveyor },
  { name: "RabbitMQ", start: startRabbitMq },
  { name: "BullMQ/Redis", start: startRedis },
  { name: "pg-boss", start: startPostgres },
];

/** The order of round `round` (1-based): the list rotated by one more each round. */
export function rotation<T>(items: readonly T[], round: number): T[] {
  const shift = (round - 1) % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export async function runPeers(options: {
  plan: PeerPlan;
  root: string;
  log: (line: string) => void;
}): Promise<PeerReport> {
  const { plan, log } = options;
  const systems: SystemStatus[] = [];
  const running: System[] = [];
  const samples: Sample[] = [];
  const failures: PeerFailure[] = [];
  const closeAll = async () => {
    for (const system of running.splice(0)) {
      await system.close().catch((error: unknown) => log(`peers: stopping ${system.name}: ${String(error)}`));
    }
  };
  // The servers are this process's children with their own data: an interrupted run stops them too.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`peers: ${signal}, stopping the servers`);
    void closeAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    for (const { name, start } of STARTS) {
      try {
        running.push(await start(options.root));
        systems.push({ name });
        log(`peers: ${name} started`);
      } catch (error) {
        // A peer that cannot start is a finding, not a failed run (Conveyor's own start is, below).
        const failure = (error instanceof Error ? error.message : String(error)).split("\n")[0] as string;
        systems.push({ name, failure });
        log(`peers: ${name} did not start: ${failure}`);
      }
    }
    if (!running.some((system) => system.name === "Conveyor"))
      throw new Error(`Conveyor did not start: ${systems[0]?.failure}`);
    for (let round = 1; round <= plan.rounds; round++) {
      for (const system of rotation(running, round)) {
        for (const [index, scenario] of SCENARIOS.entries()) {
          try {
            const outcome = await scenario(system, plan);
            samples.push({ ...outcome, system: system.name, round });
            log(describe(round, system.name, outcome));
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            failures.push({ system: system.name, round, scenario: index, message });
            log(`round ${round} ${system.name}: scenario ${index + 1} failed: ${message}`);
            await system.purge().catch(() => undefined);
          }
        }
      }
    }
    return { plan, systems, samples, failures };
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await closeAll();
  }
}

function describe(round: number, system: string, outcome: Omit<Sample, "system" | "round">): string {
  const metrics = Object.entries(outcome.metrics)
    .map(([id, value]) => `${id} ${(value as number).toFixed(id.startsWith("e2eP") ? 1 : 0)}`)
    .join(" ");
  return `round ${round} ${system.padEnd(12)} ${outcome.scenario.padEnd(28)} ${metrics.padEnd(40)} loader ${outcome.loaderCpuPct.toFixed(0)}% server ${outcome.serverCpuPct.toFixed(0)}% (${outcome.seconds.toFixed(1)} s)`;
}

/** What `npm run bench` prints after the peers ran. */
export function peerSummary(report: PeerReport): string {
  const lines = [
    `Peers: ${report.plan.rounds} round(s), ${report.plan.seconds} s a send run, backlog ${report.plan.backlog.toLocaleString("en")}, end to end at ${report.plan.rate.toLocaleString("en")}/s for ${report.plan.flowSeconds} s; median (min–max)`,
    "",
    peerTable(report.samples, report.systems),
    "",
    "CPU over each scenario, % of a core (medians):",
    "",
    cpuTable(report.samples, report.systems),
  ];
  for (const system of report.systems.filter((s) => s.failure))
    lines.push("", `${system.name} did not start: ${system.failure}`);
  for (const failure of report.failures)
    lines.push(
      `failed: round ${failure.round} ${failure.system} scenario ${failure.scenario + 1}: ${failure.message}`,
    );
  return lines.join("\n");
}
