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
 * The shortest API key that is redacted: 16 characters. A shorter "key" (a placeholder such as "key" or "emulator")
 * is a common word, and replacing it would mangle ordinary messages ("API [redacted] not accepted"); real Clavata
 * keys are far longer. The client warns once when it is given a shorter key.
 */
export const MIN_REDACTED_KEY_LENGTH = 16;

/**
 * Returns a function that replaces the secret with "[redacted]" wherever it stands as a whole token: not directly
 * preceded or followed by a letter or digit (so it never cuts a word apart), where a percent escape such as "%20"
 * also counts as a boundary. Letter case does not matter: HTTP/2 lower-cases header names, so a key echoed into one
 * comes back case-folded and is still the key. Secrets shorter than MIN_REDACTED_KEY_LENGTH are not redacted (see
 * there).
 * @internal
 */
export function createRedactor(secret: string | undefined): (text: string) => string {
  if (secret === undefined || secret.length < MIN_REDACTED_KEY_LENGTH) return (text) => text;
  const escaped = secret.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  const token = new RegExp(`(?<=^|[^A-Za-z0-9]|%[0-9A-Fa-f]{2})${escaped}(?![A-Za-z0-9])`, "gi");
  const lower = secret.toLowerCase();
  return (text) => {
    const whole = text.toLowerCase().includes(lower) ? text.replace(token, "[redacted]") : text;
    return redactCutKey(whole, lower);
  };
}

/** The shortest start of the key that is redacted where an excerpt was cut (see redactCutKey). */
const MIN_CUT_KEY_LENGTH = 8;

/**
 * Redacts the start of the key where an excerpt of someone else's text was cut short: at the end of the text, or
 * before a "…". An answer that echoes the key, shortened to 80 characters for an error message, can end inside it;
 * the whole-key rule does not see those first characters, but they are a piece of the secret all the same. Unlike
 * a whole key, the piece needs no boundary before it: an echo may glue the key to whatever the server put first.
 */
function redactCutKey(text: string, lowerSecret: string): string {
  let out = text;
  let cut = out.length;
  for (;;) {
    const before = out.slice(Math.max(0, cut - lowerSecret.length), cut).toLowerCase();
    for (let n = Math.min(lowerSecret.length - 1, before.length); n >= MIN_CUT_KEY_LENGTH; n--) {
      const start = cut - n;
      if (before.endsWith(lowerSecret.slice(0, n))) {
        out = `${out.slice(0, start)}[redacted]${out.slice(cut)}`;
        cut = start;
        break;
      }
    }
    if (cut === 0) return out;
    cut = out.lastIndexOf("…", cut - 1);
    if (cut < 0) return out;
  }
}
