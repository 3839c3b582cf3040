/**
 * A background redrive's progress after one chunk. The task moves dead
 * letters below its sequence cutoff a chunk at a time; it is done when a
 * chunk came back short (nothing older is left) or the count it started
 * with is used up. `moved` is what the chunk really returned to the queue.
 */
export function redriveProgress(
  task: { redriven: number; remaining: number },
  moved: number,
  chunkWasShort: boolean,
): { status: "running" | "done"; redriven: number; remaining: number } {
  const remaining = chunkWasShort ? 0 : Math.max(0, task.remaining - moved);
  return { status: remaining === 0 ? "done" : "running", redriven: task.redriven + moved, remaining };
}
