// Pins the gateway's refusals to the items they are about. A refusal ends a whole stream and names each refused
// item only by its content hash ("algorithm::value"), so each unanswered item's hash is computed in the algorithm
// the gateway used (once per item and algorithm) and compared. When no hash settles it (an algorithm this SDK
// cannot compute, or no hash at all), the engine halves the chunk instead.

import { digestOf, parseContentHash } from "../content-hash.js";
import type { RefusedContent } from "../refusals.js";
import { type BatchItem, hashedBytesOf } from "./batch-item.js";

/** Computes and caches items' content hashes. @private */
export class HashMatcher {
  readonly #cache = new WeakMap<BatchItem, Map<string, string | undefined>>();

  /** Whether `contentHash` ("algorithm::value") is the item's content hash. */
  async matches(item: BatchItem, contentHash: string): Promise<boolean> {
    const parsed = parseContentHash(contentHash);
    if (parsed === undefined) return false;
    let hashes = this.#cache.get(item);
    if (hashes === undefined) {
      hashes = new Map();
      this.#cache.set(item, hashes);
    }
    if (!hashes.has(parsed.algorithm)) {
      hashes.set(parsed.algorithm, await digestOf(hashedBytesOf(item.content), parsed.algorithm));
    }
    return hashes.get(parsed.algorithm) === parsed.value;
  }

  /** The first item whose content hash is `contentHash`, if any. */
  async find(items: Iterable<BatchItem>, contentHash: string): Promise<BatchItem | undefined> {
    if (contentHash === "") return undefined;
    for (const item of items) if (await this.matches(item, contentHash)) return item;
    return undefined;
  }
}

/** The items a refusal is pinned to, and the items no refusal names. @private */
export interface Attribution {
  readonly refused: Array<{ item: BatchItem; refusal: RefusedContent }>;
  readonly rest: BatchItem[];
}

/**
 * Pins each refusal to every item whose content hash it names: identical content is refused alike, however many
 * times it appears. Items keep their order.
 * @private
 */
export async function attributeRefusals(
  items: readonly BatchItem[],
  refusals: readonly RefusedContent[],
  matcher: HashMatcher,
): Promise<Attribution> {
  const refused: Array<{ item: BatchItem; refusal: RefusedContent }> = [];
  const rest: BatchItem[] = [];
  const named = refusals.filter((r) => r.contentHash !== "");
  for (const item of items) {
    let found: RefusedContent | undefined;
    for (const refusal of named) {
      if (await matcher.matches(item, refusal.contentHash)) {
        found = refusal;
        break;
      }
    }
    if (found === undefined) rest.push(item);
    else refused.push({ item, refusal: found });
  }
  return { refused, rest };
}
