import type { OperationKind } from "./charges.js";

/** The faults the Cosmos DB model injects on demand (src/tools/cosmos-model/model.ts). */

export type FaultKind = "unavailable" | "timeout" | "reset" | "latency" | "lost-answer";

export interface FaultRule {
  fault: FaultKind;
  /** Fires on the next `times` matching requests; without it, on each with `probability`. */
  times?: number;
  probability?: number;
  /** Only requests of these kinds (default: every item request). */
  kinds?: OperationKind[];
  /** For `latency`: the milliseconds added. */
  ms?: number;
}

const FAULTS: FaultKind[] = ["unavailable", "timeout", "reset", "latency", "lost-answer"];

/** `unavailable:0.02,lost-answer:0.01,latency:0.1:20`: each fault with its probability (and, for latency, its ms). */
export function parseFaults(text: string | undefined): FaultRule[] {
  return (text ?? "")
    .split(",")
    .filter((entry) => entry.trim() !== "")
    .map((entry) => {
      const [fault, probability, ms] = entry.trim().split(":");
      if (!FAULTS.includes(fault as FaultKind)) throw new Error(`unknown model fault "${fault}"`);
      const rule: FaultRule = { fault: fault as FaultKind, probability: Number(probability ?? 1) };
      if (ms !== undefined) rule.ms = Number(ms);
      return rule;
    });
}
