import { describe, expect, it } from "vitest";
import { redriveProgress } from "../../src/domain/redrive.js";

describe("a redrive task's progress after a chunk", () => {
  it("goes on while a full chunk leaves some of the count", () => {
    expect(redriveProgress({ redriven: 100, remaining: 900 }, 100, false)).toEqual({
      status: "running",
      redriven: 200,
      remaining: 800,
    });
  });

  it("is done when a chunk comes back short, whatever the count said", () => {
    expect(redriveProgress({ redriven: 100, remaining: 900 }, 40, true)).toEqual({
      status: "done",
      redriven: 140,
      remaining: 0,
    });
  });

  it("is done when the count is used up, and never counts below zero", () => {
    expect(redriveProgress({ redriven: 0, remaining: 50 }, 100, false)).toEqual({
      status: "done",
      redriven: 100,
      remaining: 0,
    });
  });
});
