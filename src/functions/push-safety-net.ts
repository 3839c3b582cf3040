import { app } from "@azure/functions";
import { reschedulePushBacklog } from "../service/changes.js";
import { pushRuntime } from "./runtime.js";

/** The change feed can skip a batch when its host dies: every minute, give every due push message a job. */
app.timer("pushSafetyNet", {
  schedule: "0 */1 * * * *",
  handler: async (_timer, context) => {
    const runtime = await pushRuntime();
    const scheduled = await reschedulePushBacklog(runtime.conveyor.context, runtime.dispatcher);
    context.log(
      `push safety net: ${scheduled} jobs scheduled (already scheduled ones are dropped as duplicates)`,
    );
  },
});
