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
      expect(report.acknowledgedSends).toBeGreaterThan(50);
      // A request waits for the store at most as long as the outage lasts, plus the SDK's request timeout's slack.
      expect(report.slowestDuringOutageMs).toBeLessThan(4000 + 2000);
      expect(report.recoveryMs).toBeLessThan(3000);
    }, 60_000);
  }
});
