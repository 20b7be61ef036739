// Evaluating a batch of items: split into chunks (bounded in items and bytes), each chunk one Evaluate stream,
// at most `concurrency` streams at once. Answers arrive in any order and are matched to their items by the index
// the tool puts in each item's metadata (or, failing that, by content hash).
//
// A refusal ends a whole stream on the gateway, with one PrecheckFailure per refused item that carries the item's
// content hash. The items of that chunk that got no answer are then settled like this: those whose hash matches a
// refusal are reported refused; the others are sent again. When no hash matches (a hash algorithm this tool cannot
// compute), the chunk is split in halves until each refusal is pinned to one item.

import { createHash } from "node:crypto";
import type { EvaluateResponse } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import type { ClavataClient } from "../client.js";
import { fnv1a128 } from "../content-hash.js";
import { EvaluationRefusedError } from "../errors.js";
import type { RefusedContent } from "../refusals.js";
import { approximateSizeOf, contentDataOf, hashedBytesOf, type InputItem, ITEM_INDEX_KEY } from "./input-items.js";
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
  /** Stops every stream; the batch then throws the client's AbortedError. */
  signal?: AbortSignal | undefined;
  /** Called once per item, as soon as its result is known (in no particular order). */
  onResult: (result: ItemResult) => void;
}

/** Default number of concurrent streams. */
export const DEFAULT_CONCURRENCY = 4;
/** Default number of items per stream. */
export const DEFAULT_CHUNK_SIZE = 100;
/** Default most content bytes per stream: under the 4 MiB that gRPC servers accept by default. */
export const DEFAULT_MAX_CHUNK_BYTES = 3 * 1024 * 1024;

/**
 * Splits items into chunks of at most `chunkSize` items and `maxBytes` bytes (an item larger than `maxBytes` gets a
 * chunk of its own), keeping the input order.
 */
