import { describe, expect, it } from "vitest";
import { runDrill } from "../src/tools/drill.js";

/**
 * A short store-outage drill (`npm run drill` runs the 30-second one): the
 * Cosmos DB test server goes away behind a fault proxy under load. Clients
 * must get 503 with Retry-After, never a 500 or a hang, no acknowledged
 * message may be lost, and the host must recover by itself.
 *
 * Each outage outlasts what the store absorbs as latency, so 503s must show:
 * refused connections are retried within the store's 5 s budget
 * (DEFAULT_RETRY_POLICY in src/adapters/cosmos/resilience.ts); a silent one
 * holds a request until the client's 10 s timeout (src/app.ts).
 */
const OUTAGE_MS = { refuse: 7000, drop: 12_000 } as const;

describe("the store-outage drill", () => {
  for (const mode of ["refuse", "drop"] as const) {
    it(`recovers from a store that is unreachable (${mode}) with 503s and nothing lost`, async () => {
      const report = await runDrill({
        outageMs: OUTAGE_MS[mode],
        warmupMs: 1500,
        afterMs: 1500,
        producers: 4,
        consumers: 2,
        mode,
      });
      expect(report).toMatchObject({
        serverErrors: 0,
        noAnswer: 0,
        unavailableWithoutRetryAfter: 0,
        lost: 0,
        passed: true,
      });
      expect(report.unavailable).toBeGreaterThan(0);
      // Load, not a throughput claim: the machine is shared.
      expect(report.acknowledgedSends).toBeGreaterThan(10);
      // No request outlives the outage by much (the SDK's own default would hold a silent one 60 s).
      expect(report.slowestDuringOutageMs).toBeLessThan(OUTAGE_MS[mode] + 3000);
      expect(report.recoveryMs).toBeLessThan(5000);
    }, 60_000);
  }
});
