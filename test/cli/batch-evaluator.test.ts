// The batch evaluator's own logic: chunking, and pinning refusals to items when the gateway's hash cannot be
// computed here. The end-to-end tests cover it against the emulator (whose hashes the tool can compute); these use a
// scripted stand-in for the client's evaluate() to reach the paths the emulator never takes.

import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type EvaluateResponse, EvaluateResponseSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { type ContentData, Outcome } from "../../gen/clavata/shared/v1/public_pb.js";
import { chunkItems, evaluateBatch, itemHash } from "../../src/cli/batch-evaluator.js";
import type { InputItem } from "../../src/cli/input-items.js";
import type { ItemResult } from "../../src/cli/item-result.js";
import type { ClavataClient } from "../../src/client.js";
import { ConnectionError, EvaluationRefusedError } from "../../src/errors.js";
import { RefusalReason, type RefusedContent } from "../../src/refusals.js";
import type { EvaluateRequestInit } from "../../src/requests.js";

function textItem(index: number, text: string): InputItem {
  return { index, id: `t${index}`, content: { case: "text", value: text }, metadata: {} };
}

type Item = NonNullable<EvaluateRequestInit["contentData"]>[number] & Partial<ContentData>;

/**
 * A stand-in client: refuses every request that holds a text in `refused` (with `hashOf` as the detail), and
 * otherwise answers each item in reverse order, as the gateway may.
 */
function scriptedClient(refused: Set<string>, hashOf: (text: string) => string, calls: string[][]): ClavataClient {
  return {
    evaluate(request: EvaluateRequestInit) {
      const items = (request.contentData ?? []) as Item[];
      const texts = items.map((i) => String((i.content as { value: unknown }).value));
      calls.push(texts);
      return (async function* (): AsyncGenerator<EvaluateResponse> {
        const bad = texts.filter((t) => refused.has(t));
        if (bad.length > 0) {
          const refusals: RefusedContent[] = bad.map((t) => ({
            reason: RefusalReason.UNSUPPORTED_FORMAT,
            contentHash: hashOf(t),
            message: "unsupported image format",
            matchConfidence: 0,
          }));
          throw new EvaluationRefusedError("refused", { code: Code.Canceled, refusals });
        }
        for (const item of [...items].reverse()) {
          yield create(EvaluateResponseSchema, {
            jobUuid: "job",
            contentHash: "",
            policyEvaluationReport: {
              contentMetadata: item.metadata as Record<string, string>,
              reviewResult: { outcome: Outcome.FALSE, score: 0 },
            },
          });
        }
      })();
    },
  } as unknown as ClavataClient;
}

async function run(client: ClavataClient, items: InputItem[], chunkSize: number): Promise<Map<string, ItemResult>> {
  const results = new Map<string, ItemResult>();
  await evaluateBatch(client, items, {
    policyId: "p",
    chunkSize,
    concurrency: 2,
    onResult: (r) => {
      expect(results.has(r.id)).toBe(false);
      results.set(r.id, r);
    },
  });
  return results;
}

describe("evaluateBatch", () => {
  const items = Array.from({ length: 10 }, (_, i) => textItem(i, i === 3 || i === 8 ? `bad ${i}` : `ok ${i}`));
  const refused = new Set(["bad 3", "bad 8"]);

  it("pins refusals to items by a content hash it can compute, re-sending only the others", async () => {
    const calls: string[][] = [];
    const md5 = (t: string) => `md5::${createHash("md5").update(t).digest("hex")}`;
    const results = await run(scriptedClient(refused, md5, calls), items, 10);
    expect(
      [...results.values()]
        .filter((r) => r.outcome === "refused")
        .map((r) => r.id)
        .sort(),
    ).toEqual(["t3", "t8"]);
    expect([...results.values()].filter((r) => r.outcome === "clear")).toHaveLength(8);
    // The refused stream, then one stream of the eight others.
    expect(calls.map((c) => c.length)).toEqual([10, 8]);
  });

  it("halves a refused chunk until each refusal has its item when the hash algorithm is unknown", async () => {
    const calls: string[][] = [];
    const results = await run(
      scriptedClient(refused, () => "xxh3::0123", calls),
      items,
      10,
    );
    expect(results.size).toBe(10);
    expect(results.get("t3")).toMatchObject({ outcome: "refused", refusal: { reason: "UNSUPPORTED_FORMAT" } });
    expect(results.get("t8")).toMatchObject({ outcome: "refused" });
    expect([...results.values()].filter((r) => r.outcome === "clear")).toHaveLength(8);
  });

  it("needs about two calls per halving, not one per item, to find one refused item among many", async () => {
    const many = Array.from({ length: 40 }, (_, i) => textItem(i, i === 13 ? "bad 13" : `ok ${i}`));
    const calls: string[][] = [];
    const results = await run(
      scriptedClient(new Set(["bad 13"]), () => "xxh3::0123", calls),
      many,
      40,
    );
    expect([...results.values()].filter((r) => r.outcome === "refused").map((r) => r.id)).toEqual(["t13"]);
    expect([...results.values()].filter((r) => r.outcome === "clear")).toHaveLength(39);
    // 1 + 2 per level over ceil(log2(40)) = 6 levels at most; one call per item would be 41.
    expect(calls.length).toBeLessThanOrEqual(13);
  });

  it("stops at the first other error and throws it", async () => {
    const calls: string[][] = [];
    const failing = {
      evaluate() {
        calls.push([]);
        const failure = new ConnectionError("could not reach the gateway", { code: Code.Unavailable });
        return {
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(failure) }),
        } as AsyncIterable<EvaluateResponse>;
      },
    } as unknown as ClavataClient;
    await expect(run(failing, items, 2)).rejects.toBeInstanceOf(ConnectionError);
    // Two streams started at once; no further chunk is sent after the failure.
    expect(calls.length).toBeLessThanOrEqual(2);
  });
});

describe("chunkItems", () => {
  it("keeps input order and bounds each chunk by items and by bytes", () => {
    const items = Array.from({ length: 7 }, (_, i) => textItem(i, "x".repeat(100)));
    expect(chunkItems(items, 3, 1_000_000).map((c) => c.map((i) => i.index))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    // About 140 bytes each: two fit under 300.
    expect(chunkItems(items, 100, 300).map((c) => c.length)).toEqual([2, 2, 2, 1]);
    // An item larger than the byte bound gets a chunk of its own.
    expect(chunkItems([textItem(0, "y".repeat(1000)), ...items.slice(1, 3)], 100, 300).map((c) => c.length)).toEqual([
      1, 2,
    ]);
  });
});

describe("itemHash", () => {
  it("computes the emulator's fnv1a128 and the common digests, and nothing it does not know", () => {
    const item = textItem(0, "hello");
    expect(itemHash(item, "sha256")).toBe(createHash("sha256").update("hello").digest("hex"));
    expect(itemHash(item, "MD5")).toBe(createHash("md5").update("hello").digest("hex"));
    expect(itemHash(item, "fnv1a128")).toMatch(/^[0-9a-f]{32}$/);
    expect(itemHash(item, "xxh3")).toBeUndefined();
  });
});
