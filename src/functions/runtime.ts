import { type Conveyor, createConveyor } from "../app.js";
import { loadConfig } from "../config.js";
import { createLogger } from "../logger.js";

let instance: Promise<Conveyor> | undefined;

/** One Conveyor per Functions worker, built on first use from the app settings. */
export function conveyor(): Promise<Conveyor> {
  instance ??= (async () => {
    const config = loadConfig();
    return createConveyor({ config, logger: createLogger(config.logLevel) });
  })();
  return instance;
}
