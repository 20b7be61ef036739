// Command-line arguments: the global options every command shares, finding the command words among the options,
// strict parsing with node:util parseArgs, and the checks of option values. Every mistake here is a UsageError,
// which the entry point reports with exit code 2.

import { type ParseArgsConfig, parseArgs } from "node:util";
import { didYouMean } from "../emulator/nearest-word.js";

/** The exit codes of `clavata`. */
export const ExitCode = {
  /** Every item got a result (and, with --fail-on-match, none matched or was refused). */
  OK: 0,
  /** A call failed, or an item could not be evaluated. */
  FAILURE: 1,
  /** A bad command line or bad input: an unknown flag, a bad value, an unreadable or malformed file. */
  USAGE: 2,
  /** With --fail-on-match: at least one item matched the policy or was refused. */
  MATCHED: 3,
  /** Interrupted by SIGINT (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

/**
 * A mistake in the command line or in the input it names. `command` is the command it belongs to (such as
 * "evaluate" or "jobs list"), so the message can point at that command's help.
 */
export class UsageError extends Error {
  override readonly name: string = "UsageError";
  /** The command the mistake belongs to, such as "jobs list"; "" for the top level. */
  readonly command: string;

  /** Makes a usage error; `message` says what to fix. */
  constructor(message: string, command = "") {
    super(message);
    this.command = command;
  }
}

/** The option definitions parseArgs takes. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** The options every command except `emulator` takes. */
export const GLOBAL_OPTIONS = {
  "api-key": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  insecure: { type: "boolean" },
  timeout: { type: "string" },
  emulator: { type: "boolean" },
  rest: { type: "boolean" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** The help text of the global options, shared by every command's help. */
export const GLOBAL_OPTIONS_HELP = `Global options (before or after the command):
  --api-key <key>      API key (default: $CLAVATA_API_KEY; prefer the variable, flags show in ps)
  --host <host>        gateway host (default: $CLAVATA_HOST or gateway.app.clavata.ai)
  --port <port>        gateway port (default: $CLAVATA_PORT or 443)
  --insecure           plaintext HTTP/2, for a local gateway or emulator (default: $CLAVATA_INSECURE)
  --timeout <time>     time limit of each call, such as 30s, 1500ms or 2m; a bare number is seconds
                       (default: $CLAVATA_TIMEOUT or 60s)
  --emulator           start an in-process gateway emulator with the sample policies and use it
  --rest               use the gateway's REST/JSON surface (port 8443) instead of gRPC (default: $CLAVATA_REST)
  --verbose            log calls and retries to standard error
  -h, --help           show help`;

/** Where the command words are in argv, and the arguments that remain. */
export interface CommandWords {
  /** The command words, such as ["jobs", "list"]; empty when none was given. */
  words: string[];
  /** argv without the command words. */
  rest: string[];
}

/**
 * Finds up to `max` command words in argv: the first tokens that are neither options nor the value of a global
 * string option (so `clavata --host h evaluate …` finds "evaluate"). Stops at `--`.
 */
export function findCommandWords(argv: readonly string[], max: number, start = 0): CommandWords {
  const valued = new Set(
    Object.entries(GLOBAL_OPTIONS)
      .filter(([, s]) => s.type === "string")
      .map(([n]) => n),
  );
  const words: string[] = [];
  const positions = new Set<number>();
  for (let i = start; i < argv.length && words.length < max; i++) {
    const token = argv[i]!;
    if (token === "--") break;
    if (token.startsWith("-") && token !== "-") {
      const name = token.replace(/^--?/, "");
      if (!name.includes("=") && valued.has(name)) i++;
      continue;
    }
    words.push(token);
    positions.add(i);
  }
  return { words, rest: argv.filter((_, i) => !positions.has(i)) };
}

/** Whether argv asks for help (`-h` or `--help` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const token of argv) {
    if (token === "--") return false;
    if (token === "-h" || token === "--help") return true;
  }
  return false;
}

/** Parsed options: strings, booleans, or lists of strings for repeatable options. */
export type ParsedValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/**
 * Parses a command's arguments strictly: unknown options, a missing value or a value given to a flag are
 * UsageErrors that name the option and the command.
 */
export function parseCommandArgs(
  argv: readonly string[],
  options: OptionSpecs,
  command: string,
  { positionals = true }: { positionals?: boolean } = {},
): { values: ParsedValues; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError(describeParseError(error, command, options), command);
  }
  const values = parsed.values as ParsedValues;
  checkNoEmptyValues(values, options, command);
  return { values, positionals: parsed.positionals };
}

/**
 * Refuses an option given an empty (or blank) value, such as `--host ""` or `--policy=`: no option of the tool means
 * anything by it, and quietly taking it as "not given" would use a default (the public gateway for `--host`) that
 * the user did not ask for. The value itself is never repeated: it may be a secret (`--api-key`).
 */
function checkNoEmptyValues(values: ParsedValues, options: OptionSpecs, command: string): void {
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== "string") continue;
    const value = values[name];
    const given = value === undefined ? [] : Array.isArray(value) ? value : [value];
    if (given.some((v) => typeof v === "string" && v.trim() === "")) {
      throw new UsageError(`--${name} needs a non-empty value`, command);
    }
  }
}

