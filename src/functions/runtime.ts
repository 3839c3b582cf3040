import { type Conveyor, createFunctionsConveyor } from "../app.js";
import { loadConfig } from "../config.js";
import { createLogger } from "../logger.js";

/**
 * Runs `start` once and shares its promise with every caller, concurrent ones
 * included, but forgets a rejection, so the next call starts again: right
 * after `azd up` the app's role assignments can take up to 30 minutes to
 * take effect (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting),
 * and Key Vault or Cosmos DB answer 403 until then. Caching the failure
 * would fail every call until the instance is recycled.
 */
function startOnce<T>(start: () => Promise<T>): { get(): Promise<T>; started(): Promise<T> | undefined } {
  let started: Promise<T> | undefined;
  return {
    get() {
      started ??= start().catch((error: unknown) => {
        started = undefined;
        throw error;
      });
      return started;
    },
    started: () => started,
  };
}

const instance = startOnce(async () => {
  const config = loadConfig();
  return createFunctionsConveyor({ config, logger: createLogger(config.logLevel) });
});

/** One Conveyor per Functions worker, built on first use from the app settings. */
export const conveyor = (): Promise<Conveyor> => instance.get();

/** Closes the worker's Conveyor if one was built; a worker that served nothing has nothing to close. */
export async function closeConveyor(): Promise<void> {
  const started = instance.started();
  if (!started) return;
  const built = await started.catch(() => undefined);
  await built?.close();
}
