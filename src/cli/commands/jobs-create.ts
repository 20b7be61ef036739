// `clavata jobs create|get|list|wait`: background jobs, their results, and listing them with the query filters.

import { toJsonString } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Job, JobSchema, JobStatus } from "../../gen/clavata/shared/v1/public_pb.js";
import type { ClavataClient } from "../client.js";
import { AbortedError, ClavataError, EvaluationRefusedError } from "../errors.js";
import { jobQuery } from "../job-query.js";
import { createWebhook } from "../webhooks/request.js";
import { webhookHeaderName, webhookWithSecret } from "../webhooks/secret.js";
import {
  ExitCode,
  flag,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  type ParsedValues,
  parseCommandArgs,
  parseDate,
  parseDuration,
  parseInteger,
  parseThreshold,
  stringValue,
  stringValues,
  UsageError,
} from "./args.js";
import { attributeRefusals } from "./batch-evaluator.js";
import { type CommandContext, INPUT_OPTIONS, INPUT_OPTIONS_HELP, inputSources } from "./command-context.js";
import { connectionSettings, type GatewayConnection, openGateway } from "./gateway-connection.js";
import { contentDataOf, type InputItem, readInputItems } from "./input-items.js";
import { type ItemResult, resultOfReport } from "./item-result.js";
import { reportFailure } from "./report-failure.js";
import { ResultTally } from "./result-tally.js";
import { ResultWriter } from "./result-writer.js";

/** The help of `clavata jobs`. */
export const JOBS_HELP = `Usage: clavata jobs <create|get|list|wait> [options]

Background jobs: the gateway evaluates the content on its own time; poll the job, wait for it, or have the
gateway call a webhook when it is done.

Commands:
  create    create a job from content (same content options as evaluate)
  get       show a job and its results
  list      list jobs, newest first, with filters and pagination
  wait      wait for a job to finish, then show it

Run "clavata jobs <command> --help" for each command's options.`;

/** The help of `clavata jobs create`. */
export const JOBS_CREATE_HELP = `Usage: clavata jobs create --policy <id> [options] [text ...]

Creates a background job that evaluates the content against a policy, and prints it (PENDING at first).

${INPUT_OPTIONS_HELP}

Options:
  -p, --policy <id>         the policy to evaluate against (required)
  --threshold <0..1>        the score at which a label matches (default: the gateway's, 0.5)
  --expedited               ask the gateway for expedited evaluation
  --webhook <url>           have the gateway POST the finished job here (https; http only for loopback)
  --webhook-secret <s>      send this secret with the webhook call, as X-Webhook-Secret, for your receiver to
                            check (default: $CLAVATA_WEBHOOK_SECRET)
  --webhook-header <k=v>    another header for the webhook call (arrives as X-Webhook-<k>), repeatable
  --wait                    wait for the job to finish, then print it with its results
  --poll-interval <time>    with --wait: time between polls (default 1s)
  --wait-timeout <time>     with --wait: give up after this long (default 5m)
  --fail-on-match           with --wait: exit with 3 when any item matched
  --json                    print the job as proto3 JSON on one line

${GLOBAL_OPTIONS_HELP}

Example:
  clavata jobs create --policy policy-violence --input comments.jsonl --webhook https://example.com/hooks/clavata`;

/** The help of `clavata jobs get`. */
export const JOBS_GET_HELP = `Usage: clavata jobs get <job-uuid> [options]

Prints a job: its status, policy, times and, once it has completed, one result per item.

Options:
  --json            print the job as proto3 JSON on one line
  --fail-on-match   exit with 3 when any result matched

${GLOBAL_OPTIONS_HELP}`;

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

const JSON_OPTION = { json: { type: "boolean" } } as const;
const WAIT_OPTIONS = { "poll-interval": { type: "string" }, "wait-timeout": { type: "string" } } as const;

function formatTime(ts: Timestamp | undefined): string {
  return ts === undefined ? "-" : timestampDate(ts).toISOString();
}

