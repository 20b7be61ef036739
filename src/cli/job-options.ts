// The options and the argument the jobs commands share: --json, --poll-interval and --wait-timeout, and the job
// UUID that get and wait take.

import { type OptionSpecs, type ParsedValues, parseDuration, stringValue, UsageError } from "./args.js";

/** `--json`. */
export const JSON_OPTION = { json: { type: "boolean" } } as const satisfies OptionSpecs;

/** How a shown job is printed and what it exits with: `--json` and `--fail-on-match`. */
export const SHOW_JOB_OPTIONS = { ...JSON_OPTION, "fail-on-match": { type: "boolean" } } as const satisfies OptionSpecs;

/** `--poll-interval` and `--wait-timeout`, for jobs wait and jobs create --wait. */
export const WAIT_OPTIONS = {
  "poll-interval": { type: "string" },
  "wait-timeout": { type: "string" },
} as const satisfies OptionSpecs;

/** The options of `client.waitForJob` the wait options give: polls every 1 s and gives up after 5 minutes by default. */
export function waitOptions(values: ParsedValues, command: string, signal: AbortSignal) {
  const poll = stringValue(values, "poll-interval");
  const limit = stringValue(values, "wait-timeout");
  return {
    pollIntervalMs: poll === undefined ? 1000 : parseDuration(poll, "--poll-interval", command),
    timeoutMs: limit === undefined ? 300_000 : parseDuration(limit, "--wait-timeout", command),
    signal,
  };
}

/** The one job UUID a command takes. Throws UsageError for none or more than one. */
export function jobUuidArgument(positionals: string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "give the job's UUID, as printed by jobs create or jobs list"
        : `give one job UUID, not ${positionals.length} arguments`,
      command,
    );
  }
  return positionals[0]!;
}
