import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { create, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PrecheckFailureType, PrecheckMatchConfidence } from "../../gen/clavata/gateway/v1/errs_pb.js";
import { EvaluateResponseSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import {
  type ContentData,
  ContentDataSchema,
  Outcome,
  type PolicyEvaluationReport,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { contentHash } from "../../src/content-hash.js";
import { type ContentVerdict, effectiveThreshold, PolicyEngine } from "../../src/emulator/engine.js";
import { makePng } from "../../src/emulator/image.js";
import { formatFromUrlPath, isLoopbackUrl } from "../../src/emulator/image-fetch.js";
import { type Policy, type PolicyJson, parsePolicies } from "../../src/emulator/policy.js";
import {
  SAMPLE_LABEL_VERSION_IDS,
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  sampleKnownImage,
} from "../../src/emulator/sample-policies.js";

const text = (value: string, metadata: Record<string, string> = {}): ContentData =>
  create(ContentDataSchema, { content: { case: "text", value }, metadata });
const image = (value: Uint8Array): ContentData => create(ContentDataSchema, { content: { case: "image", value } });
const imageUrl = (value: string): ContentData => create(ContentDataSchema, { content: { case: "imageUrl", value } });

const engine = new PolicyEngine({ policies: SAMPLE_POLICIES });
const policy = (id: string): Policy => engine.getPolicy(id)!;
const violence = () => policy(SAMPLE_POLICY_IDS.violence);
const spam = () => policy(SAMPLE_POLICY_IDS.spam);
const images = () => policy(SAMPLE_POLICY_IDS.images);

/** Evaluates and insists on a report (not a refusal). */
async function report(
  p: Policy,
  item: ContentData,
  threshold?: number,
  on: PolicyEngine = engine,
): Promise<PolicyEvaluationReport> {
  const verdict = await on.evaluate(p, item, threshold);
  if (verdict.kind !== "evaluated") throw new Error(`expected a report, got a refusal: ${verdict.failure.message}`);
  return verdict.report;
}

/** Evaluates and insists on a refusal. */
async function refusal(p: Policy, item: ContentData, on: PolicyEngine = engine) {
  const verdict = await on.evaluate(p, item, undefined);
  if (verdict.kind !== "refused") throw new Error("expected a refusal, got a report");
  return verdict;
}

/** Each section's [name, outcome, score]. */
const sections = (r: PolicyEvaluationReport) =>
  r.sectionEvaluationReports.map((s) => [s.name, s.reviewResult?.outcome, s.reviewResult?.score]);

function onePolicy(json: Partial<PolicyJson> & Pick<PolicyJson, "sections">): Policy {
  return parsePolicies([{ id: "custom", key: "Custom", versionId: "v9", ...json }])[0]!;
}

describe("PolicyEngine: matchers", () => {
  it("keywords and regex: the section scores its best assertion", async () => {
    const r = await report(violence(), text("Listen: I will hurt you."));
    expect(sections(r)).toEqual([
      ["Threats", Outcome.TRUE, 0.95],
      ["Weapons", Outcome.FALSE, 0],
    ]);
    expect(r.sectionEvaluationReports[0]!.assertionEvaluationReports.map((a) => [a.message, a.score])).toEqual([
      ["Threatens to kill or hurt someone", 0.9],
      ["States an intent to hurt or kill", 0.95],
    ]);
    expect(r.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.95 });
    expect(r.labelMatches).toEqual({ Threats: 0.95 });
  });

  it("a regex alone, and a keyword alone", async () => {
    const regexOnly = await report(violence(), text("i'm gonna stab him"));
    expect(regexOnly.sectionEvaluationReports[0]!.assertionEvaluationReports.map((a) => a.score)).toEqual([0, 0.95]);
    const keywordOnly = await report(violence(), text("YOU ARE DEAD"));
    expect(keywordOnly.sectionEvaluationReports[0]!.assertionEvaluationReports.map((a) => a.score)).toEqual([0.9, 0]);
    const neither = await report(violence(), text("what a skillful kill-you-not game")); // "kill you" needs whitespace
    expect(neither.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0 });
  });

  it("image matchers on format, dimensions, size and content hash", async () => {
    const png = makePng(4, 3);
    const custom = onePolicy({
      sections: [
        { name: "png", message: "M", assertions: [{ description: "png", score: 0.6, image: { formats: ["png"] } }] },
        { name: "webp", message: "M", assertions: [{ description: "webp", score: 0.6, image: { formats: ["webp"] } }] },
        {
          name: "4x3",
          message: "M",
          assertions: [{ description: "4x3", score: 0.7, image: { minWidth: 4, minHeight: 3 } }],
        },
        { name: "5 wide", message: "M", assertions: [{ description: "5 wide", score: 0.7, image: { minWidth: 5 } }] },
        {
          name: "size",
          message: "M",
          assertions: [{ description: "size", score: 0.8, image: { minBytes: png.length, maxBytes: png.length } }],
        },
        {
          name: "too small",
          message: "M",
          assertions: [{ description: "small", score: 0.8, image: { maxBytes: png.length - 1 } }],
        },
        {
          name: "hash",
          message: "M",
          assertions: [{ description: "hash", score: 1, image: { contentHashes: [contentHash(png)] } }],
        },
        { name: "any", message: "M", assertions: [{ description: "any image", score: 0.5, image: {} }] },
        {
          name: "all",
          message: "M",
          assertions: [
            {
              description: "all",
              score: 0.9,
              image: { formats: ["png"], minWidth: 4, contentHashes: [contentHash(png)] },
            },
          ],
        },
      ],
    });
    const r = await report(custom, image(png));
    expect(sections(r)).toEqual([
      ["png", Outcome.TRUE, 0.6],
      ["webp", Outcome.FALSE, 0],
      ["4x3", Outcome.TRUE, 0.7],
      ["5 wide", Outcome.FALSE, 0],
      ["size", Outcome.TRUE, 0.8],
      ["too small", Outcome.FALSE, 0],
      ["hash", Outcome.TRUE, 1],
      ["any", Outcome.TRUE, 0.5],
      ["all", Outcome.TRUE, 0.9],
    ]);
  });

  it("the sample Images policy: known image hash and large images", async () => {
    const known = await report(images(), image(sampleKnownImage()));
    expect(known.labelMatches).toEqual({ "Known images": 1 });
    const large = await report(images(), image(makePng(1000, 1000)));
    expect(large.labelMatches).toEqual({ "Large images": 0.7 });
  });

  it("text matchers never match images and image matchers never match text", async () => {
    const onText = await report(images(), text("webp png jpeg image"));
    expect(onText.sectionEvaluationReports.every((s) => s.reviewResult?.score === 0)).toBe(true);
    const custom = onePolicy({
      sections: [{ name: "S", message: "M", assertions: [{ description: "anything", score: 1, regex: "[\\s\\S]" }] }],
    });
    const onImage = await report(custom, image(makePng(2, 2)));
    expect(onImage.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0 });
  });
});

