import { z } from "zod";
import { LIMITS } from "../../domain/limits.js";
import { messageId, messageResponse } from "./messages.js";

export const redriveBody = z
  .union([
    z.strictObject({ messageIds: z.array(messageId).min(1).max(LIMITS.redriveChunk) }),
    z.strictObject({ all: z.literal(true) }),
  ])
  .meta({ id: "Redrive" });

export const redriveResponse = z
  .object({
    redriven: z.int(),
    remaining: z.int(),
    taskId: z.string().optional(),
    status: z.enum(["running", "done", "failed"]).optional(),
  })
  .meta({ id: "RedriveResult" });

export const deadLettersResponse = z
  .object({ messages: z.array(messageResponse), nextCursor: z.string().optional() })
  .meta({ id: "DeadLetters" });
