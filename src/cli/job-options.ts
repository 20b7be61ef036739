// The options and the argument the jobs commands share: --json, --poll-interval and --wait-timeout, and the job
// UUID that get and wait take.

import { JOB_UUID_PATTERN } from "../validation/limits.js";
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

/**
 * The one job UUID a command takes. Throws UsageError for none, more than one, or one that is not a UUID (the
 * gateway's job ids are UUIDs, and the tool, unlike the SDK's `limits` option, has no way to relax that).
 */
export function jobUuidArgument(positionals: string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "give the job's UUID, as printed by jobs create or jobs list"
        : `give one job UUID, not ${positionals.length} arguments`,
      command,
    );
  }
  const jobUuid = positionals[0]!;
  if (!JOB_UUID_PATTERN.test(jobUuid)) {
    const shown = jobUuid.length > 60 ? `${jobUuid.slice(0, 60)}…` : jobUuid;
    throw new UsageError(
      `${JSON.stringify(shown)} is not a job UUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6); give the UUID that jobs create or jobs list printed`,
      command,
    );
  }
  return jobUuid;
}
