// Reading a verdict in the domain's words. The wire says `policy_evaluation_report.review_result.outcome ==
// OUTCOME_TRUE`; a moderation backend asks "did it match, how strongly, and which labels". These helpers answer
// that from any message that carries a report, with the vocabulary the CLI and the docs use too:
//   match   the content matched the policy (OUTCOME_TRUE)
//   clear   it did not (OUTCOME_FALSE)
//   failed  the gateway could not evaluate it (OUTCOME_FAILED)
//   unknown no report, or an outcome this version does not know

import type { EvaluateResponse } from "../gen/clavata/gateway/v1/gateway_pb.js";
import {
  type JobResult,
  Outcome,
  type PolicyEvaluationReport,
  type PolicyEvaluationReport_ReviewResult,
} from "../gen/clavata/shared/v1/public_pb.js";

/** A verdict in words: `match`, `clear`, `failed`, or `unknown` (no report, or an outcome this SDK does not know). */
export type VerdictOutcome = "match" | "clear" | "failed" | "unknown";

/** What the verdict helpers accept: a streamed result, a job's result, or a report itself (or nothing). */
export type HasReport = EvaluateResponse | JobResult | PolicyEvaluationReport | undefined;

/** A label (a policy section) that matched, with its score. */
export interface MatchedLabel {
  readonly name: string;
  readonly score: number;
}

/** The verdict of one section (label) of the policy. */
export interface SectionVerdict {
  readonly name: string;
  readonly outcome: VerdictOutcome;
  readonly score: number | undefined;
  /** The section's message in the policy, such as an action ("BLOCK", "REVIEW"). */
  readonly message: string;
}

/** Everything a moderation decision usually needs from one result, in the SDK's vocabulary. */
export interface Verdict {
  readonly outcome: VerdictOutcome;
  /** Whether the content matched the policy: `outcome === "match"`. */
  readonly matched: boolean;
  /** The policy's score in [0, 1], when the gateway sent one. */
  readonly score: number | undefined;
  /** The threshold the score was compared with (0 or unset means the gateway's default, 0.5). */
  readonly threshold: number | undefined;
  /** The labels that matched, strongest first. */
  readonly labels: readonly MatchedLabel[];
  /** Every section's verdict, in the policy's order. */
  readonly sections: readonly SectionVerdict[];
  /** The content hash the gateway computed ("algorithm::value"). */
  readonly contentHash: string;
  /** The metadata sent with the content, echoed back. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The report itself, for anything else. */
  readonly report: PolicyEvaluationReport | undefined;
}

/** The word for a wire outcome. */
export function outcomeWord(outcome: Outcome | undefined): VerdictOutcome {
  switch (outcome) {
    case Outcome.TRUE:
      return "match";
    case Outcome.FALSE:
      return "clear";
    case Outcome.FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

/** The report a result carries, whichever message it is. */
export function reportOf(result: HasReport): PolicyEvaluationReport | undefined {
  if (result === undefined) return undefined;
  switch (result.$typeName) {
    case "clavata.gateway.v1.EvaluateResponse":
      return result.policyEvaluationReport;
    case "clavata.shared.v1.JobResult":
      return result.report;
    default:
      return result;
  }
}

/** A review result's outcome; reports from older gateways carry only the deprecated `result`. */
function outcomeOf(review: PolicyEvaluationReport_ReviewResult | undefined, legacy: Outcome): VerdictOutcome {
  return outcomeWord(review !== undefined && review.outcome !== Outcome.UNSPECIFIED ? review.outcome : legacy);
}

/** Whether the result matched the policy (its outcome is OUTCOME_TRUE). False when there is no report. */
export function isMatch(result: HasReport): boolean {
  const report = reportOf(result);
  return report !== undefined && outcomeOf(report.reviewResult, report.result) === "match";
}

/** The policy's score in [0, 1], or undefined when there is no report or no review result. */
export function scoreOf(result: HasReport): number | undefined {
  return reportOf(result)?.reviewResult?.score;
}

/** The labels that matched, strongest first (from `label_matches`). Empty when nothing matched. */
export function matchedLabels(result: HasReport): MatchedLabel[] {
  const report = reportOf(result);
  if (report === undefined) return [];
  return Object.entries(report.labelMatches)
    .map(([name, score]) => ({ name, score }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
}

/** Every section's verdict, in the policy's order. */
export function sectionsOf(result: HasReport): SectionVerdict[] {
  const report = reportOf(result);
  if (report === undefined) return [];
  return report.sectionEvaluationReports.map((section) => ({
    name: section.name,
    outcome: outcomeOf(section.reviewResult, section.result),
    score: section.reviewResult?.score,
    message: section.message,
  }));
}

/** The whole verdict of a result in one object. */
export function verdictOf(result: HasReport): Verdict {
  const report = reportOf(result);
  const outcome = report === undefined ? "unknown" : outcomeOf(report.reviewResult, report.result);
  return {
    outcome,
    matched: outcome === "match",
    score: report?.reviewResult?.score,
    threshold: report?.threshold,
    labels: matchedLabels(report),
    sections: sectionsOf(report),
    contentHash:
      report?.contentHash ||
      (result?.$typeName === "clavata.gateway.v1.EvaluateResponse" ? result.contentHash : "") ||
      (result?.$typeName === "clavata.shared.v1.JobResult" ? result.contentHash : ""),
    metadata: report?.contentMetadata ?? {},
    report,
  };
}
