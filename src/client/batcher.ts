/**
 * Coalesces items into batches for `run`: what arrives while a batch is in
 * flight, or within `lingerMs`, goes out together, up to `maxItems` and
 * `maxBytes` a batch and `maxInFlight` batches at once. With `lingerMs` 0 a
 * lone item leaves on the next turn of the event loop, so it pays no wait;
 * batches form by themselves once requests pile up behind the window.
 */
export interface BatcherOptions<I> {
  maxItems: number;
  maxBytes: number;
  sizeOf(item: I): number;
  lingerMs: number;
  maxInFlight: number;
  /** Settles each item's own outcome; a rejection is a bug there, so it is only kept from going unhandled. */
  run(items: I[]): Promise<void>;
}

// setImmediate runs after the I/O callbacks of this loop turn, so sends made by all of them coalesce
// without the 1 ms or more a setTimeout(0) would add; browsers lack it.
const nextTurn: (callback: () => void) => void =
  (globalThis as { setImmediate?: (callback: () => void) => void }).setImmediate ??
  ((callback) => setTimeout(callback, 0));

export class Batcher<I> {
  private pending: I[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly options: BatcherOptions<I>) {}

  add(item: I): void {
    this.pending.push(item);
    this.pendingBytes += this.options.sizeOf(item);
    if (this.pending.length >= this.options.maxItems || this.pendingBytes >= this.options.maxBytes)
      this.drain();
    else this.schedule();
  }

  /** Sends what is pending now; resolves once nothing is pending or in flight. */
  flush(): Promise<void> {
    this.drain();
    if (this.pending.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const fire = () => {
      this.scheduled = false;
      this.drain();
    };
    if (this.options.lingerMs > 0) setTimeout(fire, this.options.lingerMs);
    else nextTurn(fire);
  }

  private drain(): void {
    while (this.inFlight < this.options.maxInFlight && this.pending.length > 0) {
      const batch = this.take();
      this.inFlight++;
      this.options
        .run(batch)
        .catch(() => undefined)
        .finally(() => {
          this.inFlight--;
          this.drain();
          if (this.pending.length === 0 && this.inFlight === 0)
            for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  private take(): I[] {
    let count = 0;
    let bytes = 0;
    for (const item of this.pending) {
      const size = this.options.sizeOf(item);
      if (count > 0 && (count >= this.options.maxItems || bytes + size > this.options.maxBytes)) break;
      count++;
      bytes += size;
    }
    this.pendingBytes -= bytes;
    return this.pending.splice(0, count);
  }
}
