import type { ServiceContext } from "./context.js";
import type { Dispatcher, PushJob, SendWebhook } from "./ports.js";
import { type PushJobOutcome, runPushJob, storeRetry } from "./push.js";

export type PushJobReport = PushJobOutcome | { kind: "storeUnavailable"; retry: PushJob; error: unknown };

/**
 * Runs push jobs as both hosts' dispatchers hand them over (the Service Bus
 * function on Azure, the SQLite job table locally), and schedules again, on
 * the same dispatcher, every job that must run later: one deferred by the
 * handler (not due yet, or its queue at `maxConcurrency`), and one the store
 * failed as unavailable, with a backoff that grows while failures last
 * (`storeRetry`). Any other failure throws, leaving the job to the
 * dispatcher's own retries.
 */
export class PushJobRunner {
  /** Jobs this instance saw fail on an unavailable store in a row: the backoff grows with it, and a success resets it. */
  private storeFailures = 0;

  constructor(
    private readonly context: ServiceContext,
    private readonly send: SendWebhook,
    private readonly dispatcher: Dispatcher,
  ) {}

  async run(job: PushJob): Promise<PushJobReport> {
    let outcome: PushJobOutcome;
    try {
      outcome = await runPushJob(this.context, this.send, job);
      this.storeFailures = 0;
    } catch (error) {
      if (!this.context.store.isUnavailable(error)) throw error;
      this.storeFailures++;
      const retry = storeRetry(job, this.context.clock.now(), this.storeFailures, this.context.random);
      await this.dispatcher.schedule([retry]);
      return { kind: "storeUnavailable", retry, error };
    }
    if (outcome.kind === "deferred") await this.dispatcher.schedule([outcome.job]);
    return outcome;
  }
}
