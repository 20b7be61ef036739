// What the tool reports for one item: its outcome in plain words, its score, the labels that matched, the tokens it
// cost, or why the gateway refused it. Made from an evaluation report (of Evaluate or of a job) or from a refusal.

import { toJson } from "@bufbuild/protobuf";
import {
  Outcome,
  type PolicyEvaluationReport,
  PolicyEvaluationReportSchema,
} from "../../gen/clavata/shared/v1/public_pb.js";
import type { RefusedContent } from "../refusals.js";
import { ITEM_INDEX_KEY } from "./input-items.js";

/** An item's outcome: it matched the policy, it is clear, the gateway refused it, or its evaluation failed. */
export type ItemOutcome = "match" | "clear" | "refused" | "failed";

/** The result of one item. */
export interface ItemResult {
  /** The item's position in the input, from 0 (-1 when unknown, as for job results without metadata). */
  index: number;
  /** The item's id. */
  id: string;
  outcome: ItemOutcome;
  /** The policy's score, when evaluated. */
  score?: number | undefined;
  /** The labels (policy sections) that matched, with their scores. */
  labels: Record<string, number>;
  /** The content hash the gateway computed ("algorithm::value"). */
  contentHash: string;
  /** The gateway's job UUID of the call that evaluated it. */
  jobUuid?: string | undefined;
  /** Tokens counted and billed for it. */
  tokens?: { input: number; billed: number } | undefined;
  /** Why the gateway refused it. */
  refusal?: { reason: string; message: string } | undefined;
  /** Why its evaluation failed, when there is no report to say so. */
  error?: string | undefined;
  /** The metadata sent with it, without the tool's own key. */
  metadata?: Record<string, string> | undefined;
  /** The full evaluation report. */
  report?: PolicyEvaluationReport | undefined;
}

// Scores travel as 32-bit floats in label_matches; four decimals say everything they can.
function rounded(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

/** The metadata the user gave, without what the tool adds (its index key, and `id` when it is the item's id). */
function ownMetadata(metadata: Record<string, string>, id: string): Record<string, string> | undefined {
  const rest = Object.fromEntries(
    Object.entries(metadata).filter(([k, v]) => k !== ITEM_INDEX_KEY && !(k === "id" && v === id)),
  );
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** The result of an item from its evaluation report. */
export function resultOfReport(
  item: { index: number; id: string },
  report: PolicyEvaluationReport | undefined,
  contentHash: string,
  jobUuid: string | undefined,
): ItemResult {
  if (report === undefined) {
    return {
      index: item.index,
      id: item.id,
      outcome: "failed",
      labels: {},
      contentHash,
      jobUuid,
      error: "the gateway sent no report for this item",
    };
  }
  const outcome = report.reviewResult?.outcome ?? report.result;
  const labels: Record<string, number> = {};
  for (const [name, score] of Object.entries(report.labelMatches)) labels[name] = rounded(score);
  const usage = report.tokenUsage;
  return {
    index: item.index,
    id: item.id,
    outcome: outcome === Outcome.TRUE ? "match" : outcome === Outcome.FALSE ? "clear" : "failed",
    score: report.reviewResult === undefined ? undefined : rounded(report.reviewResult.score),
    labels,
    contentHash: contentHash || report.contentHash,
    jobUuid,
    tokens: usage === undefined ? undefined : { input: usage.inputTokens, billed: usage.billedTokens },
    error:
      outcome === Outcome.TRUE || outcome === Outcome.FALSE
        ? undefined
        : `the gateway reported ${Outcome[outcome] ?? String(outcome)}`,
    metadata: ownMetadata(report.contentMetadata, item.id),
    report,
  };
}

/** The result of a refused item. */
export function resultOfRefusal(item: { index: number; id: string }, refusal: RefusedContent): ItemResult {
  return {
    index: item.index,
    id: item.id,
    outcome: "refused",
    labels: {},
    contentHash: refusal.contentHash,
    refusal: { reason: refusal.reason, message: refusal.message },
  };
}

/** The result of an item whose evaluation failed without a report. */
export function resultOfFailure(item: { index: number; id: string }, error: string): ItemResult {
  return { index: item.index, id: item.id, outcome: "failed", labels: {}, contentHash: "", error };
}

/**
 * One result as a JSON object for NDJSON output: `id`, `index`, `outcome` and the fields that apply (`score`,
 * `labels`, `contentHash`, `jobUuid`, `tokens`, `refusal`, `error`, `metadata`), with the full report in proto3
 * JSON under `report`.
 */
export function resultJson(result: ItemResult): Record<string, unknown> {
  const out: Record<string, unknown> = { id: result.id, index: result.index, outcome: result.outcome };
  if (result.score !== undefined) out.score = result.score;
  out.labels = result.labels;
  if (result.contentHash !== "") out.contentHash = result.contentHash;
  if (result.jobUuid !== undefined) out.jobUuid = result.jobUuid;
  if (result.tokens !== undefined) out.tokens = result.tokens;
  if (result.refusal !== undefined) out.refusal = result.refusal;
  if (result.error !== undefined) out.error = result.error;
  if (result.metadata !== undefined) out.metadata = result.metadata;
  if (result.report !== undefined) {
    const report = toJson(PolicyEvaluationReportSchema, result.report) as { contentMetadata?: Record<string, string> };
    if (report.contentMetadata !== undefined) {
      delete report.contentMetadata[ITEM_INDEX_KEY];
      if (Object.keys(report.contentMetadata).length === 0) delete report.contentMetadata;
    }
    out.report = report;
  }
  return out;
}
