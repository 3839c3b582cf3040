import { app } from "@azure/functions";
import { conveyor } from "./runtime.js";

/** Removes acked tombstones whose deduplication window has passed. */
app.timer("housekeeping", {
  schedule: "0 */5 * * * *",
  handler: async (_timer, context) => {
    const removed = await (await conveyor()).housekeeping();
    context.log(`removed ${removed} expired tombstones`);
  },
});
