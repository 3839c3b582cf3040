import { app } from "@azure/functions";
import { makeOverdueCopies } from "../service/topics.js";
import { conveyor } from "./runtime.js";

/**
 * How old a topic message still owing copies must be before the safety net
 * makes them: well past the inline attempt (at once) and the change feed
 * (its default poll delay is 5 s: CosmosDBv4TriggerOptions.feedPollDelay),
 * so the timer only does what those two missed. Running early would still be
 * safe (each copy has a derived id and only pending copies count), merely
 * wasted work.
 */
export const OVERDUE_AFTER_MS = 30_000;

/**
 * The change feed checkpoints a batch whose handler failed, and a publish's
 * host can die between its write and its inline attempt: every minute, make
 * what messages older than OVERDUE_AFTER_MS still owe. NCRONTAB with a
 * seconds field; one instance at a time however far the app scales out
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer).
 */
app.timer("topicSafetyNet", {
  schedule: "30 */1 * * * *",
  handler: async (_timer, context) => {
    const runtime = (await conveyor()).topics;
    const before = new Date(runtime.service.clock.now().getTime() - OVERDUE_AFTER_MS);
    const settled = await makeOverdueCopies(runtime, before);
    context.log(`topic safety net: ${settled} overdue topic messages settled`);
  },
});