describe("PolicyEngine: exceptions", () => {
  it("a section's UNLESS cancels its match but keeps its score", async () => {
    const r = await report(violence(), text("In the movie the villain says: I will kill you"));
    const threats = r.sectionEvaluationReports[0]!;
    expect(threats.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0.95 });
    expect(threats.result).toBe(Outcome.FALSE);
    expect(threats.exceptionEvaluationReport?.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.8 });
    expect(threats.exceptionEvaluationReport?.result).toBe(Outcome.TRUE);
    expect(threats.exceptionEvaluationReport?.assertionEvaluationReports.map((a) => [a.message, a.score])).toEqual([
      ["The threat is part of fiction or a game", 0.8],
    ]);
    // The policy score skips the cancelled section.
    expect(r.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0 });
    expect(r.labelMatches).toEqual({});
  });

  it("an exception that does not hold is reported FALSE and changes nothing", async () => {
    const r = await report(violence(), text("I will kill you"));
    expect(r.sectionEvaluationReports[0]!.exceptionEvaluationReport?.reviewResult).toMatchObject({
      outcome: Outcome.FALSE,
      score: 0,
    });
    expect(r.exceptionEvaluationReport?.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0 });
    expect(r.sectionEvaluationReports[1]!.exceptionEvaluationReport).toBeUndefined(); // Weapons has no UNLESS
    expect(r.reviewResult?.outcome).toBe(Outcome.TRUE);
  });

  it("the policy's UNLESS cancels every section and the policy", async () => {
    const r = await report(violence(), text("Breaking news: a man shouted I will kill you and showed a gun"));
    expect(r.exceptionEvaluationReport?.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.9 });
    expect(sections(r)).toEqual([
      ["Threats", Outcome.FALSE, 0.95],
      ["Weapons", Outcome.FALSE, 0.6],
    ]);
    expect(r.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0 });
    expect(r.result).toBe(Outcome.FALSE);
    expect(r.labelMatches).toEqual({});
  });

  it("the policy score is the best score of the sections not cancelled", async () => {
    // Threats is cancelled by its own UNLESS; Weapons (0.6) is not.
    const r = await report(violence(), text("in the game I will shoot you with a rifle"));
    expect(sections(r)).toEqual([
      ["Threats", Outcome.FALSE, 0.95],
      ["Weapons", Outcome.TRUE, 0.6],
    ]);
    expect(r.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.6 });
    expect(r.labelMatches).toEqual({ Weapons: 0.6 });
  });
});

