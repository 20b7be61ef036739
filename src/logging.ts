// The client's log: level filtering and secret scrubbing in front of the
// caller's logger, so no code path can log the API key by accident.

/** How much the client logs: "debug" logs every call and attempt, "info" adds retries, "warn" and "error" less. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "off";

/**
 * Where the client logs. `console` fits; so do pino, winston and most other loggers. Each method gets one
 * line of text that never contains the API key.
 */
export interface ClavataLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A leveled, scrubbed log. @internal */
export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };

/** The log that discards everything. @internal */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Wraps a logger: drops lines below `level`, removes secrets with `redact`, prefixes "[clavata] ", and never lets
 * a throwing logger break a call.
 * @internal
 */
export function createLog(logger: ClavataLogger | undefined, level: LogLevel, redact: (text: string) => string): Log {
  if (logger === undefined || level === "off") return silentLog;
  const emit = (at: Exclude<LogLevel, "off">) => (message: string) => {
    if (rank[at] < rank[level]) return;
    try {
      logger[at](`[clavata] ${redact(message)}`);
    } catch {
      // A broken logger must not turn a successful call into a failed one.
    }
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/**
 * Returns a function that replaces every occurrence of `secret` in a text with "[redacted]". @internal
 */
export function createRedactor(secret: string | undefined): (text: string) => string {
  if (secret === undefined || secret === "") return (text) => text;
  return (text) => (text.includes(secret) ? text.split(secret).join("[redacted]") : text);
}
