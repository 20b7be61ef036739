// `clavata jobs create`: creates a background job from content, optionally with a webhook, and optionally waits for it.

import type { Job } from "../../../gen/clavata/shared/v1/public_pb.js";
import { EvaluationRefusedError } from "../../errors.js";
import { createWebhook } from "../../webhooks/request.js";
import { webhookHeaderName, webhookWithSecret } from "../../webhooks/secret.js";
import {
  ExitCode,
  flag,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  type ParsedValues,
  parseCommandArgs,
  parseThreshold,
  stringValue,
  stringValues,
  UsageError,
} from "../args.js";
import { attributeRefusals } from "../batch-evaluator.js";
import type { CliIo, CliOutput, CommandContext } from "../command-context.js";
import { connectionSettings, withGateway } from "../gateway-connection.js";
import { contentDataOf, type InputItem, readInputItems } from "../input-items.js";
import { INPUT_OPTIONS, INPUT_OPTIONS_HELP, inputSources } from "../input-options.js";
import { JSON_OPTION, WAIT_OPTIONS, waitOptions } from "../job-options.js";
import { printJob, showJob, statusName } from "../job-output.js";

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

/** Runs `clavata jobs create`; returns the exit code. Throws UsageError for bad usage or input. */
export async function jobsCreateCommand(context: CommandContext): Promise<number> {
  const command = "jobs create";
  const { values, positionals } = parseCommandArgs(
    context.argv,
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
  const webhook = webhookOf(values, command, context.env);
  const wait = flag(values, "wait");
  for (const option of ["poll-interval", "wait-timeout", "fail-on-match"]) {
    if (!wait && values[option] !== undefined) throw new UsageError(`--${option} goes with --wait`, command);
  }
  const waiting = waitOptions(values, command, context.signal);
  connectionSettings(values, command, context.env);
  const { items } = await readInputItems(inputSources(values, positionals, context), command);
  const json = flag(values, "json");

  const { stdout, stderr, signal } = context;
  return withGateway(values, command, context, async (client) => {
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
      reportRefusedJob(items, error, stderr);
      return ExitCode.FAILURE;
    }
    if (!wait) {
      printJob(created, json, stdout);
      if (!json && webhook !== undefined) {
        stdout.write(`webhook   ${webhook.url}${webhook.secretHeader ? ` (secret in ${webhook.secretHeader})` : ""}\n`);
      }
      return ExitCode.OK;
    }
    stderr.write(`job ${created.jobUuid} created (${statusName(created.status)}); waiting for it to finish…\n`);
    const job = await client.waitForJob(created.jobUuid, waiting);
    return showJob(job, values, context, { failOnFinalError: true });
  });
}

/**
 * A refused CreateJob: the gateway created no job. Says which items it refused and why (pinned to items by their
 * content hash), so that the user can drop or fix them.
 */
function reportRefusedJob(items: readonly InputItem[], error: EvaluationRefusedError, stderr: CliOutput): void {
  const { refused, unmatched } = attributeRefusals(items, error.refusals);
  const count = error.refusals.length === 1 ? "1 item" : `${error.refusals.length} items`;
  const lines = [`clavata jobs create: the gateway refused ${count}, so it created no job:`];
  const width = Math.min(
    40,
    refused.reduce((widest, r) => Math.max(widest, r.item.id.length), 2),
  );
  for (const { item, refusal } of refused)
    lines.push(`  ${item.id.padEnd(width)}  ${refusal.reason}: ${refusal.message}`);
  for (const refusal of unmatched)
    lines.push(`  (content hash ${refusal.contentHash || "not given"})  ${refusal.reason}: ${refusal.message}`);
  lines.push(
    "Remove or fix these items and create the job again; clavata evaluate reports refused items without stopping.",
  );
  stderr.write(`${lines.join("\n")}\n`);
}

/** The webhook the options describe, or undefined; never echoes the secret. */
function webhookOf(
  values: ParsedValues,
  command: string,
  env: CliIo["env"],
): { url: string; extraHeaders: Record<string, string>; secretHeader?: string } | undefined {
  const url = stringValue(values, "webhook");
  const secret = stringValue(values, "webhook-secret") ?? (env.CLAVATA_WEBHOOK_SECRET || undefined);
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
