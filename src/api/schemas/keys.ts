import { z } from "zod";
import { grant, listOf, queueName, timestamp } from "./common.js";

export const createKeyBody = z
  .strictObject({
    name: z.string().min(1).max(128),
    roles: z.array(z.literal("admin")).max(1).optional(),
    grants: z
      .record(z.union([queueName, z.literal("*")]), z.array(grant).min(1))
      .optional()
      .meta({ description: 'Grants by queue name, or "*" for every queue' }),
  })
  .meta({ id: "CreateKey" });

export const keyResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    grants: z.record(z.string(), z.array(grant)),
    createdAt: timestamp,
  })
  .meta({ id: "ApiKey" });

export const keyPageResponse = listOf(keyResponse, "KeyPage");

/** `POST /v1/keys`: the key with its secret, which no other answer shows. */
export const createdKeyResponse = keyResponse
  .extend({ key: z.string().meta({ description: "The secret key; shown once, at creation" }) })
  .meta({ id: "CreatedApiKey" });