function statusName(status: JobStatus): string {
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

/** Prints a job as text (or JSON) and returns the tally of its results. */
function printJob(job: Job, json: boolean): ResultTally {
  const tally = new ResultTally();
  const results = jobResults(job);
  for (const result of results) tally.add(result);
  const out = process.stdout;
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

function exitCodeOf(job: Job, tally: ResultTally, values: ParsedValues, failOnFinalError: boolean): number {
  if (failOnFinalError && (job.status === JobStatus.FAILED || job.status === JobStatus.CANCELED)) {
    process.stderr.write(`clavata jobs: job ${job.jobUuid} ended ${statusName(job.status)}\n`);
    return ExitCode.FAILURE;
  }
  if (tally.counts.failed > 0) return ExitCode.FAILURE;
  if (flag(values, "fail-on-match") && tally.counts.match + tally.counts.refused > 0) return ExitCode.MATCHED;
  return ExitCode.OK;
}

function waitOptions(values: ParsedValues, command: string, signal: AbortSignal) {
  const poll = stringValue(values, "poll-interval");
  const limit = stringValue(values, "wait-timeout");
  return {
    pollIntervalMs: poll === undefined ? 1000 : parseDuration(poll, "--poll-interval", command),
    timeoutMs: limit === undefined ? 300_000 : parseDuration(limit, "--wait-timeout", command),
    signal,
  };
}

/** Runs a call with the connection, reporting a failed call (exit 1) or an interruption (exit 130). */
async function withGateway(
  values: ParsedValues,
  command: string,
  signal: AbortSignal,
  run: (client: ClavataClient, gateway: GatewayConnection) => Promise<number>,
): Promise<number> {
  const gateway = await openGateway(values, command);
  try {
    return await run(gateway.client, gateway);
  } catch (error) {
    if (error instanceof AbortedError && signal.aborted) {
      process.stderr.write(`clavata ${command}: interrupted\n`);
      return ExitCode.INTERRUPTED;
    }
    if (error instanceof ClavataError) return reportFailure(error, command);
    throw error;
  } finally {
    await gateway.close();
  }
}

function jobUuidArgument(positionals: string[], command: string): string {
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

async function createCommand({ argv, signal }: CommandContext): Promise<number> {
  const command = "jobs create";
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      ...GLOBAL_OPTIONS,
      ...INPUT_OPTIONS,
      ...JSON_OPTION,
      ...WAIT_OPTIONS,
      policy: { type: "string", short: "p" },
      threshold: { type: "string" },
      expedited: { type: "boolean" },
      webhook: { type: "string" },
      "webhook-secret": { type: "string" },
      "webhook-header": { type: "string", multiple: true },
      wait: { type: "boolean" },
      "fail-on-match": { type: "boolean" },
    },
    command,
  );
  const policyId = stringValue(values, "policy");
  if (policyId === undefined || policyId.trim() === "") {
    throw new UsageError("--policy is required: the id of the policy the job evaluates against", command);
  }
  const thresholdText = stringValue(values, "threshold");
  const threshold = thresholdText === undefined ? undefined : parseThreshold(thresholdText, "--threshold", command);
  const webhook = webhookOf(values, command);
  const wait = flag(values, "wait");
  for (const option of ["poll-interval", "wait-timeout", "fail-on-match"]) {
    if (!wait && values[option] !== undefined) throw new UsageError(`--${option} goes with --wait`, command);
  }
  const waiting = waitOptions(values, command, signal);
  connectionSettings(values, command);
  const { items } = await readInputItems(inputSources(values, positionals, process.stdin), command);
  const json = flag(values, "json");

  return withGateway(values, command, signal, async (client) => {
    let created: Job;
    try {
      created = await client.createJob(
        {
          policyId,
          contentData: items.map((item) => contentDataOf(item, false)),
          ...(threshold !== undefined ? { threshold } : {}),
          ...(flag(values, "expedited") ? { expedited: true } : {}),
          ...(webhook !== undefined ? { webhook: { url: webhook.url, extraHeaders: webhook.extraHeaders } } : {}),
        },
        { signal },
      );
    } catch (error) {
      if (!(error instanceof EvaluationRefusedError)) throw error;
      reportRefusedJob(items, error);
      return ExitCode.FAILURE;
    }
    if (!wait) {
      printJob(created, json);
      if (!json && webhook !== undefined) {
        process.stdout.write(
          `webhook   ${webhook.url}${webhook.secretHeader ? ` (secret in ${webhook.secretHeader})` : ""}\n`,
        );
      }
      return ExitCode.OK;
    }
    process.stderr.write(`job ${created.jobUuid} created (${statusName(created.status)}); waiting for it to finish…\n`);
    const job = await client.waitForJob(created.jobUuid, waiting);
    return exitCodeOf(job, printJob(job, json), values, true);
  });
}

/**
 * A refused CreateJob: the gateway created no job. Says which items it refused and why (pinned to items by their
 * content hash), so that the user can drop or fix them.
 */
function reportRefusedJob(items: readonly InputItem[], error: EvaluationRefusedError): void {
  const { refused, unmatched } = attributeRefusals(items, error.refusals);
  const count = error.refusals.length === 1 ? "1 item" : `${error.refusals.length} items`;
  const lines = [`clavata jobs create: the gateway refused ${count}, so it created no job:`];
  const width = Math.min(40, Math.max(2, ...refused.map((r) => r.item.id.length)));
  for (const { item, refusal } of refused)
    lines.push(`  ${item.id.padEnd(width)}  ${refusal.reason}: ${refusal.message}`);
  for (const refusal of unmatched)
    lines.push(`  (content hash ${refusal.contentHash || "not given"})  ${refusal.reason}: ${refusal.message}`);
  lines.push(
    "Remove or fix these items and create the job again; clavata evaluate reports refused items without stopping.",
  );
  process.stderr.write(`${lines.join("\n")}\n`);
}

/** The webhook the options describe, or undefined; never echoes the secret. */
function webhookOf(
  values: ParsedValues,
  command: string,
): { url: string; extraHeaders: Record<string, string>; secretHeader?: string } | undefined {
  const url = stringValue(values, "webhook");
  const secret = stringValue(values, "webhook-secret") ?? (process.env.CLAVATA_WEBHOOK_SECRET || undefined);
  const headers: Record<string, string> = {};
  for (const pair of stringValues(values, "webhook-header")) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new UsageError(
        `--webhook-header takes name=value, such as Tenant=acme; got "${pair.slice(0, 40)}"`,
        command,
      );
    headers[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  if (url === undefined) {
    if (values["webhook-secret"] !== undefined || Object.keys(headers).length > 0) {
      throw new UsageError("--webhook-secret and --webhook-header go with --webhook <url>", command);
    }
    return undefined;
  }
  try {
    if (secret !== undefined) {
      const built = webhookWithSecret(url, secret, { extraHeaders: headers });
      return { ...built, secretHeader: webhookHeaderName() };
    }
    const built = createWebhook(url, headers);
    return { url: built.url ?? url, extraHeaders: { ...(built.extraHeaders ?? {}) } };
  } catch (error) {
    // Both the SDK's messages here say what is wrong without repeating the secret.
    throw new UsageError(`--webhook: ${error instanceof Error ? error.message : String(error)}`, command);
  }
}

async function getCommand({ argv, signal }: CommandContext): Promise<number> {
  const command = "jobs get";
  const { values, positionals } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, ...JSON_OPTION, "fail-on-match": { type: "boolean" } },
    command,
  );
  const jobUuid = jobUuidArgument(positionals, command);
  return withGateway(values, command, signal, async (client) => {
    const job = await client.getJob(jobUuid, { signal });
    return exitCodeOf(job, printJob(job, flag(values, "json")), values, false);
  });
}

