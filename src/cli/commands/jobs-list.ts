// `clavata jobs list`: lists jobs, newest first, with the query filters and pagination.

import { toJsonString } from "@bufbuild/protobuf";
import { type Job, JobSchema, JobStatus } from "../../../gen/clavata/shared/v1/public_pb.js";
import { jobQuery } from "../../job-query.js";
import {
  ExitCode,
  flag,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  parseCommandArgs,
  parseDate,
  parseInteger,
  stringValue,
  UsageError,
} from "../args.js";
import type { CommandContext } from "../command-context.js";
import { withGateway } from "../gateway-connection.js";
import { JSON_OPTION } from "../job-options.js";
import { formatTime, statusName } from "../job-output.js";

/** The help of `clavata jobs list`. */
export const JOBS_LIST_HELP = `Usage: clavata jobs list [options]

Lists jobs, newest first. Every filter given must hold. Without --all it prints one page and says how to get the
next one.

Filters (times are ISO 8601, such as 2025-01-31 or 2025-01-31T12:00:00Z, or epoch milliseconds):
  --status <s>               pending, running, completed, failed or canceled
  --policy <id>              only jobs of this policy
  --created-after <time>     created at or after (see --exclusive)
  --created-before <time>    created at or before
  --updated-after <time>     last updated at or after
  --updated-before <time>    last updated at or before
  --completed-after <time>   completed at or after (a job that has not ended matches no completed range)
  --completed-before <time>  completed at or before
  --exclusive                time ranges leave out their ends (after < t < before)

Pages:
  --page-size <n>            jobs per page, 1 to 1000 (default: the gateway's, 10; with --all, 100)
  --page-token=<token>       the page after the one that printed this token
  --all                      every page, one after the other

Output:
  --json                     one job per line, as proto3 JSON (the next page token goes to standard error)

${GLOBAL_OPTIONS_HELP}

Example:
  clavata jobs list --status completed --policy policy-violence --created-after 2025-01-01 --all`;

const statuses: Record<string, JobStatus> = {
  pending: JobStatus.PENDING,
  running: JobStatus.RUNNING,
  completed: JobStatus.COMPLETED,
  failed: JobStatus.FAILED,
  canceled: JobStatus.CANCELED,
  cancelled: JobStatus.CANCELED,
};

/** Runs `clavata jobs list`; returns the exit code. Throws UsageError for bad usage. */
export async function jobsListCommand(context: CommandContext): Promise<number> {
  const command = "jobs list";
  const { values } = parseCommandArgs(
    context.argv,
    {
      ...GLOBAL_OPTIONS,
      ...JSON_OPTION,
      status: { type: "string" },
      policy: { type: "string", short: "p" },
      "created-after": { type: "string" },
      "created-before": { type: "string" },
      "updated-after": { type: "string" },
      "updated-before": { type: "string" },
      "completed-after": { type: "string" },
      "completed-before": { type: "string" },
      exclusive: { type: "boolean" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
      all: { type: "boolean" },
    },
    command,
    { positionals: false },
  );
  const query = jobQuery();
  const statusText = stringValue(values, "status");
  if (statusText !== undefined) {
    const status = statuses[statusText.toLowerCase()];
    if (status === undefined)
      throw new UsageError(
        `--status must be one of pending, running, completed, failed, canceled; got "${statusText}"`,
        command,
      );
    query.status(status);
  }
  const policy = stringValue(values, "policy");
  if (policy !== undefined) {
    if (policy.trim() === "") throw new UsageError("--policy needs a policy id", command);
    query.policy(policy);
  }
  const inclusive = !flag(values, "exclusive");
  for (const field of ["created", "updated", "completed"] as const) {
    const afterText = stringValue(values, `${field}-after`);
    const beforeText = stringValue(values, `${field}-before`);
    if (afterText === undefined && beforeText === undefined) continue;
    const after = afterText === undefined ? undefined : parseDate(afterText, `--${field}-after`, command);
    const before = beforeText === undefined ? undefined : parseDate(beforeText, `--${field}-before`, command);
    if (after !== undefined && before !== undefined && after > before) {
      throw new UsageError(`--${field}-after is later than --${field}-before; swap them`, command);
    }
    if (field === "created") query.createdBetween(after, before, { inclusive });
    else if (field === "updated") query.updatedBetween(after, before, { inclusive });
    else query.completedBetween(after, before, { inclusive });
  }
  const pageSizeText = stringValue(values, "page-size");
  const pageSize = pageSizeText === undefined ? undefined : parseInteger(pageSizeText, "--page-size", 1, 1000, command);
  const pageToken = stringValue(values, "page-token");
  const all = flag(values, "all");
  if (all && pageToken !== undefined)
    throw new UsageError("--all starts from the first page; drop --page-token", command);
  const json = flag(values, "json");

  const { signal } = context;
  return withGateway(values, command, context, async (client) => {
    const out = context.stdout;
    let count = 0;
    const header = () => {
      if (!json && count === 0)
        out.write(`${"JOB".padEnd(36)}  ${"STATUS".padEnd(9)}  ${"POLICY".padEnd(20)}  RESULTS  CREATED\n`);
    };
    const print = (job: Job) => {
      header();
      count++;
      if (json) {
        out.write(`${toJsonString(JobSchema, job)}\n`);
        return;
      }
      out.write(
        `${job.jobUuid.padEnd(36)}  ${statusName(job.status).padEnd(9)}  ${(job.policyId ?? "-").padEnd(20)}  ${String(job.results.length).padEnd(7)}  ${formatTime(job.created)}\n`,
      );
    };
    let nextPageToken = "";
    if (all) {
      for await (const job of client.listAllJobs(query, { pageSize: pageSize ?? 100, signal })) print(job);
    } else {
      const page = await client.listJobs(
        { query, ...(pageSize !== undefined ? { pageSize } : {}), ...(pageToken !== undefined ? { pageToken } : {}) },
        { signal },
      );
      page.jobs.forEach(print);
      nextPageToken = page.nextPageToken;
    }
    if (!json) {
      if (count === 0) out.write("no jobs match\n");
      else out.write(`\n${count === 1 ? "1 job" : `${count} jobs`}${all ? "" : " on this page"}\n`);
    }
    if (nextPageToken !== "") {
      const more = `next page: --page-token=${nextPageToken} (or --all for every page)\n`;
      if (json) context.stderr.write(more);
      else out.write(more);
    }
    return ExitCode.OK;
  });
}
