// `clavata jobs wait`: polls a job until it ends, then shows it.

import { GLOBAL_OPTIONS, GLOBAL_OPTIONS_HELP, parseCommandArgs } from "../args.js";
import type { CommandContext } from "../command-context.js";
import { withGateway } from "../gateway-connection.js";
import { jobUuidArgument, SHOW_JOB_OPTIONS, WAIT_OPTIONS, waitOptions } from "../job-options.js";
import { showJob } from "../job-output.js";

/** The help of `clavata jobs wait`. */
export const JOBS_WAIT_HELP = `Usage: clavata jobs wait <job-uuid> [options]

Polls a job until it is COMPLETED, FAILED or CANCELED, then prints it like "jobs get". Exits with 1 when the job
FAILED or was CANCELED.

Options:
  --poll-interval <time>   time between polls (default 1s)
  --wait-timeout <time>    give up after this long (default 5m)
  --json                   print the job as proto3 JSON on one line
  --fail-on-match          exit with 3 when any result matched

${GLOBAL_OPTIONS_HELP}`;

/** Runs `clavata jobs wait`; returns the exit code. Throws UsageError for bad usage. */
export async function jobsWaitCommand(context: CommandContext): Promise<number> {
  const command = "jobs wait";
  const { values, positionals } = parseCommandArgs(
    context.argv,
    { ...GLOBAL_OPTIONS, ...SHOW_JOB_OPTIONS, ...WAIT_OPTIONS },
    command,
  );
  const waiting = waitOptions(values, command, context.signal);
  const jobUuid = jobUuidArgument(positionals, command);
  return withGateway(values, command, context, async (client) => {
    const job = await client.waitForJob(jobUuid, waiting);
    return showJob(job, values, context, { failOnFinalError: true });
  });
}