/** Every way to write the options: `--name` and, where there is one, `-n`. */
function optionSpellings(options: OptionSpecs): string[] {
  return Object.entries(options).flatMap(([name, spec]) => [
    `--${name}`,
    ...(spec.short === undefined ? [] : [`-${spec.short}`]),
  ]);
}

function describeParseError(error: unknown, command: string, options: OptionSpecs): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  // parseArgs names an option as '--name' or, for one with a short form, as '-n, --name <value>'.
  const option = /'(?:-\w, )?(-{1,2}[^' ,]+)/.exec(message)?.[1];
  const where = command === "" ? "clavata" : `clavata ${command}`;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const suggestion = option === undefined ? "" : didYouMean(option, optionSpellings(options));
      return suggestion !== ""
        ? `unknown option ${option} for ${where}${suggestion}`
        : `unknown option ${option ?? message} for ${where}; to pass text that starts with "-", put it after "--"`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `${where} takes no arguments, only options (got ${/'([^']*)'/.exec(message)?.[1] ?? "an argument"})`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/ambiguous/.test(message))
        return `${option ?? "an option"} needs a value, but the next argument is another option`;
      if (/does not take an argument/.test(message)) return `${option ?? "an option"} is a flag and takes no value`;
      return `${option ?? "an option"} needs a value`;
    default:
      return message;
  }
}

/** The last value of an option that may be given once (a repeated option keeps its last value). */
export function stringValue(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value.length === 0 ? undefined : String(value[value.length - 1]);
  return typeof value === "string" ? value : undefined;
}

/** Every value of a repeatable string option. */
export function stringValues(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Whether a boolean flag was given. */
export function flag(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}

/** Parses a whole number from `min` to `max`. Throws UsageError naming the option. */
export function parseInteger(value: string, option: string, min: number, max: number, command: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
    throw new UsageError(`${option} must be a whole number from ${min} to ${max}; got "${value}"`, command);
  }
  return n;
}

/** Parses a port, 1 to 65535 (0 too when `allowZero`, for "any free port"). Throws UsageError. */
export function parsePort(value: string, option: string, command: string, allowZero = false): number {
  return parseInteger(value, option, allowZero ? 0 : 1, 65535, command);
}

/** Parses a threshold, a number from 0 to 1. Throws UsageError. */
export function parseThreshold(value: string, option: string, command: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new UsageError(`${option} must be a number from 0 to 1, such as 0.5; got "${value}"`, command);
  }
  return n;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as "30s", "1500ms", "2m" or "1h"; a bare number is seconds. Returns milliseconds (at
 * least 1). Throws UsageError.
 */
export function parseDuration(value: string, option: string, command: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  const ms = match ? Number(match[1]) * durationUnits[match[2] ?? "s"]! : Number.NaN;
  if (!Number.isFinite(ms) || ms < 1) {
    throw new UsageError(
      `${option} must be a duration such as 30s, 1500ms, 2m or 1h (a bare number is seconds); got "${value}"`,
      command,
    );
  }
  return Math.round(ms);
}

/** Parses a point in time: an ISO 8601 date or date-time, or milliseconds since the epoch. Throws UsageError. */
export function parseDate(value: string, option: string, command: string): Date {
  const date = /^\d+$/.test(value.trim()) ? new Date(Number(value)) : new Date(value);
  if (value.trim() === "" || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${option} must be an ISO 8601 date such as 2025-01-31 or 2025-01-31T12:00:00Z, or epoch milliseconds; got "${value}"`,
      command,
    );
  }
  return date;
}

/** Parses a boolean environment variable: 1, true, yes or on (any case) is true; unset or empty is undefined. */
export function parseEnvFlag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new UsageError(`${name} must be true or false (1/0, yes/no, on/off); got "${value}"`);
}