describe("PolicyEngine: thresholds", () => {
  const gun = text("nice gun");

  it("unset and 0 mean 0.5", async () => {
    for (const t of [undefined, 0]) {
      const r = await report(violence(), gun, t);
      expect(r.threshold).toBe(0.5);
      expect(r.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.6 });
    }
    expect(effectiveThreshold(undefined)).toBe(0.5);
  });

  it("0.3 lets a lower score match; 0.9 does not", async () => {
    const low = await report(violence(), gun, 0.3);
    expect(low.threshold).toBe(0.3);
    expect(low.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.6 });
    const high = await report(violence(), gun, 0.9);
    expect(high.threshold).toBe(0.9);
    expect(high.reviewResult).toMatchObject({ outcome: Outcome.FALSE, score: 0.6 });
    expect(high.result).toBe(Outcome.FALSE);
    expect(high.sectionEvaluationReports[1]!.assertionEvaluationReports[0]).toMatchObject({
      score: 0.6,
      result: Outcome.FALSE,
    });
    expect(high.labelMatches).toEqual({});
  });

  it("applies to exceptions too: at 0.9 the fiction exception (0.8) no longer holds", async () => {
    const r = await report(violence(), text("In the movie he says I will kill you"), 0.9);
    expect(r.sectionEvaluationReports[0]!.exceptionEvaluationReport?.reviewResult).toMatchObject({
      outcome: Outcome.FALSE,
      score: 0.8,
    });
    expect(r.sectionEvaluationReports[0]!.reviewResult).toMatchObject({ outcome: Outcome.TRUE, score: 0.95 });
  });

  it("a score equal to the threshold matches", async () => {
    expect((await report(violence(), gun, 0.6)).reviewResult?.outcome).toBe(Outcome.TRUE);
  });

  it("rejects thresholds outside [0, 1]", async () => {
    for (const t of [-0.1, 1.5, Number.NaN]) {
      await expect(engine.evaluate(violence(), gun, t)).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
  });
});

