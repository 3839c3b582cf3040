import { describe, expect, it } from "vitest";
import { backoffSeconds } from "../../src/domain/backoff.js";

const policy = { initialDelaySeconds: 1, maxDelaySeconds: 60, multiplier: 2, jitter: false };

describe("backoff", () => {
  it("grows by the multiplier with each delivery", () => {
    expect([1, 2, 3, 4, 5].map((count) => backoffSeconds(policy, count, Math.random))).toEqual([
      1, 2, 4, 8, 16,
    ]);
  });

  it("is capped at maxDelaySeconds", () => {
    expect(backoffSeconds(policy, 10, Math.random)).toBe(60);
  });

  it("treats a message never delivered like its first delivery", () => {
    expect(backoffSeconds(policy, 0, Math.random)).toBe(1);
  });

  it("with jitter draws uniformly between 0 and the capped delay", () => {
    const jittered = { ...policy, jitter: true };
    expect(backoffSeconds(jittered, 4, () => 0)).toBe(0);
    expect(backoffSeconds(jittered, 4, () => 0.5)).toBe(4);
    expect(backoffSeconds(jittered, 10, () => 0.999)).toBeCloseTo(59.94);
  });
});
