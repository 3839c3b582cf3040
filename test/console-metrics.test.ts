import { describe, expect, it } from "vitest";
import { chartData } from "../console/src/metrics.js";

const point = (seconds: number, enqueuedTotal: number, ackedTotal: number, available = 0) => ({
  at: new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString(),
  available,
  delayed: 0,
  inFlight: 0,
  deadLettered: 0,
  oldestAvailableAgeSeconds: 0,
  enqueuedTotal,
  ackedTotal,
  deadLetteredTotal: 0,
  redrivenTotal: 0,
});

describe("the console chart's series", () => {
  it("takes rates from totals over spans of at least half the sample interval, and none from shorter ones", () => {
    const data = chartData({
      sampleEverySeconds: 10,
      points: [
        point(0, 100, 0, 100),
        point(10, 150, 27, 123),
        point(30, 150, 87, 63),
        point(30.02, 151, 95, 56),
      ],
    });
    expect(data.times.map((at) => at - (data.times[0] as number))).toEqual([
      0,
      10,
      30,
      expect.closeTo(30.02, 5),
    ]);
    expect(data.available).toEqual([100, 123, 63, 56]);
    expect(data.enqueueRate).toEqual([null, 5, 0, null]);
    expect(data.ackRate).toEqual([null, 2.7, 3, null]);
  });

  it("never draws a negative rate when a total goes back (a purged or recreated queue)", () => {
    const data = chartData({ sampleEverySeconds: 10, points: [point(0, 10, 10), point(10, 0, 0)] });
    expect(data.ackRate).toEqual([null, 0]);
  });
});
