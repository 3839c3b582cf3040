import { join } from "node:path";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  QueueServiceClient,
  StorageSharedKeyCredential,
} from "@azure/storage-queue";
import {
  type LocalSigningKey,
  loadOrCreateSigningKey,
  signDevToken,
} from "../../adapters/files/local-secrets.js";
import { ConveyorClient } from "../../client/index.js";
import { inChunks } from "./loaders.js";
import { freePort, ROOT, startProcess, type Target } from "./processes.js";

export const BODY = "x".repeat(1024);
// Azurite's well-known development account; it exists only inside Azurite.
export const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** The three servers, each its own process, and what the scenarios drive them with. */
export interface Targets {
  conveyor: Target;
  floor: Target;
  azurite: Target;
  /** Conveyor's development token (tenant `bench`). */
  token: string;
  /** Azurite's account SAS. */
  sas: string;
  conveyorBacklog(queue: string): Promise<number>;
  azuriteBacklog(queue: string): Promise<number>;
  /** Tops a queue up to `depth` available messages. */
  fillConveyor(queue: string, depth: number): Promise<void>;
  fillAzurite(queue: string, depth: number): Promise<void>;
  purgeConveyor(queue: string): Promise<unknown>;
  clearAzurite(queue: string): Promise<unknown>;
}

/** The development token every part of the benchmark drives its local hosts with: tenant `bench`, admin, an hour. */
export const benchToken = (key: LocalSigningKey) =>
  signDevToken(key, {
    tenant: "bench",
    subject: "bench",
    roles: ["admin"],
    ttlSeconds: 3600,
    issuer: "conveyor-local",
    audience: "conveyor",
  });

/**
 * Starts Conveyor's local host (what `npm start` runs, rate limiting off),
 * the floor and Azurite in `scratch`, with their queues. Every process
 * started is in `started`, even when a later one fails to start.
 */
export async function startTargets(
  scratch: string,
  started: Target[],
  log: (line: string) => void,
): Promise<Targets> {
  const dataDir = join(scratch, "conveyor");
  const azuritePort = await freePort();
  const conveyor = await startProcess("Conveyor", process.execPath, [join(ROOT, "dist/src/local/main.js")], {
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_PORT: "0",
    CONVEYOR_RATE_LIMIT: "off",
    CONVEYOR_LOG_LEVEL: "error",
  });
  started.push(conveyor);
  const floor = await startProcess(
    "floor",
    process.execPath,
    [join(ROOT, "dist/src/tools/floor-server.js")],
    {},
  );
  started.push(floor);
  const azurite = await startProcess(
    "Azurite",
    join(ROOT, "node_modules/.bin/azurite-queue"),
    [
      "--queueHost",
      "127.0.0.1",
      "--queuePort",
      String(azuritePort),
      "--location",
      join(scratch, "azurite"),
      "--silent",
      // Loopback only: Azurite would otherwise send its own telemetry out.
      "--disableTelemetry",
    ],
    {},
  );
  started.push(azurite);

  const token = await benchToken(await loadOrCreateSigningKey(dataDir));
  const client = new ConveyorClient({ baseUrl: conveyor.url, token });
  for (const name of ["bench", "steady", "depth"]) {
    await client.createQueue({ name, visibilityTimeoutSeconds: 300, deduplicationWindowSeconds: 0 });
  }
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  const azuriteService = new QueueServiceClient(`${azurite.url}/${AZURITE_ACCOUNT}`, credential);
  for (const name of ["bench", "steady"]) await azuriteService.createQueue(name);
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3_600_000),
      permissions: AccountSASPermissions.parse("rwdlacup"),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
      services: AccountSASServices.parse("q").toString(),
    },
    credential,
  ).toString();

  const conveyorBacklog = async (queue: string) =>
    // The client's keep-alive socket may have sat idle through a load run; a stale one is retried once.
    (await client.stats(queue).catch(() => client.stats(queue))).available;
  const azuriteBacklog = async (queue: string) =>
    (await azuriteService.getQueueClient(queue).getProperties()).approximateMessagesCount ?? 0;
  return {
    conveyor,
    floor,
    azurite,
    token,
    sas,
    conveyorBacklog,
    azuriteBacklog,
    async fillConveyor(queue, depth) {
      const missing = depth - (await conveyorBacklog(queue));
      if (missing <= 0) return;
      if (missing >= 100_000) log(`filling "${queue}" with ${missing.toLocaleString("en")} messages`);
      await inChunks(
        missing,
        100,
        4,
        (size) =>
          client.sendBatch(
            queue,
            Array.from({ length: size }, () => ({ body: BODY })),
          ),
        (done) => log(`  ${done.toLocaleString("en")} / ${missing.toLocaleString("en")}`),
      );
    },
    async fillAzurite(queue, depth) {
      const missing = depth - (await azuriteBacklog(queue));
      const queueClient = azuriteService.getQueueClient(queue);
      if (missing > 0) await inChunks(missing, 1, 32, () => queueClient.sendMessage(BODY));
    },
    purgeConveyor: (queue) => client.purge(queue),
    clearAzurite: (queue) => azuriteService.getQueueClient(queue).clearMessages(),
  };
}
