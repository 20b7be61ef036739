// How the jobs commands show a job: a block of fields and a results table (or proto3 JSON), and the exit code its
// results and status come to.

import { toJsonString } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Job, JobSchema, JobStatus } from "../../gen/clavata/shared/v1/public_pb.js";
import { ExitCode, flag, type ParsedValues } from "./args.js";
import type { CliIo, CliOutput } from "./command-context.js";
import { type ItemResult, resultOfReport } from "./item-result.js";
import { ResultTally } from "./result-tally.js";
import { ResultWriter } from "./result-writer.js";

/** A timestamp as ISO 8601, or "-" when unset. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts === undefined ? "-" : timestampDate(ts).toISOString();
}

/** A job status by name, such as COMPLETED. */
export function statusName(status: JobStatus): string {
  return JobStatus[status] ?? String(status);
}

/** The job's results as item results: ids from each item's `id` metadata, else its content hash. */
function jobResults(job: Job): ItemResult[] {
  return job.results.map((r, i) => {
    const report = r.report;
    const hash = report?.contentHash ?? "";
    const id = report?.contentMetadata.id ?? (hash || `#${i + 1}`);
    return resultOfReport({ index: i, id }, report, hash, r.jobUuid || job.jobUuid);
  });
}

/** Prints a job to `out` as text (or proto3 JSON on one line) and returns the tally of its results. */
export function printJob(job: Job, json: boolean, out: CliOutput): ResultTally {
  const tally = new ResultTally();
  const results = jobResults(job);
  for (const result of results) tally.add(result);
  if (json) {
    out.write(`${toJsonString(JobSchema, job)}\n`);
    return tally;
  }
  const rows: Array<[string, string]> = [
    ["job", job.jobUuid],
    ["status", statusName(job.status)],
    ["policy", `${job.policyId ?? "-"}${job.policyVersionId ? ` (version ${job.policyVersionId})` : ""}`],
    ["created", formatTime(job.created)],
    ["updated", formatTime(job.updated)],
    ["completed", formatTime(job.completed)],
  ];
  if (job.contentData.length > 0) rows.push(["items", String(job.contentData.length)]);
  rows.push(["results", String(job.results.length)]);
  for (const [key, value] of rows) out.write(`${key.padEnd(10)}${value}\n`);
  if (results.length > 0) {
    out.write("\n");
    const writer = new ResultWriter({ out, json: false, ordered: false, ids: results.map((r) => r.id) });
    for (const result of results) writer.add(result);
    out.write(`\n${tally.lines().join("\n")}\n`);
  }
  return tally;
}

/**
 * Prints a job as --json says, and returns the exit code it comes to (see jobExitCode; --fail-on-match from
 * `values`): the end of jobs get, jobs wait and jobs create --wait.
 */
export function showJob(
  job: Job,
  values: ParsedValues,
  io: Pick<CliIo, "stdout" | "stderr">,
  { failOnFinalError }: { failOnFinalError: boolean },
): number {
  const tally = printJob(job, flag(values, "json"), io.stdout);
  return jobExitCode(job, tally, { failOnMatch: flag(values, "fail-on-match"), failOnFinalError }, io.stderr);
}

/**
 * The exit code of a shown job: 1 when it FAILED or was CANCELED (if `failOnFinalError`, saying so on `stderr`) or
 * an item failed, 3 with `failOnMatch` when an item matched or was refused, else 0.
 */
function jobExitCode(
  job: Job,
  tally: ResultTally,
  { failOnMatch, failOnFinalError }: { failOnMatch: boolean; failOnFinalError: boolean },
  stderr: CliOutput,
): number {
  if (failOnFinalError && (job.status === JobStatus.FAILED || job.status === JobStatus.CANCELED)) {
    stderr.write(`clavata jobs: job ${job.jobUuid} ended ${statusName(job.status)}\n`);
    return ExitCode.FAILURE;
  }
  if (tally.counts.failed > 0) return ExitCode.FAILURE;
  if (failOnMatch && tally.counts.match + tally.counts.refused > 0) return ExitCode.MATCHED;
  return ExitCode.OK;
}
