import { app, type InvocationContext, type Timer } from "@azure/functions";
import { conveyor } from "./runtime.js";

/**
 * Redrive tasks live in Cosmos DB; one whose instance was scaled in or died
 * stops renewing its lease. Every minute this continues such tasks, for at
 * most 50 s so that a run ends before the next is due. The schedule is
 * NCRONTAB with a seconds field, and a timer function runs on one instance
 * at a time however far the app scales out
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer,
 * "NCRONTAB expressions" and "Scale-out"; `schedule` in @azure/functions
 * types/timer.d.ts). A failed run is not retried: the next one is.
 */
export async function redriveResume(_timer: Timer, context: InvocationContext): Promise<void> {
  const resumed = await (await conveyor()).resumeRedrives(50_000);
  context.log(`redrive resume: ${resumed} tasks taken up`);
}

app.timer("redriveResume", { schedule: "0 */1 * * * *", handler: redriveResume });
