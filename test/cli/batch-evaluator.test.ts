// The batch evaluator (a thin adapter over the SDK's bulk engine, src/batch/): pinning refusals to items when the
// gateway's hash cannot be computed here, and what a failing gateway does to a run. The end-to-end tests cover it
// against the emulator (whose hashes the tool can compute); these use a scripted stand-in for the client's
// evaluate() to reach the paths the emulator never takes. Chunking and hashing are tested with the engine
// (test/batch/).

import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type EvaluateResponse, EvaluateResponseSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { type ContentData, Outcome } from "../../gen/clavata/shared/v1/public_pb.js";
import { attributeRefusals, evaluateBatch } from "../../src/cli/batch-evaluator.js";
import type { InputItem } from "../../src/cli/input-items.js";
import type { ItemResult } from "../../src/cli/item-result.js";
import type { ClavataClient } from "../../src/client.js";
import { AuthenticationError, ConnectionError, EvaluationRefusedError } from "../../src/errors.js";
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

  /** A client whose every stream fails with `failure` before its first result. */
  function failingClient(failure: Error, calls: string[][]): ClavataClient {
    return {
      evaluate() {
        calls.push([]);
        return {
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(failure) }),
        } as AsyncIterable<EvaluateResponse>;
      },
    } as unknown as ClavataClient;
  }

  it("stops at an error that dooms every item and throws it", async () => {
    const calls: string[][] = [];
    const failure = new AuthenticationError("the gateway did not accept the API key", { code: Code.Unauthenticated });
    await expect(run(failingClient(failure, calls), items, 2)).rejects.toBe(failure);
    // Two streams started at once; no further chunk is sent after the failure.
    expect(calls.length).toBeLessThanOrEqual(2);
  });

  it("gives each item its attempts on a gateway that cannot be reached, then reports it failed", async () => {
    const calls: string[][] = [];
    const failure = new ConnectionError("could not reach the gateway", { code: Code.Unavailable });
    const results = await run(failingClient(failure, calls), items.slice(0, 4), 2);
    expect(results.size).toBe(4);
    expect([...results.values()].every((r) => r.outcome === "failed" && r.error === failure.message)).toBe(true);
    // Two chunks, three sends each.
    expect(calls.length).toBe(6);
  });
});

describe("attributeRefusals", () => {
  it("pins a refused job's refusals to items by fnv1a128 or md5, and lists the others as unmatched", () => {
    const refusal = (contentHash: string): RefusedContent => ({
      reason: RefusalReason.CSAM,
      contentHash,
      message: "m",
      matchConfidence: 0,
    });
    const md5 = refusal(`md5::${createHash("md5").update("bad 3").digest("hex")}`);
    const unknown = refusal("xxh3::0123");
    const items = Array.from({ length: 5 }, (_, i) => textItem(i, i === 3 ? "bad 3" : `ok ${i}`));
    const { refused, unmatched } = attributeRefusals(items, [md5, unknown]);
    expect(refused.map((r) => r.item.id)).toEqual(["t3"]);
    expect(unmatched).toEqual([unknown]);
  });
});