describe("PolicyEngine: report fields", () => {
  it("label_matches holds every TRUE section by name", async () => {
    const r = await report(spam(), text("BUY NOW at https://deals.example.net"));
    expect(r.labelMatches).toEqual({ "Commercial spam": 0.85, Links: 0.55 });
    const high = await report(spam(), text("BUY NOW at https://deals.example.net"), 0.6);
    expect(high.labelMatches).toEqual({ "Commercial spam": 0.85 });
  });

  it("token usage: ceil(UTF-8 bytes / 4), at least 1, times the multiplier", async () => {
    const cases: [string, number, number][] = [
      ["a", 1, 2], // 1 × 1.5 = 1.5 rounds to 2
      ["abcd", 1, 2],
      ["hello", 2, 3],
      ["ééééé", 3, 5], // 10 bytes; 4.5 rounds to 5
      ["x".repeat(400), 100, 150],
    ];
    for (const [input, tokens, billed] of cases) {
      const r = await report(spam(), text(input));
      expect(r.tokenUsage, input).toMatchObject({ inputTokens: tokens, billedTokens: billed, multiplier: 1.5 });
    }
    expect((await report(violence(), text("hello"))).tokenUsage).toMatchObject({
      inputTokens: 2,
      billedTokens: 2,
      multiplier: 1,
    });
  });

  it("token usage: 256 for an image or an image URL", async () => {
    expect((await report(spam(), image(makePng(2, 2)))).tokenUsage).toMatchObject({
      inputTokens: 256,
      billedTokens: 384,
    });
    expect((await report(spam(), imageUrl("https://cdn.example.com/a.png"))).tokenUsage).toMatchObject({
      inputTokens: 256,
      billedTokens: 384,
    });
  });

  it("policy id, key and version, content hash of text (UTF-8) and image, metadata echo", async () => {
    const item = text("héllo", { id: "42", user: "u-1" });
    const verdict = await engine.evaluate(violence(), item, undefined);
    const hash = contentHash(new TextEncoder().encode("héllo"));
    expect(verdict.contentHash).toBe(hash);
    const r = (verdict as Extract<ContentVerdict, { kind: "evaluated" }>).report;
    expect(r).toMatchObject({
      policyId: "policy-violence",
      policyKey: "Violence",
      policyVersionId: "v1",
      contentHash: hash,
    });
    expect(r.contentMetadata).toEqual({ id: "42", user: "u-1" });
    r.contentMetadata.id = "changed";
    expect(item.metadata.id).toBe("42"); // a copy, not the request's own map
    expect(r.labelId).toBe("");
    const png = makePng(3, 3);
    expect((await report(images(), image(png))).contentHash).toBe(contentHash(png));
  });

  it("is deterministic", async () => {
    const item = text("I will hurt you in the movie, buy now", { k: "v" });
    for (const p of SAMPLE_POLICIES) {
      const a = await report(p, item, 0.4);
      const b = await report(p, item, 0.4);
      expect(toBinary(EvaluateResponseSchema, create(EvaluateResponseSchema, { policyEvaluationReport: a }))).toEqual(
        toBinary(EvaluateResponseSchema, create(EvaluateResponseSchema, { policyEvaluationReport: b })),
      );
    }
  });

  it("has the shape of the gateway's report in the wire vector evaluate_response_report, byte for byte", async () => {
    const fixture = fileURLToPath(new URL("../fixtures/wire-vectors.json", import.meta.url));
    const vectors = (
      JSON.parse(readFileSync(fixture, "utf8")) as { vectors: { name: string; hex: string; json: JsonValue }[] }
    ).vectors;
    const vector = vectors.find((v) => v.name === "evaluate_response_report")!;
    // A policy like the one behind the vector: Violence, one section Threats with an UNLESS, multiplier 1.5.
    const p = onePolicy({
      id: "p1",
      key: "Violence",
      versionId: "v1",
      multiplier: 1.5,
      sections: [
        {
          name: "Threats",
          message: "BLOCK",
          assertions: [{ description: "contains a threat", score: 0.91, keywords: ["threat"] }],
          unless: [{ description: "is fiction", score: 0.9, keywords: ["in the movie"] }],
        },
      ],
    });
    const input = "This message contains a threat against the city.";
    expect(Buffer.byteLength(input)).toBe(48); // 12 input tokens, as in the vector
    const ours = await report(p, text(input, { id: "1" }));

    const expected = fromJson(EvaluateResponseSchema, vector.json);
    const theirs = expected.policyEvaluationReport!;
    // The vector leaves out what the emulator adds: the deprecated `result` copies of each outcome, and the
    // exception block's assertions. Everything else must be the same, down to the bytes.
    expect(ours.result).toBe(Outcome.TRUE);
    ours.result = Outcome.UNSPECIFIED;
    for (const s of ours.sectionEvaluationReports) {
      expect(s.result).toBe(s.reviewResult!.outcome);
      s.result = Outcome.UNSPECIFIED;
      for (const a of s.assertionEvaluationReports) a.result = Outcome.UNSPECIFIED;
      expect(s.exceptionEvaluationReport!.assertionEvaluationReports).toHaveLength(1);
      s.exceptionEvaluationReport!.assertionEvaluationReports = [];
      s.exceptionEvaluationReport!.result = Outcome.UNSPECIFIED;
    }
    expect(ours.contentHash).toBe(contentHash(input));
    ours.contentHash = theirs.contentHash; // the vector's hash is a placeholder
    const response = create(EvaluateResponseSchema, {
      jobUuid: expected.jobUuid,
      contentHash: theirs.contentHash,
      policyEvaluationReport: ours,
    });
    expect(Buffer.from(toBinary(EvaluateResponseSchema, response)).toString("hex")).toBe(vector.hex);
  });
});