async function waitCommand({ argv, signal }: CommandContext): Promise<number> {
  const command = "jobs wait";
  const { values, positionals } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, ...JSON_OPTION, ...WAIT_OPTIONS, "fail-on-match": { type: "boolean" } },
    command,
  );
  const jobUuid = jobUuidArgument(positionals, command);
  const waiting = waitOptions(values, command, signal);
  return withGateway(values, command, signal, async (client) => {
    const job = await client.waitForJob(jobUuid, waiting);
    return exitCodeOf(job, printJob(job, flag(values, "json")), values, true);
  });
}

const statuses: Record<string, JobStatus> = {
  pending: JobStatus.PENDING,
  running: JobStatus.RUNNING,
  completed: JobStatus.COMPLETED,
  failed: JobStatus.FAILED,
  canceled: JobStatus.CANCELED,
  cancelled: JobStatus.CANCELED,
};

async function listCommand({ argv, signal }: CommandContext): Promise<number> {
  const command = "jobs list";
  const { values } = parseCommandArgs(
    argv,
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

  return withGateway(values, command, signal, async (client) => {
    const out = process.stdout;
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
      if (json) process.stderr.write(more);
      else out.write(more);
    }
    return ExitCode.OK;
  });
}

/** The subcommands of `clavata jobs`, with their help. */
export const JOBS_COMMANDS: Record<string, { run: (context: CommandContext) => Promise<number>; help: string }> = {
  create: { run: createCommand, help: JOBS_CREATE_HELP },
  get: { run: getCommand, help: JOBS_GET_HELP },
  list: { run: listCommand, help: JOBS_LIST_HELP },
  wait: { run: waitCommand, help: JOBS_WAIT_HELP },
};
