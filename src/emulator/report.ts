// A policy's evaluation report for prepared content: each assertion matched and scored, exceptions (UNLESS) applied,
// sections and the policy given their outcomes, token usage counted, all in the gateway's report messages.

import { create } from "@bufbuild/protobuf";
import {
  Outcome,
  type PolicyEvaluationReport,
  type PolicyEvaluationReport_AssertionEvaluationReport,
  PolicyEvaluationReport_AssertionEvaluationReportSchema,
  type PolicyEvaluationReport_ExceptionEvaluationReport,
  PolicyEvaluationReport_ExceptionEvaluationReportSchema,
  type PolicyEvaluationReport_ReviewResult,
  PolicyEvaluationReport_ReviewResultSchema,
  type PolicyEvaluationReport_SectionEvaluationReport,
  PolicyEvaluationReport_SectionEvaluationReportSchema,
  PolicyEvaluationReport_TokenUsageSchema,
  PolicyEvaluationReportSchema,
} from "../../gen/clavata/shared/v1/public_pb.js";
import type { ImageMatcher, Policy, PolicyAssertion, PolicySection } from "./policy.js";
import type { PreparedContent } from "./prepared-content.js";

/** The input tokens counted for one image or image URL, whatever its size. */
export const IMAGE_INPUT_TOKENS = 256;

/** Whether a matcher matches prepared content. Text matchers never match images, and the reverse. */
function matches(assertion: PolicyAssertion, content: PreparedContent): boolean {
  const m = assertion.matcher;
  switch (m.kind) {
    case "keywords":
      return content.kind === "text" && m.pattern.test(content.normalized);
    case "regex":
      return content.kind === "text" && m.pattern.test(content.text);
    case "image":
      return imageMatches(m, content);
  }
}

function imageMatches(m: ImageMatcher, content: PreparedContent): boolean {
  if (content.kind === "image") {
    const info = content.image;
    if ("error" in info) return false; // refused before evaluation; kept for safety
    const size = content.bytes.length;
    return (
      (m.formats === undefined || m.formats.includes(info.format)) &&
      (m.minBytes === undefined || size >= m.minBytes) &&
      (m.maxBytes === undefined || size <= m.maxBytes) &&
      (m.minWidth === undefined || info.width >= m.minWidth) &&
      (m.minHeight === undefined || info.height >= m.minHeight) &&
      (m.contentHashes === undefined || m.contentHashes.includes(content.contentHash))
    );
  }
  if (content.kind === "url") {
    // Nothing about the size of an image that was not fetched is known, so such conditions cannot hold.
    if (m.minBytes !== undefined || m.maxBytes !== undefined || m.minWidth !== undefined || m.minHeight !== undefined)
      return false;
    return (
      (m.formats === undefined || (content.format !== undefined && m.formats.includes(content.format))) &&
      (m.contentHashes === undefined || m.contentHashes.includes(content.contentHash))
    );
  }
  return false;
}

const outcomeOf = (score: number, threshold: number): Outcome => (score >= threshold ? Outcome.TRUE : Outcome.FALSE);

interface BlockResult {
  score: number;
  reports: PolicyEvaluationReport_AssertionEvaluationReport[];
}

function evaluateAssertions(
  assertions: readonly PolicyAssertion[],
  content: PreparedContent,
  threshold: number,
): BlockResult {
  let score = 0;
  const reports = assertions.map((a) => {
    const s = matches(a, content) ? a.score : 0;
    score = Math.max(score, s);
    return create(PolicyEvaluationReport_AssertionEvaluationReportSchema, {
      message: a.description,
      score: s,
      result: outcomeOf(s, threshold),
    });
  });
  return { score, reports };
}

/** Evaluates an exception block; it holds when its score reaches the threshold. */
function evaluateException(
  unless: readonly PolicyAssertion[] | undefined,
  content: PreparedContent,
  threshold: number,
): { holds: boolean; report: PolicyEvaluationReport_ExceptionEvaluationReport } | undefined {
  if (unless === undefined) return undefined;
  const block = evaluateAssertions(unless, content, threshold);
  const outcome = outcomeOf(block.score, threshold);
  return {
    holds: outcome === Outcome.TRUE,
    report: create(PolicyEvaluationReport_ExceptionEvaluationReportSchema, {
      result: outcome,
      assertionEvaluationReports: block.reports,
      reviewResult: { outcome, score: block.score },
    }),
  };
}

/**
 * Builds the report of `sections` of a policy (all of them, or the one label being evaluated) for content that
 * passed the prechecks, at an effective threshold. See PolicyEngine for the scoring rules.
 * @internal
 */
export function buildReport(
  policy: Policy,
  sections: readonly PolicySection[],
  content: PreparedContent,
  threshold: number,
): PolicyEvaluationReport {
  const report = create(PolicyEvaluationReportSchema, {
    policyId: policy.id,
    policyKey: policy.key,
    policyVersionId: policy.versionId,
    contentHash: content.contentHash,
    contentMetadata: { ...content.item.metadata },
    threshold,
  });
  const inputTokens =
    content.kind === "text"
      ? Math.max(1, Math.ceil(content.byteLength / 4))
      : content.kind === "fetchFailed"
        ? 0
        : IMAGE_INPUT_TOKENS;
  report.tokenUsage = create(PolicyEvaluationReport_TokenUsageSchema, {
    inputTokens,
    billedTokens: Math.min(0x7fffffff, Math.round(inputTokens * policy.multiplier)),
    multiplier: policy.multiplier,
  });

  if (content.kind === "fetchFailed") {
    report.result = Outcome.FAILED;
    report.reviewResult = reviewResult(Outcome.FAILED, 0);
    report.sectionEvaluationReports = sections.map((s) =>
      create(PolicyEvaluationReport_SectionEvaluationReportSchema, {
        name: s.name,
        message: s.message,
        result: Outcome.FAILED,
        reviewResult: { outcome: Outcome.FAILED, score: 0 },
      }),
    );
    return report;
  }

  const policyException = evaluateException(policy.unless, content, threshold);
  if (policyException) report.exceptionEvaluationReport = policyException.report;
  let anyTrue = false;
  let policyScore = 0;
  const sectionReports: PolicyEvaluationReport_SectionEvaluationReport[] = [];
  for (const section of sections) {
    const own = evaluateAssertions(section.assertions, content, threshold);
    const sectionException = evaluateException(section.unless, content, threshold);
    const cancelled = (policyException?.holds ?? false) || (sectionException?.holds ?? false);
    const outcome = !cancelled && own.score >= threshold ? Outcome.TRUE : Outcome.FALSE;
    if (!cancelled) policyScore = Math.max(policyScore, own.score);
    if (outcome === Outcome.TRUE) {
      anyTrue = true;
      report.labelMatches[section.name] = own.score;
    }
    const sectionReport = create(PolicyEvaluationReport_SectionEvaluationReportSchema, {
      name: section.name,
      message: section.message,
      result: outcome,
      assertionEvaluationReports: own.reports,
      reviewResult: { outcome, score: own.score },
    });
    if (sectionException) sectionReport.exceptionEvaluationReport = sectionException.report;
    sectionReports.push(sectionReport);
  }
  report.sectionEvaluationReports = sectionReports;
  const outcome = anyTrue ? Outcome.TRUE : Outcome.FALSE;
  report.result = outcome;
  report.reviewResult = reviewResult(outcome, policyScore);
  return report;
}

function reviewResult(outcome: Outcome, score: number): PolicyEvaluationReport_ReviewResult {
  return create(PolicyEvaluationReport_ReviewResultSchema, { outcome, score });
}
