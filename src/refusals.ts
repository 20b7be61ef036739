// Refusals: content the gateway will not evaluate. The gateway ends the call
// with a google.rpc.Status whose details hold one PrecheckFailure per refused
// item; this file turns those details into RefusedContent values and answers
// the questions callers ask of them (the worst reason, the usual reason, which
// hashes).

import type { ConnectError } from "@connectrpc/connect";
import {
  type PrecheckFailure,
  PrecheckFailureType,
  type PrecheckMatchConfidence,
} from "../gen/clavata/gateway/v1/errs_pb.js";
import { precheckFailures } from "./status-details.js";

/**
 * Why the gateway refused a piece of content, in the SDK's words. A runtime
 * enum: `RefusalReason.CSAM === "CSAM"`, so values read well in logs and JSON.
 */
export enum RefusalReason {
  /** The gateway gave no reason this SDK knows. */
  UNKNOWN = "UNKNOWN",
  /** The content matched a known CSAM hash (PRECHECK_FAILURE_TYPE_NCMEC). */
  CSAM = "CSAM",
  /** The image is not PNG, JPEG or WebP (PRECHECK_FAILURE_TYPE_UNSUPPORTED_IMAGE_FORMAT). */
  UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT",
  /** The image claims a supported format but is truncated or corrupt (PRECHECK_FAILURE_TYPE_INVALID_IMAGE). */
  INVALID_CONTENT = "INVALID_CONTENT",
}

/** One refused content item, from one PrecheckFailure detail. */
export interface RefusedContent {
  /** Why it was refused. */
  readonly reason: RefusalReason;
  /** The refused item's content hash ("algorithm::value"), or "" when the gateway did not send one. */
  readonly contentHash: string;
  /** The gateway's explanation. */
  readonly message: string;
  /** How sure the gateway is of a hash match (UNSPECIFIED unless it is a hash match). */
  readonly matchConfidence: PrecheckMatchConfidence;
}

// Most severe first: a CSAM match outranks a format problem, which outranks a corrupt file.
const precedence: readonly RefusalReason[] = [
  RefusalReason.CSAM,
  RefusalReason.UNSUPPORTED_FORMAT,
  RefusalReason.INVALID_CONTENT,
  RefusalReason.UNKNOWN,
];

/**
 * Maps a PrecheckFailureType to the SDK's RefusalReason: NCMEC → CSAM, UNSUPPORTED_IMAGE_FORMAT →
 * UNSUPPORTED_FORMAT, INVALID_IMAGE → INVALID_CONTENT, anything else → UNKNOWN.
 */
export function refusalReasonOf(type: PrecheckFailureType): RefusalReason {
  switch (type) {
    case PrecheckFailureType.NCMEC:
      return RefusalReason.CSAM;
    case PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT:
      return RefusalReason.UNSUPPORTED_FORMAT;
    case PrecheckFailureType.INVALID_IMAGE:
      return RefusalReason.INVALID_CONTENT;
    default:
      return RefusalReason.UNKNOWN;
  }
}

/** Turns one PrecheckFailure detail into a RefusedContent. */
export function refusedContentOf(failure: PrecheckFailure): RefusedContent {
  const details = failure.details?.kind;
  return {
    reason: refusalReasonOf(failure.type),
    contentHash: details?.case === "stringValue" ? details.value : "",
    message: failure.message,
    matchConfidence: failure.matchConfidence,
  };
}

/**
 * Every refusal carried by an error's status details, in the order the gateway sent them; empty when the error
 * is not a refusal. A refusal is recognised by its PrecheckFailure details only, never by the status code.
 */
export function refusalsOf(error: ConnectError): RefusedContent[] {
  return precheckFailures(error).map(refusedContentOf);
}

/**
 * The most severe reason among the refusals (CSAM > UNSUPPORTED_FORMAT > INVALID_CONTENT > UNKNOWN);
 * UNKNOWN for an empty list.
 */
export function topRefusalReason(refusals: readonly RefusedContent[]): RefusalReason {
  for (const reason of precedence) {
    if (refusals.some((r) => r.reason === reason)) return reason;
  }
  return RefusalReason.UNKNOWN;
}

/**
 * The reason that occurs most often among the refusals; a tie goes to the more severe reason, so the answer does
 * not depend on the order the gateway sent them in. UNKNOWN for an empty list.
 */
export function mostCommonRefusalReason(refusals: readonly RefusedContent[]): RefusalReason {
  let best = RefusalReason.UNKNOWN;
  let bestCount = 0;
  for (const reason of precedence) {
    const count = refusals.filter((r) => r.reason === reason).length;
    if (count > bestCount) {
      best = reason;
      bestCount = count;
    }
  }
  return best;
}

/** The refused items' content hashes, without duplicates or empty hashes, in first-seen order. */
export function refusedContentHashes(refusals: readonly RefusedContent[]): string[] {
  return [...new Set(refusals.map((r) => r.contentHash).filter((h) => h !== ""))];
}
