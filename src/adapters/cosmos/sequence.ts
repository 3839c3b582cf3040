/**
 * Sequence numbers for the Cosmos store without a counter document: a hybrid
 * logical clock, `max(last + 1, wall-clock ms * 1000)`. Within one process
 * the numbers increase strictly; across instances they follow the clocks'
 * order, which is arrival order to within the clocks' skew. A shared counter
 * document would make every enqueue of a queue read-modify-write one item and
 * serialize on its etag. The numbers stay below 2^53 until the year 2255.
 */
export class HybridLogicalClock {
  private last = 0;

  next(wallClockMs: number): number {
    this.last = Math.max(this.last + 1, wallClockMs * 1000);
    return this.last;
  }
}