describe("PolicyEngine: refusals", () => {
  it("a blocked hash is refused as NCMEC with EXACT confidence, given up front or at run time", async () => {
    const bad = "some known bad text";
    const blocking = new PolicyEngine({ policies: SAMPLE_POLICIES, blockedHashes: [contentHash(bad)] });
    const verdict = await refusal(violence(), text(bad), blocking);
    expect(verdict.contentHash).toBe(contentHash(bad));
    expect(verdict.failure).toMatchObject({
      type: PrecheckFailureType.NCMEC,
      message: "content matched a known CSAM hash",
      matchConfidence: PrecheckMatchConfidence.EXACT,
      details: { kind: { case: "stringValue", value: contentHash(bad) } },
    });
    const png = makePng(2, 2);
    expect((await blocking.evaluate(images(), image(png), undefined)).kind).toBe("evaluated");
    blocking.blockHash(contentHash(png).toUpperCase().replace("FNV1A128", "fnv1a128"));
    expect(blocking.isBlocked(contentHash(png))).toBe(true);
    expect((await refusal(images(), image(png), blocking)).failure.type).toBe(PrecheckFailureType.NCMEC);
    // The block list comes first: a blocked GIF is NCMEC, not an unsupported format.
    const gif = new TextEncoder().encode("GIF89a not really");
    blocking.blockHash(contentHash(gif));
    expect((await refusal(images(), image(gif), blocking)).failure.type).toBe(PrecheckFailureType.NCMEC);
    expect(() => blocking.blockHash("fnv1a128::aa")).toThrow(
      /not a content hash; give "fnv1a128::" followed by 32 hex digits/,
    );
  });

  it("a GIF is refused as an unsupported image format", async () => {
    const gif = Uint8Array.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0, 0, 0, 0x3b]);
    const verdict = await refusal(images(), image(gif));
    expect(verdict.failure).toMatchObject({
      type: PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
      message: "unsupported image format",
      matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      details: { kind: { case: "stringValue", value: contentHash(gif) } },
    });
  });

  it("a truncated PNG is refused as an invalid image, with the reason", async () => {
    const png = makePng(2, 2);
    const cut = png.subarray(0, png.length - 12);
    const verdict = await refusal(violence(), image(cut));
    expect(verdict.failure).toMatchObject({
      type: PrecheckFailureType.INVALID_IMAGE,
      message: "invalid image: no IEND chunk (the file is truncated)",
      details: { kind: { case: "stringValue", value: contentHash(cut) } },
    });
  });

  it("a URL that is not loopback is never fetched: hashed as its string, format from its extension", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    try {
      const gifUrl = "https://cdn.example.com/images/cat.gif";
      const refused = await refusal(images(), imageUrl(gifUrl));
      expect(refused.failure).toMatchObject({
        type: PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
        message: "unsupported image format",
      });
      expect(refused.contentHash).toBe(contentHash(gifUrl));
      expect((await refusal(images(), imageUrl("https://cdn.example.com/render?id=1"))).failure.type).toBe(
        PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
      );

      const webpUrl = "https://cdn.example.com/images/cat.WEBP?size=large";
      const r = await report(images(), imageUrl(webpUrl));
      expect(r.contentHash).toBe(contentHash(webpUrl));
      // Format matches; size and dimensions are unknown, so "Large images" cannot match.
      expect(sections(r)).toEqual([
        ["WebP images", Outcome.TRUE, 0.6],
        ["Large images", Outcome.FALSE, 0],
        ["Known images", Outcome.FALSE, 0],
      ]);
      const byHash = onePolicy({
        sections: [
          {
            name: "url hash",
            message: "M",
            assertions: [{ description: "d", score: 1, image: { contentHashes: [contentHash(webpUrl)] } }],
          },
          { name: "jpeg", message: "M", assertions: [{ description: "d", score: 1, image: { formats: ["jpeg"] } }] },
          { name: "sized", message: "M", assertions: [{ description: "d", score: 1, image: { minBytes: 0 } }] },
        ],
      });
      expect(sections(await report(byHash, imageUrl(webpUrl)))).toEqual([
        ["url hash", Outcome.TRUE, 1],
        ["jpeg", Outcome.FALSE, 0],
        ["sized", Outcome.FALSE, 0],
      ]);
      expect(sections(await report(byHash, imageUrl("http://example.org/a.jpg")))[1]).toEqual([
        "jpeg",
        Outcome.TRUE,
        1,
      ]);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      fetchSpy.mockRestore();
    }
  });
});

