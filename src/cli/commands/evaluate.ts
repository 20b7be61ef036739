// `clavata evaluate`: evaluates content against a policy and streams one result per item as it arrives.

import { resolve } from "node:path";
import { AbortedError } from "../../errors.js";
import {
  ExitCode,
  flag,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  parseCommandArgs,
  parseInteger,
  parseThreshold,
  stringValue,
  UsageError,
} from "../args.js";
import { DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, evaluateBatch } from "../batch-evaluator.js";
import { Checkpoint } from "../checkpoint.js";
import type { CommandContext } from "../command-context.js";
import { connectionSettings, openGateway } from "../gateway-connection.js";
import { readInputItems } from "../input-items.js";
import { INPUT_OPTIONS, INPUT_OPTIONS_HELP, inputSources } from "../input-options.js";
import { ProgressBar } from "../progress-bar.js";
import { reportFailure } from "../report-failure.js";
import { ResultTally } from "../result-tally.js";
import { ResultWriter } from "../result-writer.js";

/** The help of `clavata evaluate`. */
export const EVALUATE_HELP = `Usage: clavata evaluate --policy <id> [options] [text ...]

Evaluates content against a policy and writes one result per item as soon as it arrives: a table (id, outcome,
score, matched labels) or, with --json, one JSON object per line. A summary follows: the count of each outcome
(match, clear, refused, failed), the refusals by reason, and the tokens billed. Refused items are reported with
their reason; they do not stop the run.

${INPUT_OPTIONS_HELP}

Options:
  -p, --policy <id>       the policy to evaluate against (required)
  --threshold <0..1>      the score at which a label matches (default: the gateway's, 0.5)
  --expedited             ask the gateway for expedited evaluation
  --json                  NDJSON on standard output (the summary goes to standard error)
  --ordered               write results in input order instead of as they arrive
  --concurrency <n>       Evaluate streams at once for a batch, 1 to 64 (default ${DEFAULT_CONCURRENCY})
  --chunk-size <n>        items per stream, 1 to 1000 (default ${DEFAULT_CHUNK_SIZE})
  --checkpoint <file>     with --input: record finished items in <file> as they finish, and skip the items it
                          lists when run again with the same input (failed items are tried again)
  --fail-on-match         exit with 3 when any item matched or was refused
  --no-progress           no progress bar (it is drawn on standard error only when that is a terminal and the
                          input is a batch file)

${GLOBAL_OPTIONS_HELP}

Exit codes: 0 every item has a result; 1 a call failed or an item could not be evaluated; 2 bad usage or input;
3 with --fail-on-match, an item matched or was refused; 130 interrupted.

Examples:
  clavata evaluate --emulator --policy policy-violence "I will hurt you" "Have a nice day"
  clavata evaluate --policy policy-images --file photo.png --file scan.gif
  cat comment.txt | clavata evaluate --policy policy-spam --fail-on-match
  clavata evaluate --policy policy-spam --input items.csv --json --ordered > results.ndjson`;

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  ...INPUT_OPTIONS,
  policy: { type: "string", short: "p" },
  threshold: { type: "string" },
  expedited: { type: "boolean" },
  json: { type: "boolean" },
  ordered: { type: "boolean" },
  concurrency: { type: "string" },
  "chunk-size": { type: "string" },
  checkpoint: { type: "string" },
  "fail-on-match": { type: "boolean" },
  "no-progress": { type: "boolean" },
} as const;

const COMMAND = "evaluate";

/** Runs `clavata evaluate`; returns the exit code. Throws UsageError for bad usage or input. */
export async function evaluateCommand(context: CommandContext): Promise<number> {
  const { stdout, stderr, signal } = context;
  const { values, positionals } = parseCommandArgs(context.argv, OPTIONS, COMMAND);
  const policyId = stringValue(values, "policy");
  if (policyId === undefined || policyId.trim() === "") {
    throw new UsageError(
      "--policy is required: the id of the policy to evaluate against, such as policy-violence",
      COMMAND,
    );
  }
  const thresholdText = stringValue(values, "threshold");
  const threshold = thresholdText === undefined ? undefined : parseThreshold(thresholdText, "--threshold", COMMAND);
  const concurrencyText = stringValue(values, "concurrency");
  const concurrency =
    concurrencyText === undefined
      ? DEFAULT_CONCURRENCY
      : parseInteger(concurrencyText, "--concurrency", 1, 64, COMMAND);
  const chunkText = stringValue(values, "chunk-size");
  const chunkSize =
    chunkText === undefined ? DEFAULT_CHUNK_SIZE : parseInteger(chunkText, "--chunk-size", 1, 1000, COMMAND);
  const json = flag(values, "json");
  // Check the connection options before reading a possibly long input.
  connectionSettings(values, COMMAND, context.env);

  const { items: all, fromBatchFile } = await readInputItems(inputSources(values, positionals, context), COMMAND);
  const checkpointPath = stringValue(values, "checkpoint");
  if (checkpointPath !== undefined && !fromBatchFile) {
    throw new UsageError("--checkpoint goes with --input: it records which rows of a batch file are done", COMMAND);
  }
  const checkpoint =
    checkpointPath === undefined
      ? undefined
      : await Checkpoint.open(resolve(context.cwd, checkpointPath), all, COMMAND);
  const items = checkpoint === undefined ? all : all.filter((item) => !checkpoint.finished.has(item.index));

  const gateway = await openGateway(values, COMMAND, context);
  const progress =
    fromBatchFile && stderr.isTTY && !flag(values, "no-progress") ? new ProgressBar(stderr, items.length) : undefined;
  const ordered = flag(values, "ordered");
  const writer = new ResultWriter({
    out: stdout,
    json,
    // The engine yields in input order itself (it knows which items a checkpoint skipped).
    ordered: false,
    ids: items.map((item) => item.id),
    overlay: progress !== undefined && stdout.isTTY ? progress : undefined,
  });
  const tally = new ResultTally();
  let failure: unknown;
  try {
    await evaluateBatch(gateway.client, items, {
      policyId,
      threshold,
      expedited: flag(values, "expedited"),
      concurrency,
      chunkSize,
      ordered,
      signal,
      onResult(result) {
        if (result.outcome !== "failed") checkpoint?.record(result.index);
        tally.add(result);
        progress?.tick();
        writer.add(result);
      },
    });
  } catch (error) {
    failure = error;
  } finally {
    await gateway.close();
    await checkpoint?.close();
  }
  writer.flush();
  progress?.clear();

  const interrupted = failure instanceof AbortedError && signal.aborted;
  // A run that failed before any result has nothing to sum up: the error says it all.
  if (failure === undefined || tally.total > 0 || interrupted) {
    const summary = tally.lines(items.length);
    const skipped = all.length - items.length;
    if (skipped > 0) summary.push(`${skipped} items skipped: finished in an earlier run (${checkpoint!.path})`);
    if (json) stderr.write(`${summary.join("\n")}\n`);
    else stdout.write(`\n${summary.join("\n")}\n`);
  }

  if (failure !== undefined) {
    if (interrupted) {
      stderr.write("clavata evaluate: interrupted; the summary above counts the results that had arrived\n");
      return ExitCode.INTERRUPTED;
    }
    return reportFailure(failure, COMMAND, stderr);
  }
  if (tally.counts.failed > 0) return ExitCode.FAILURE;
  if (flag(values, "fail-on-match") && tally.counts.match + tally.counts.refused > 0) return ExitCode.MATCHED;
  return ExitCode.OK;
}
