import { app } from "@azure/functions";
import { closeConveyor } from "./runtime.js";

/**
 * Closes the worker's clients (the store, Service Bus) when the host shuts
 * the worker down gracefully. The Node worker runs `appTerminate` hooks on
 * the host's WorkerTerminate message and exits after them
 * (Azure/azure-functions-nodejs-worker src/eventHandlers/terminateWorker.ts);
 * the hook does not run when the worker is killed, and has only the host's
 * grace period (@azure/functions types/hooks/registerHook.d.ts, `appTerminate`;
 * the sample Azure/azure-functions-nodejs-samples ts/src/appHooks1.ts).
 * No message is lost when it does not run: every answered write is already
 * durable, and an unfinished push job or redrive task is taken up again. The
 * close sends the lifetime totals the worker counted in its last second
 * (src/adapters/cosmos/totals.ts); a worker killed first leaves them
 * uncounted (docs/reliability.md, "Totals").
 */
app.hook.appTerminate(closeConveyor);
