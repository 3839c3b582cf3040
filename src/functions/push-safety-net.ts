import { app, type InvocationContext, type Timer } from "@azure/functions";
import { conveyor } from "./runtime.js";

/** The change feed can skip a batch when its host dies: every minute, give every due push message a job. */
export async function pushSafetyNet(_timer: Timer, context: InvocationContext): Promise<void> {
  const scheduled = await (await conveyor()).reschedulePushBacklog();
  context.log(
    `push safety net: ${scheduled} jobs scheduled (already scheduled ones are dropped as duplicates)`,
  );
}

app.timer("pushSafetyNet", { schedule: "0 */1 * * * *", handler: pushSafetyNet });
