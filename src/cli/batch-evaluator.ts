// The CLI's batch evaluation: a thin adapter over the SDK's bulk engine (`client.evaluateBatch`, src/batch/), which
// chunks the items, runs the concurrent streams, pins refusals to items and resends what a failed stream left
// unanswered. This file only turns the tool's input items into content items and each outcome into the tool's
// ItemResult.

import {
  DEFAULT_BATCH_CHUNK_SIZE,
  DEFAULT_BATCH_CONCURRENCY,
  DEFAULT_BATCH_MAX_CHUNK_BYTES,
} from "../batch/batch-options.js";
import type { BatchOutcome } from "../batch/batch-outcome.js";
import { BatchEvaluation, type BatchEvaluator } from "../batch/evaluate-batch.js";
import type { ClavataClient } from "../client.js";
import type { ContentDataInit } from "../content.js";
import { digestNowOf, parseContentHash } from "../content-hash.js";
import type { RefusedContent } from "../refusals.js";
import { contentDataOf, hashedBytesOf, type InputItem } from "./input-items.js";
import { type ItemResult, resultOfFailure, resultOfRefusal, resultOfReport } from "./item-result.js";

/** How to evaluate a batch. */
export interface BatchOptions {
  /** The policy to evaluate against. */
  policyId: string;
  /** The threshold, 0 to 1; default: the gateway's (0.5). */
  threshold?: number | undefined;
  /** Ask the gateway for expedited evaluation. */
  expedited?: boolean | undefined;
  /** How many Evaluate streams run at once. Default 4. */
  concurrency?: number;
  /** The most items in one stream. Default 100. */
  chunkSize?: number;
  /** The most content bytes in one stream, so that requests stay under the gateway's message limit. Default 3 MiB. */
  maxChunkBytes?: number;
  /** Call `onResult` in input order (the engine reorders within its window). Default false. */
  ordered?: boolean;
  /** Stops every stream; the batch then throws the client's AbortedError. */
  signal?: AbortSignal | undefined;
  /** Called once per item, as soon as its result is known (in input order with `ordered`). */
  onResult: (result: ItemResult) => void;
}

/** Default number of concurrent streams. */
export const DEFAULT_CONCURRENCY = DEFAULT_BATCH_CONCURRENCY;
/** Default number of items per stream. */
export const DEFAULT_CHUNK_SIZE = DEFAULT_BATCH_CHUNK_SIZE;
/** Default most content bytes per stream. */
export const DEFAULT_MAX_CHUNK_BYTES = DEFAULT_BATCH_MAX_CHUNK_BYTES;

/** The tool's result of one outcome of the engine. */
function resultOf(item: InputItem, outcome: BatchOutcome): ItemResult {
  switch (outcome.kind) {
    case "result":
      return resultOfReport(
        item,
        outcome.result.policyEvaluationReport,
        outcome.result.contentHash,
        outcome.result.jobUuid,
      );
    case "refused":
      return resultOfRefusal(item, outcome.refusal);
    case "failed":
      return resultOfFailure(item, outcome.error.message);
  }
}

/**
 * Evaluates every item and calls `onResult` once per item: evaluated (match, clear or failed), refused with its
 * reason, or failed when it could not be evaluated. Refusals and failed items never throw.
 *
 * @throws AbortedError when the signal fires, and the errors that doom every item (AuthenticationError,
 *   PermissionDeniedError, NotFoundError for an unknown policy); items without a result by then get none.
 */
export async function evaluateBatch(
  client: ClavataClient | BatchEvaluator,
  items: readonly InputItem[],
  options: BatchOptions,
): Promise<void> {
  const contents: ContentDataInit[] = items.map((item) => contentDataOf(item, false));
  const batch = new BatchEvaluation(client, contents, {
    policyId: options.policyId,
    threshold: options.threshold,
    expedited: options.expedited,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    maxChunkBytes: options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES,
    ordered: options.ordered === true,
    signal: options.signal,
  });
  for await (const outcome of batch) options.onResult(resultOf(items[outcome.index]!, outcome));
}

/**
 * Pins each refusal to the items whose content hash it names, for reporting a refused CreateJob (hashes the tool
 * computes at once: fnv1a128 and md5). Returns the refused items with their refusal, in input order, and the
 * refusals that matched no item.
 */
export function attributeRefusals(
  items: readonly InputItem[],
  refusals: readonly RefusedContent[],
): { refused: Array<{ item: InputItem; refusal: RefusedContent }>; unmatched: RefusedContent[] } {
  const refused: Array<{ item: InputItem; refusal: RefusedContent }> = [];
  const used = new Set<RefusedContent>();
  for (const item of items) {
    const bytes = hashedBytesOf(item);
    const refusal = refusals.find((r) => {
      const hash = parseContentHash(r.contentHash);
      return hash !== undefined && digestNowOf(bytes, hash.algorithm) === hash.value;
    });
    if (refusal !== undefined) {
      refused.push({ item, refusal });
      used.add(refusal);
    }
  }
  return { refused, unmatched: refusals.filter((r) => !used.has(r)) };
}