export function chunkItems(items: readonly InputItem[], chunkSize: number, maxBytes: number): InputItem[][] {
  const chunks: InputItem[][] = [];
  let current: InputItem[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = approximateSizeOf(item);
    if (current.length > 0 && (current.length >= chunkSize || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const digestAlgorithms = new Set(["md5", "sha1", "sha256", "sha512"]);

/**
 * An item's content hash in the given algorithm ("fnv1a128", which the emulator uses, or md5, sha1, sha256,
 * sha512), as lowercase hex; undefined for an algorithm this tool cannot compute.
 */
export function itemHash(item: InputItem, algorithm: string): string | undefined {
  const algo = algorithm.toLowerCase().replace(/-/g, "");
  const bytes = hashedBytesOf(item);
  if (algo === "fnv1a128") return fnv1a128(bytes);
  if (digestAlgorithms.has(algo)) return createHash(algo).update(bytes).digest("hex");
  return undefined;
}

/** Finds the items a content hash ("algorithm::value") belongs to, computing each item's hash once per algorithm. */
class HashIndex {
  readonly #cache = new WeakMap<InputItem, Map<string, string | undefined>>();

  matches(item: InputItem, contentHash: string): boolean {
    const separator = contentHash.indexOf("::");
    if (separator < 0) return false;
    const algorithm = contentHash.slice(0, separator);
    let hashes = this.#cache.get(item);
    if (hashes === undefined) {
      hashes = new Map();
      this.#cache.set(item, hashes);
    }
    if (!hashes.has(algorithm)) hashes.set(algorithm, itemHash(item, algorithm));
    return hashes.get(algorithm) === contentHash.slice(separator + 2).toLowerCase();
  }
}

/**
 * Pins each refusal to the items whose content hash it names (as far as this tool can compute the hash). Returns
 * the refused items with their refusal, in input order, and the refusals that matched no item.
 */
export function attributeRefusals(
  items: readonly InputItem[],
  refusals: readonly RefusedContent[],
): { refused: Array<{ item: InputItem; refusal: RefusedContent }>; unmatched: RefusedContent[] } {
  const hashes = new HashIndex();
  const refused: Array<{ item: InputItem; refusal: RefusedContent }> = [];
  const used = new Set<RefusedContent>();
  for (const item of items) {
    const refusal = refusals.find((r) => hashes.matches(item, r.contentHash));
    if (refusal !== undefined) {
      refused.push({ item, refusal });
      used.add(refusal);
    }
  }
  return { refused, unmatched: refusals.filter((r) => !used.has(r)) };
}

/**
 * Evaluates every item and calls `onResult` once per item: evaluated (match, clear or failed), or refused with its
 * reason. Refusals never throw.
 *
 * @throws the first other error (ClavataError: connection, authentication, unknown policy, timeout, abort…), after
 *   cancelling the other streams; items without a result by then get none.
 */
export async function evaluateBatch(
  client: ClavataClient,
  items: readonly InputItem[],
  options: BatchOptions,
): Promise<void> {
  const chunks = chunkItems(
    items,
    options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES,
  );
  const controller = new AbortController();
  const outer = options.signal;
  const onAbort = () => controller.abort(outer!.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener("abort", onAbort, { once: true });
  const hashes = new HashIndex();
  let firstError: unknown;
  let next = 0;

  const evaluateChunk = async (chunk: readonly InputItem[]): Promise<void> => {
    const pending = new Map(chunk.map((item) => [item.index, item]));
    try {
      const stream = client.evaluate(
        {
          policyId: options.policyId,
          contentData: chunk.map((item) => contentDataOf(item, true)),
          ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
          ...(options.expedited ? { expedited: true } : {}),
        },
        { signal: controller.signal },
      );
      for await (const response of stream) {
        const item = itemOf(response, pending, hashes);
        if (item === undefined) continue;
        pending.delete(item.index);
        options.onResult(resultOfReport(item, response.policyEvaluationReport, response.contentHash, response.jobUuid));
      }
      for (const item of pending.values()) {
        options.onResult(resultOfFailure(item, "the gateway ended the stream without a result for this item"));
      }
    } catch (error) {
      if (!(error instanceof EvaluationRefusedError)) throw error;
      const left = [...pending.values()];
      const rest: InputItem[] = [];
      let attributed = 0;
      for (const item of left) {
        const refusal = error.refusals.find((r) => hashes.matches(item, r.contentHash));
        if (refusal === undefined) {
          rest.push(item);
        } else {
          attributed++;
          options.onResult(resultOfRefusal(item, refusal));
        }
      }
      if (rest.length === 0) return;
      if (attributed > 0) return evaluateChunk(rest);
      if (rest.length === 1) {
        // The gateway always sends at least one refusal with this error.
        options.onResult(resultOfRefusal(rest[0]!, error.refusals[0]!));
        return;
      }
      // No refusal names an item by a hash this tool can compute: halve until each refusal has its item.
      const half = Math.ceil(rest.length / 2);
      await evaluateChunk(rest.slice(0, half));
      await evaluateChunk(rest.slice(half));
    }
  };

  const worker = async (): Promise<void> => {
    while (next < chunks.length && !controller.signal.aborted) {
      const chunk = chunks[next++]!;
      try {
        await evaluateChunk(chunk);
      } catch (error) {
        if (firstError === undefined) firstError = error;
        controller.abort(error);
        return;
      }
    }
  };

  try {
    const workers = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, chunks.length));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    outer?.removeEventListener("abort", onAbort);
  }
  if (firstError !== undefined) throw firstError;
}

/** The pending item an answer belongs to: by the index in its metadata, else by its content hash. */
function itemOf(response: EvaluateResponse, pending: Map<number, InputItem>, hashes: HashIndex): InputItem | undefined {
  const tagged = response.policyEvaluationReport?.contentMetadata[ITEM_INDEX_KEY];
  if (tagged !== undefined) {
    const item = pending.get(Number(tagged));
    if (item !== undefined) return item;
  }
  const hash = response.contentHash || response.policyEvaluationReport?.contentHash || "";
  if (hash === "") return undefined;
  for (const item of pending.values()) if (hashes.matches(item, hash)) return item;
  return undefined;
}