describe("PolicyEngine: loopback image URLs", () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  const png = makePng(3, 2, { color: [1, 2, 3] });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? "/";
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === "/ok.png" || path === "/no-extension") {
        res.writeHead(200, { "content-type": "image/png" }).end(png);
      } else if (path === "/redirect.png") {
        res.writeHead(302, { location: "/ok.png" }).end();
      } else if (path === "/gif.png") {
        res.writeHead(200).end(Buffer.from("GIF89a....;"));
      } else if (path === "/big.png") {
        res.writeHead(200, { "content-length": "5000" }).end(Buffer.alloc(5000));
      } else if (path === "/big-chunked.png") {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(500));
        res.end();
      } else if (path === "/slow.png") {
        res.writeHead(200); // headers only; the body never comes
      } else {
        res.writeHead(404).end("not found");
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections(); // the slow handler and keep-alive sockets would hold close() open
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  const limited = () => new PolicyEngine({ policies: SAMPLE_POLICIES, fetchTimeoutMs: 300, maxImageBytes: 1000 });

  it("fetches the image and evaluates its bytes (hash, format from the bytes, dimensions)", async () => {
    const custom = onePolicy({
      sections: [
        {
          name: "3x2 png",
          message: "M",
          assertions: [
            {
              description: "d",
              score: 0.9,
              image: { formats: ["png"], minWidth: 3, minHeight: 2, maxBytes: png.length },
            },
          ],
        },
      ],
    });
    for (const path of ["/ok.png", "/no-extension"]) {
      const verdict = await engine.evaluate(custom, imageUrl(`${base}${path}`), undefined);
      expect(verdict.contentHash).toBe(contentHash(png));
      const r = (verdict as Extract<ContentVerdict, { kind: "evaluated" }>).report;
      expect(r.labelMatches).toEqual({ "3x2 png": 0.9 });
      expect(r.tokenUsage?.inputTokens).toBe(256);
      expect(hits.get(path)).toBe(1);
    }
  });

  it("retries once when the server closed a kept-alive connection", async () => {
    const url = imageUrl(`${base}/ok.png`);
    expect((await engine.prepare(url)).kind).toBe("image");
    server.closeAllConnections(); // the connection fetch keeps alive is now dead
    expect((await engine.prepare(url)).kind).toBe("image");
  });

  it("refuses a fetched image by its bytes, whatever the extension says", async () => {
    expect((await refusal(images(), imageUrl(`${base}/gif.png`))).failure.type).toBe(
      PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
    );
  });

  it("a failed fetch gives an OUTCOME_FAILED report, not an error", async () => {
    const url = `${base}/missing.png`;
    const verdict = await engine.evaluate(violence(), imageUrl(url), undefined);
    expect(verdict.kind).toBe("evaluated");
    const r = (verdict as Extract<ContentVerdict, { kind: "evaluated" }>).report;
    expect(r.reviewResult).toMatchObject({ outcome: Outcome.FAILED, score: 0 });
    expect(r.result).toBe(Outcome.FAILED);
    expect(r.contentHash).toBe(contentHash(url));
    expect(sections(r)).toEqual([
      ["Threats", Outcome.FAILED, 0],
      ["Weapons", Outcome.FAILED, 0],
    ]);
    expect(r.labelMatches).toEqual({});
    expect(r.tokenUsage).toMatchObject({ inputTokens: 0, billedTokens: 0 });
    expect(await engine.prepare(imageUrl(url))).toMatchObject({
      kind: "fetchFailed",
      reason: "the server answered HTTP 404",
    });
  });

  it("never follows a redirect", async () => {
    const before = hits.get("/ok.png") ?? 0;
    const prepared = await engine.prepare(imageUrl(`${base}/redirect.png`));
    expect(prepared).toMatchObject({ kind: "fetchFailed", reason: expect.stringContaining("redirect (HTTP 302)") });
    expect(hits.get("/ok.png") ?? 0).toBe(before);
  });

  it("gives up on images over the size limit, declared or streamed", async () => {
    for (const path of ["/big.png", "/big-chunked.png"]) {
      expect(await limited().prepare(imageUrl(`${base}${path}`)), path).toMatchObject({
        kind: "fetchFailed",
        reason: "the image is larger than the limit of 1000 bytes",
      });
    }
  });

  it("gives up after the time limit", async () => {
    const prepared = await limited().prepare(imageUrl(`${base}/slow.png`));
    expect(prepared).toMatchObject({ kind: "fetchFailed", reason: "no complete answer within 300 ms" });
  }, 20_000);

  it("a connection refused is a failed fetch too", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const prepared = await engine.prepare(imageUrl(`http://127.0.0.1:${port}/a.png`));
    expect(prepared).toMatchObject({ kind: "fetchFailed", reason: expect.stringContaining("the fetch failed") });
  });

  it("a prepared item is fetched once and can be evaluated against many policies and labels", async () => {
    const before = hits.get("/ok.png") ?? 0;
    const prepared = await engine.prepare(imageUrl(`${base}/ok.png`));
    for (const p of SAMPLE_POLICIES)
      expect((await engine.evaluate(p, prepared, undefined)).contentHash).toBe(contentHash(png));
    await engine.evaluateLabel(SAMPLE_LABEL_VERSION_IDS.webpImages, prepared, undefined);
    expect(hits.get("/ok.png")).toBe(before + 1);
  });
});

