// `clavata labels evaluate`: evaluates one content item against up to 10 label versions.

import { toJson } from "@bufbuild/protobuf";
import { EvaluateLabelsResponseSchema, type LabelResult } from "../../../gen/clavata/gateway/v1/labels_pb.js";
import { Outcome } from "../../../gen/clavata/shared/v1/public_pb.js";
import { AbortedError, ClavataError, EvaluationRefusedError } from "../../errors.js";
import { MAX_LABEL_VERSION_IDS } from "../../requests.js";
import {
  ExitCode,
  flag,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  parseCommandArgs,
  parseThreshold,
  stringValue,
  stringValues,
  UsageError,
} from "../args.js";
import type { CommandContext } from "../command-context.js";
import { connectionSettings, openGateway } from "../gateway-connection.js";
import { contentDataOf, readInputItems } from "../input-items.js";
import { inputSources } from "../input-options.js";
import { reportFailure } from "../report-failure.js";

/** The help of `clavata labels evaluate`. */
export const LABELS_EVALUATE_HELP = `Usage: clavata labels evaluate --label <label-version-id> [options] [text]

Evaluates one content item against up to ${MAX_LABEL_VERSION_IDS} label versions and prints one result per label,
in the order given: its outcome, its score, and the assertion that scored highest (or why the label could not be
evaluated, such as an unknown id).

Content (exactly one item):
  [text]                 the text to evaluate
  -f, --file <path>      a file: an image by extension or magic bytes, otherwise UTF-8 text
  --image-url <url>      an image URL for the gateway to fetch
  (none)                 standard input is read as the item

Options:
  -l, --label <id>       a label version id, repeatable, 1 to ${MAX_LABEL_VERSION_IDS} (required)
  --threshold <0..1>     the score at which a label matches (default: the gateway's, 0.5)
  --json                 print the gateway's answer as proto3 JSON on one line
  --fail-on-match        exit with 3 when any label matched, or the content was refused

${GLOBAL_OPTIONS_HELP}

Example:
  clavata labels evaluate --emulator --label label-threats-v1 --label label-insults-v1 "you idiot, I will hurt you"`;

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  file: { type: "string", short: "f", multiple: true },
  "image-url": { type: "string", multiple: true },
  label: { type: "string", short: "l", multiple: true },
  threshold: { type: "string" },
  json: { type: "boolean" },
  "fail-on-match": { type: "boolean" },
} as const;

function outcomeWord(outcome: Outcome | undefined): string {
  return outcome === Outcome.TRUE ? "match" : outcome === Outcome.FALSE ? "clear" : "failed";
}

/** What the label's report says scored: the highest-scoring assertion's description. */
function detailOf(result: LabelResult): string {
  if (result.error !== "") return result.error;
  let best: { message: string; score: number } | undefined;
  for (const section of result.evaluation?.report?.sectionEvaluationReports ?? []) {
    for (const assertion of section.assertionEvaluationReports) {
      if (assertion.score > 0 && (best === undefined || assertion.score > best.score)) best = assertion;
    }
  }
  return best?.message ?? "";
}

/** Runs `clavata labels evaluate`; returns the exit code. Throws UsageError for bad usage or input. */
export async function labelsEvaluateCommand(context: CommandContext): Promise<number> {
  const command = "labels evaluate";
  const { signal } = context;
  const { values, positionals } = parseCommandArgs(context.argv, OPTIONS, command);
  const labels = stringValues(values, "label");
  if (labels.length === 0)
    throw new UsageError("give at least one --label <label-version-id>, such as --label label-threats-v1", command);
  if (labels.length > MAX_LABEL_VERSION_IDS) {
    throw new UsageError(`at most ${MAX_LABEL_VERSION_IDS} --label per call; got ${labels.length}`, command);
  }
  if (labels.some((l) => l.trim() === "")) throw new UsageError("--label needs a label version id", command);
  const thresholdText = stringValue(values, "threshold");
  const threshold = thresholdText === undefined ? undefined : parseThreshold(thresholdText, "--threshold", command);
  const json = flag(values, "json");
  connectionSettings(values, command, context.env);
  const { items } = await readInputItems(inputSources(values, positionals, context), command);
  if (items.length !== 1) {
    throw new UsageError(
      `labels evaluate takes exactly one content item; got ${items.length} (use one text, one --file or standard input)`,
      command,
    );
  }
  const item = items[0]!;

  const gateway = await openGateway(values, command, context);
  const out = context.stdout;
  try {
    const response = await gateway.client.evaluateLabels(
      {
        contentData: contentDataOf(item, false),
        labelVersionIds: labels,
        ...(threshold !== undefined ? { threshold } : {}),
      },
      { signal },
    );
    if (json) {
      out.write(`${JSON.stringify(toJson(EvaluateLabelsResponseSchema, response))}\n`);
    } else {
      const width = Math.max(5, ...labels.map((l) => l.length));
      out.write(`content ${item.id}${response.contentHash ? ` (${response.contentHash})` : ""}\n\n`);
      out.write(`${"LABEL".padEnd(width)}  ${"OUTCOME".padEnd(8)}  SCORE  DETAIL\n`);
      for (const result of response.results) {
        const evaluation = result.evaluation;
        const outcome = result.error !== "" ? "failed" : outcomeWord(evaluation?.outcome);
        const score = evaluation === undefined || result.error !== "" ? "-" : evaluation.score.toFixed(2);
        out.write(
          `${result.labelVersionId.padEnd(width)}  ${outcome.padEnd(8)}  ${score.padEnd(5)}  ${detailOf(result)}`.trimEnd() +
            "\n",
        );
      }
    }
    if (response.results.some((r) => r.error !== "")) return ExitCode.FAILURE;
    const matched = response.results.some((r) => r.evaluation?.outcome === Outcome.TRUE);
    return flag(values, "fail-on-match") && matched ? ExitCode.MATCHED : ExitCode.OK;
  } catch (error) {
    if (error instanceof EvaluationRefusedError) {
      // A refusal is a result: the content will not be evaluated, and why.
      const refusal = error.refusals[0]!;
      if (json) {
        out.write(
          `${JSON.stringify({ refusal: { reason: refusal.reason, message: refusal.message, contentHash: refusal.contentHash } })}\n`,
        );
      } else {
        out.write(
          `content ${item.id} refused: ${refusal.reason}: ${refusal.message}${refusal.contentHash ? ` (${refusal.contentHash})` : ""}\n`,
        );
      }
      return flag(values, "fail-on-match") ? ExitCode.MATCHED : ExitCode.OK;
    }
    if (error instanceof AbortedError && signal.aborted) return ExitCode.INTERRUPTED;
    if (error instanceof ClavataError) return reportFailure(error, command, context.stderr);
    throw error;
  } finally {
    await gateway.close();
  }
}
