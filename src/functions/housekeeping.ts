import { app, type InvocationContext, type Timer } from "@azure/functions";
import { conveyor } from "./runtime.js";

/** Removes acked tombstones whose deduplication window has passed. */
export async function housekeeping(_timer: Timer, context: InvocationContext): Promise<void> {
  const removed = await (await conveyor()).housekeeping();
  context.log(`removed ${removed} expired tombstones`);
}

app.timer("housekeeping", { schedule: "0 */5 * * * *", handler: housekeeping });
