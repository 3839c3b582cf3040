import { z } from "zod";

export const healthResponse = z
  .object({ status: z.enum(["ok", "unavailable"]), store: z.enum(["sqlite", "cosmos"]), version: z.string() })
  .meta({ id: "Health" });

export const openApiResponse = z
  .looseObject({
    openapi: z.literal("3.1.0"),
    info: z.looseObject({}),
    paths: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "OpenApiDocument" });

export const assetParams = z.strictObject({ asset: z.string().max(256).default("") });