describe("isLoopbackUrl and formatFromUrlPath", () => {
  it("recognise exactly localhost, 127.0.0.0/8 and [::1]", () => {
    for (const u of [
      "http://localhost/a",
      "http://127.0.0.1:8080/a",
      "http://127.1/a",
      "https://127.255.3.4/",
      "http://[::1]:9/x",
      "http://LOCALHOST/",
    ]) {
      expect(isLoopbackUrl(new URL(u)), u).toBe(true);
    }
    for (const u of [
      "http://128.0.0.1/",
      "http://localhost.example.com/",
      "http://[::2]/",
      "http://10.0.0.1/",
      "http://example.com/127.0.0.1",
    ]) {
      expect(isLoopbackUrl(new URL(u)), u).toBe(false);
    }
  });

  it("read the format from the path's extension only", () => {
    expect(formatFromUrlPath(new URL("https://x/a.PNG"))).toBe("png");
    expect(formatFromUrlPath(new URL("https://x/a.jpg"))).toBe("jpeg");
    expect(formatFromUrlPath(new URL("https://x/a.jpeg?x=1"))).toBe("jpeg");
    expect(formatFromUrlPath(new URL("https://x/a.webp#f"))).toBe("webp");
    expect(formatFromUrlPath(new URL("https://x/a.gif"))).toBeUndefined();
    expect(formatFromUrlPath(new URL("https://x/a?f=.png"))).toBeUndefined();
  });
});

describe("PolicyEngine: checkContent", () => {
  const cases: [string, ContentData, string][] = [
    ["no content", create(ContentDataSchema, {}), "content_data[2]: no content; set one of text, image or image_url"],
    ["empty text", text(""), "content_data[2]: text is empty; give the text to evaluate"],
    [
      "empty image",
      image(new Uint8Array(0)),
      "content_data[2]: image is empty; give the image bytes (PNG, JPEG or WebP)",
    ],
    ["empty URL", imageUrl(""), "content_data[2]: image_url is empty; give an absolute http or https URL"],
    [
      "relative URL",
      imageUrl("/a.png?sig=secret"),
      'content_data[2]: image_url "/a.png" is not a valid URL; give an absolute http or https URL',
    ],
    [
      "ftp URL",
      imageUrl("ftp://example.com/a.png"),
      'content_data[2]: image_url must be an http or https URL; got the scheme "ftp:"',
    ],
    [
      "video",
      create(ContentDataSchema, { content: { case: "videoUrl", value: "https://x/v.mp4" } }),
      "content_data[2]: video_url is not supported by the emulator; send text, image or image_url",
    ],
    [
      "audio",
      create(ContentDataSchema, { content: { case: "audioUrl", value: "https://x/a.mp3" } }),
      "content_data[2]: audio_url is not supported by the emulator; send text, image or image_url",
    ],
  ];

  for (const [name, item, message] of cases) {
    it(`rejects ${name} with InvalidArgument`, async () => {
      let thrown: unknown;
      try {
        engine.checkContent(item, "content_data[2]");
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConnectError);
      expect((thrown as ConnectError).code).toBe(Code.InvalidArgument);
      expect((thrown as ConnectError).rawMessage).toBe(message);
      // evaluate refuses the same item the same way (naming it "content").
      await expect(engine.evaluate(violence(), item, undefined)).rejects.toMatchObject({ code: Code.InvalidArgument });
    });
  }

  it("accepts valid items", () => {
    for (const item of [text(" "), image(Uint8Array.of(1)), imageUrl("https://example.com/a.gif")]) {
      expect(() => engine.checkContent(item, "content_data[0]")).not.toThrow();
    }
  });
});

