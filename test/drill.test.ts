import { describe, expect, it } from "vitest";
import { runDrill } from "../src/tools/drill.js";

/**
 * A short store-outage drill (`npm run drill` runs the 30-second one): the
 * Cosmos DB test server goes away behind a fault proxy for 4 s under load.
 * Clients must get 503 with Retry-After, never a 500 or a hang, no
 * acknowledged message may be lost, and the host must recover by itself.
 */
describe("the store-outage drill", () => {
  for (const mode of ["refuse", "drop"] as const) {
    it(`recovers from 4 s of a store that is unreachable (${mode}) with 503s and nothing lost`, async () => {
      const report = await runDrill({
        outageMs: 4000,
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
      expect(report.slowestDuringOutageMs).toBeLessThan(4000 + 3000);
      expect(report.recoveryMs).toBeLessThan(5000);
    }, 60_000);
  }
});
