export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * One line per event on stderr: `time level message key=value ...`. Callers
 * pass only what is safe to log; no credential ever reaches a field.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const at =
    (lineLevel: LogLevel) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      if (ORDER[lineLevel] < ORDER[level]) return;
      const rendered = Object.entries(fields)
        .map(
          ([key, value]) =>
            `${key}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`,
        )
        .join(" ");
      write(
        `${new Date().toISOString()} ${lineLevel.toUpperCase()} ${message}${rendered ? ` ${rendered}` : ""}\n`,
      );
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
