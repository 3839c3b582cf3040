import type { ServiceBusMessage, ServiceBusSender } from "@azure/service-bus";
import { z } from "zod";
import { type Dispatcher, type PushJob, pushJobId } from "../../service/ports.js";

/** The Service Bus queue that carries one job per push attempt (created by infra/app/servicebus.bicep). */
export const DELIVERIES_QUEUE = "deliveries";

/** A job as it travels in a Service Bus message body. */
const jobBody = z.strictObject({
  tenantId: z.string().min(1),
  queueId: z.string().min(1),
  messageId: z.string().min(1),
  deliveryCount: z.int().min(0),
  dueAt: z.iso.datetime(),
});

export function parseJob(body: unknown): PushJob {
  const parsed = jobBody.parse(typeof body === "string" ? JSON.parse(body) : body);
  return { ...parsed, dueAt: new Date(parsed.dueAt) };
}

export function toServiceBusMessage(job: PushJob): ServiceBusMessage {
  return {
    // The attempt's id: duplicate detection drops a job scheduled twice for the same attempt.
    messageId: pushJobId(job),
    contentType: "application/json",
    subject: "push-job",
    body: { ...job, dueAt: job.dueAt.toISOString() },
    scheduledEnqueueTimeUtc: job.dueAt,
  };
}

/** Push jobs as scheduled Service Bus messages, delivered at the message's due time. */
export class ServiceBusDispatcher implements Dispatcher {
  constructor(private readonly sender: Pick<ServiceBusSender, "sendMessages">) {}

  async schedule(jobs: PushJob[]): Promise<void> {
    for (let start = 0; start < jobs.length; start += 100) {
      await this.sender.sendMessages(jobs.slice(start, start + 100).map(toServiceBusMessage));
    }
  }
}
