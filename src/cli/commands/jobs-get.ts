// `clavata jobs get`: shows a job and, once it has completed, its results.

import { GLOBAL_OPTIONS, GLOBAL_OPTIONS_HELP, parseCommandArgs } from "../args.js";
import type { CommandContext } from "../command-context.js";
import { withGateway } from "../gateway-connection.js";
import { jobUuidArgument, SHOW_JOB_OPTIONS } from "../job-options.js";
import { showJob } from "../job-output.js";

/** The help of `clavata jobs get`. */
export const JOBS_GET_HELP = `Usage: clavata jobs get <job-uuid> [options]

Prints a job: its status, policy, times and, once it has completed, one result per item.

Options:
  --json            print the job as proto3 JSON on one line
  --fail-on-match   exit with 3 when any result matched

${GLOBAL_OPTIONS_HELP}`;

/** Runs `clavata jobs get`; returns the exit code. Throws UsageError for bad usage. */
export async function jobsGetCommand(context: CommandContext): Promise<number> {
  const command = "jobs get";
  const { values, positionals } = parseCommandArgs(context.argv, { ...GLOBAL_OPTIONS, ...SHOW_JOB_OPTIONS }, command);
  const jobUuid = jobUuidArgument(positionals, command);
  return withGateway(values, command, context, async (client) => {
    const job = await client.getJob(jobUuid, { signal: context.signal });
    return showJob(job, values, context, { failOnFinalError: false });
  });
}