describe("PolicyEngine: labels", () => {
  it("evaluates one section as a label", async () => {
    const verdict = await engine.evaluateLabel(
      SAMPLE_LABEL_VERSION_IDS.threats,
      text("I will hurt you", { id: "7" }),
      undefined,
    );
    if (verdict.kind !== "evaluated") throw new Error("expected an evaluation");
    expect(verdict.labelId).toBe("label-threats");
    expect(verdict.contentHash).toBe(contentHash("I will hurt you"));
    const { evaluation } = verdict;
    expect(evaluation).toMatchObject({ score: 0.95, outcome: Outcome.TRUE, threshold: 0.5 });
    expect(evaluation.report).toMatchObject({
      policyId: "policy-violence",
      labelId: "label-threats",
      labelVersionId: "label-threats-v1",
      contentMetadata: { id: "7" },
      labelMatches: { Threats: 0.95 },
    });
    expect(evaluation.report!.sectionEvaluationReports.map((s) => s.name)).toEqual(["Threats"]);
  });

  it("applies the threshold and the policy-level UNLESS", async () => {
    const low = await engine.evaluateLabel(SAMPLE_LABEL_VERSION_IDS.weapons, text("a gun"), 0.9);
    expect(low).toMatchObject({
      kind: "evaluated",
      evaluation: { score: 0.6, outcome: Outcome.FALSE, threshold: 0.9 },
    });
    const news = await engine.evaluateLabel(
      SAMPLE_LABEL_VERSION_IDS.weapons,
      text("according to police, a gun was found"),
      undefined,
    );
    if (news.kind !== "evaluated") throw new Error("expected an evaluation");
    expect(news.evaluation).toMatchObject({ score: 0, outcome: Outcome.FALSE });
    expect(news.evaluation.report!.exceptionEvaluationReport?.reviewResult?.outcome).toBe(Outcome.TRUE);
    expect(news.evaluation.report!.sectionEvaluationReports[0]!.reviewResult).toMatchObject({
      outcome: Outcome.FALSE,
      score: 0.6,
    });
  });

  it("refuses what the policies refuse, and throws NotFound for an unknown label", async () => {
    const gif = new TextEncoder().encode("GIF87a");
    expect(await engine.evaluateLabel(SAMPLE_LABEL_VERSION_IDS.knownImages, image(gif), undefined)).toMatchObject({
      kind: "refused",
      failure: { type: PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT },
    });
    await expect(engine.evaluateLabel("label-nope", text("x"), undefined)).rejects.toMatchObject({
      code: Code.NotFound,
    });
    expect(engine.findLabel("label-nope")).toBeUndefined();
    expect(engine.findLabel(SAMPLE_LABEL_VERSION_IDS.links)).toMatchObject({
      policy: { id: "policy-spam" },
      section: { name: "Links" },
    });
  });
});

describe("PolicyEngine: construction", () => {
  it("rejects duplicate policy ids and label version ids, bad hashes and bad limits", () => {
    const p = SAMPLE_POLICIES[0]!;
    expect(() => new PolicyEngine({ policies: [p, p] })).toThrow(/two policies have the id "policy-violence"/);
    const copy = { ...p, id: "other" };
    expect(() => new PolicyEngine({ policies: [p, copy] })).toThrow(
      /label version id "label-threats-v1" is used by both/,
    );
    expect(() => new PolicyEngine({ policies: [p], blockedHashes: ["abc"] })).toThrow(/not a content hash/);
    expect(() => new PolicyEngine({ policies: [p], fetchTimeoutMs: 0 })).toThrow(
      /fetchTimeoutMs must be a positive number/,
    );
    expect(engine.getPolicy("nope")).toBeUndefined();
    expect(engine.policies.map((x) => x.id)).toEqual(Object.values(SAMPLE_POLICY_IDS));
  });
});
