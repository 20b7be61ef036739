import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentHash } from "../../src/content-hash.js";
import {
  type KeywordsMatcher,
  loadPolicyFile,
  PolicyFileError,
  type PolicyJson,
  parsePolicies,
  policiesToJson,
} from "../../src/emulator/policy.js";
import {
  SAMPLE_KNOWN_IMAGE_HASH,
  SAMPLE_LABEL_VERSION_IDS,
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  sampleKnownImage,
  samplePoliciesJson,
} from "../../src/emulator/sample-policies.js";

const fixture = fileURLToPath(new URL("../fixtures/policies.json", import.meta.url));

/** A valid one-policy file to break in one place per test. */
function validPolicy(): PolicyJson {
  return {
    id: "p1",
    key: "Test",
    versionId: "v1",
    sections: [
      { name: "A", message: "BLOCK", assertions: [{ description: "says a", score: 0.9, keywords: ["alpha"] }] },
      { name: "B", message: "BLOCK", assertions: [{ description: "says b", score: 0.9, regex: "beta" }] },
    ],
  };
}

/** The message parsePolicies throws for a file, with "policies.json" as the source. */
function errorOf(json: unknown): string {
  try {
    parsePolicies(json, "policies.json");
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyFileError);
    expect(err).toBeInstanceOf(Error);
    return (err as Error).message;
  }
  throw new Error("expected parsePolicies to throw");
}

/** Applies a change to a fresh valid file and returns the error message. */
function errorAfter(change: (file: { policies: PolicyJson[] }) => void): string {
  const file = { policies: [validPolicy()] };
  change(file);
  return errorOf(JSON.parse(JSON.stringify(file)));
}

describe("parsePolicies: valid files", () => {
  it("parses a file, defaults the multiplier to 1 and derives label ids", () => {
    const [policy] = parsePolicies({ policies: [validPolicy()] });
    expect(policy).toMatchObject({ id: "p1", key: "Test", versionId: "v1", multiplier: 1 });
    expect(policy!.sections.map((s) => [s.labelId, s.labelVersionId])).toEqual([
      ["p1:A", "p1:A:v1"],
      ["p1:B", "p1:B:v1"],
    ]);
    expect(policy!.unless).toBeUndefined();
    expect(policy!.sections[0]!.assertions[0]!.matcher.kind).toBe("keywords");
    expect(policy!.sections[1]!.assertions[0]!.matcher).toMatchObject({ kind: "regex", source: "beta", flags: "" });
  });

  it("accepts a bare array of policies", () => {
    expect(parsePolicies([validPolicy()]).map((p) => p.id)).toEqual(["p1"]);
  });

  it("keeps given label ids, exception blocks, image conditions and lower-cases content hashes", () => {
    const hash = contentHash("x");
    const [policy] = parsePolicies([
      {
        id: "img",
        key: "Images",
        versionId: "v2",
        multiplier: 2.5,
        unless: [{ description: "tiny", score: 1, image: { maxBytes: 10 } }],
        sections: [
          {
            name: "S",
            message: "REVIEW",
            labelId: "L",
            labelVersionId: "LV",
            assertions: [
              {
                description: "d",
                score: 0.5,
                image: {
                  formats: ["png", "webp"],
                  minBytes: 1,
                  maxBytes: 9,
                  minWidth: 2,
                  minHeight: 3,
                  contentHashes: [hash.toUpperCase().replace("FNV1A128", "fnv1a128")],
                },
              },
            ],
            unless: [{ description: "u", score: 0.1, keywords: ["ok"] }],
          },
        ],
      },
    ]);
    expect(policy!.multiplier).toBe(2.5);
    expect(policy!.unless).toHaveLength(1);
    expect(policy!.sections[0]).toMatchObject({ labelId: "L", labelVersionId: "LV" });
    expect(policy!.sections[0]!.unless).toHaveLength(1);
    expect(policy!.sections[0]!.assertions[0]!.matcher).toEqual({
      kind: "image",
      formats: ["png", "webp"],
      minBytes: 1,
      maxBytes: 9,
      minWidth: 2,
      minHeight: 3,
      contentHashes: [hash],
    });
  });

  it("compiles keywords to case-insensitive whole-word and phrase matches", () => {
    const [policy] = parsePolicies([
      {
        ...validPolicy(),
        sections: [
          {
            name: "K",
            message: "M",
            assertions: [{ description: "d", score: 1, keywords: ["kill you", "$$$", "café"] }],
          },
        ],
      },
    ]);
    const { pattern } = policy!.sections[0]!.assertions[0]!.matcher as KeywordsMatcher;
    expect(pattern.test("I will KILL YOU")).toBe(true);
    expect(pattern.test("kill\n  you")).toBe(true); // any whitespace between the words of a phrase
    expect(pattern.test("kill you.")).toBe(true);
    expect(pattern.test("skill yourself")).toBe(false); // not inside longer words
    expect(pattern.test("killyou")).toBe(false);
    expect(pattern.test("win $$$ now")).toBe(true);
    expect(pattern.test("CAFÉ au lait")).toBe(true);
    expect(pattern.test("cafés")).toBe(false);
  });
});

describe("parsePolicies: errors name the place and the fix", () => {
  it("an assertion with two matchers, or none", () => {
    expect(
      errorAfter((f) => {
        f.policies[0]!.sections[1]!.assertions[0] = {
          description: "d",
          score: 0.5,
          keywords: ["x"],
          regex: "y",
        } as never;
      }),
    ).toBe('policies.json: policies[0].sections[1].assertions[0]: give exactly one of "keywords", "regex" or "image"');
    expect(
      errorAfter((f) => {
        f.policies[0]!.sections[0]!.assertions[0] = { description: "d", score: 0.5 } as never;
      }),
    ).toBe('policies.json: policies[0].sections[0].assertions[0]: give exactly one of "keywords", "regex" or "image"');
  });

  it("duplicate policy ids", () => {
    expect(errorOf({ policies: [validPolicy(), validPolicy()] })).toBe(
      'policies.json: policies[1].id: duplicate policy id "p1" (also used by policies[0]); give each policy its own id',
    );
  });

  it("duplicate label version ids, given or derived, across policies", () => {
    const a = validPolicy();
    const b = { ...validPolicy(), id: "p2" };
    a.sections[0]!.labelVersionId = "label-x-v1";
    b.sections[1]!.labelVersionId = "label-x-v1";
    expect(errorOf([a, b])).toBe(
      'policies.json: policies[1].sections[1].labelVersionId: duplicate label version id "label-x-v1" (also used by policies[0].sections[0]); label version ids must be unique across all policies',
    );
    const c = validPolicy();
    c.sections[0]!.labelVersionId = "p1:B:v1"; // what section B would derive
    expect(errorOf([c])).toBe(
      'policies.json: policies[0].sections[1]: the derived label version id "p1:B:v1" is already used by policies[0].sections[0]; give this section its own "labelVersionId"',
    );
  });

  it("a regular expression that does not compile, has a stateful flag, or matches empty text", () => {
    expect(
      errorAfter((f) => ((f.policies[0]!.sections[1]!.assertions[0] as { regex: string }).regex = "(unclosed")),
    ).toMatch(
      /^policies\.json: policies\[0\]\.sections\[1\]\.assertions\[0\]\.regex: does not compile: .*Unterminated group.*; fix the expression/,
    );
    expect(errorAfter((f) => ((f.policies[0]!.sections[1]!.assertions[0] as { flags?: string }).flags = "gi"))).toBe(
      'policies.json: policies[0].sections[1].assertions[0].flags: flag "g" is not allowed; use only i, m, s, u or v (the whole text is tested once)',
    );
    expect(
      errorAfter((f) => ((f.policies[0]!.sections[1]!.assertions[0] as { regex: string }).regex = "(beta)?")),
    ).toBe(
      'policies.json: policies[0].sections[1].assertions[0].regex: "(beta)?" matches empty text, so it would match every text; make it require at least one character',
    );
  });

  it("scores out of range or not numbers", () => {
    for (const score of [0, -0.1, 1.01, "0.5", null]) {
      expect(errorAfter((f) => ((f.policies[0]!.sections[0]!.assertions[0] as { score: unknown }).score = score))).toBe(
        `policies.json: policies[0].sections[0].assertions[0].score: must be a number greater than 0 and at most 1; got ${JSON.stringify(score)}`,
      );
    }
    expect(errorAfter((f) => delete (f.policies[0]!.sections[0]!.assertions[0] as { score?: number }).score)).toBe(
      'policies.json: policies[0].sections[0].assertions[0]: missing "score"; give a number greater than 0 and at most 1',
    );
  });

  it("unknown keys, with a suggestion when one is close", () => {
    expect(errorAfter((f) => ((f.policies[0]!.sections[0] as unknown as Record<string, unknown>).assertion = []))).toBe(
      'policies.json: policies[0].sections[0]: unknown key "assertion"; did you mean "assertions"?',
    );
    expect(errorAfter((f) => ((f.policies[0] as unknown as Record<string, unknown>).owner = "me"))).toBe(
      'policies.json: policies[0]: unknown key "owner"; the keys allowed here are "id", "key", "versionId", "multiplier", "sections", "unless"',
    );
    expect(errorOf({ policies: [validPolicy()], version: 1 })).toBe(
      'policies.json: unknown key "version"; the keys allowed here are "policies"',
    );
  });

  it("missing or empty sections and assertions, duplicate section names, empty unless", () => {
    expect(errorAfter((f) => delete (f.policies[0] as Partial<PolicyJson>).sections)).toBe(
      'policies.json: policies[0]: missing "sections"; give at least one of its sections (labels)',
    );
    expect(errorAfter((f) => (f.policies[0]!.sections = []))).toBe(
      "policies.json: policies[0].sections: give at least one of its sections (labels)",
    );
    expect(errorAfter((f) => (f.policies[0]!.sections[0]!.assertions = []))).toBe(
      "policies.json: policies[0].sections[0].assertions: give at least one assertion",
    );
    expect(errorAfter((f) => (f.policies[0]!.sections[1]!.name = "A"))).toBe(
      'policies.json: policies[0].sections[1].name: duplicate section name "A" (also used by policies[0].sections[0]); section names are label names and must differ within a policy',
    );
    expect(errorAfter((f) => (f.policies[0]!.unless = []))).toBe(
      'policies.json: policies[0].unless: give at least one assertion, or remove "unless"',
    );
  });

  it("bad strings, multiplier and keywords", () => {
    expect(errorAfter((f) => ((f.policies[0] as unknown as Record<string, unknown>).id = 7))).toBe(
      "policies.json: policies[0].id: must be a non-empty string; got 7",
    );
    expect(errorAfter((f) => (f.policies[0]!.key = " Test"))).toBe(
      'policies.json: policies[0].key: " Test" starts or ends with whitespace; remove it',
    );
    expect(errorAfter((f) => (f.policies[0]!.multiplier = 0))).toBe(
      "policies.json: policies[0].multiplier: must be a number greater than 0 (the billing multiplier, default 1); got 0",
    );
    expect(
      errorAfter((f) => ((f.policies[0]!.sections[0]!.assertions[0] as { keywords: string[] }).keywords = ["ok", " "])),
    ).toBe('policies.json: policies[0].sections[0].assertions[0].keywords[1]: must be a non-empty string; got " "');
    expect(errorAfter((f) => ((f.policies[0]!.sections[0]!.assertions[0] as { flags?: string }).flags = "i"))).toBe(
      'policies.json: policies[0].sections[0].assertions[0].flags: "flags" only goes with "regex"; remove it',
    );
  });

  it("bad image conditions", () => {
    const withImage = (image: unknown) =>
      errorAfter((f) => (f.policies[0]!.sections[0]!.assertions[0] = { description: "d", score: 1, image } as never));
    expect(withImage({ formats: ["gif"] })).toBe(
      'policies.json: policies[0].sections[0].assertions[0].image.formats[0]: "gif" is not a format the gateway accepts; use "png", "jpeg" or "webp"',
    );
    expect(withImage({ formats: ["jpg"] })).toMatch(/; write "jpeg"$/);
    expect(withImage({ minWidth: -1 })).toBe(
      "policies.json: policies[0].sections[0].assertions[0].image.minWidth: must be a whole number, 0 or more; got -1",
    );
    expect(withImage({ minBytes: 10, maxBytes: 5 })).toBe(
      "policies.json: policies[0].sections[0].assertions[0].image: minBytes (10) is greater than maxBytes (5), so nothing could match; swap or fix them",
    );
    expect(withImage({ contentHashes: ["abc"] })).toBe(
      'policies.json: policies[0].sections[0].assertions[0].image.contentHashes[0]: "abc" is not a content hash; write "fnv1a128::" followed by 32 hex digits (the content_hash the emulator reports)',
    );
    expect(withImage({ maxWidth: 5 })).toMatch(/image: unknown key "maxWidth"; did you mean "minWidth"\?$/);
    expect(withImage("png")).toBe(
      'policies.json: policies[0].sections[0].assertions[0].image: must be an object of image conditions (a JSON object); got "png"',
    );
  });

  it("a file that is not a policy list", () => {
    expect(errorOf("hello")).toBe('policies.json: give an object { "policies": [ ... ] } or an array of policies');
    expect(errorOf({})).toBe('policies.json: missing "policies"; give { "policies": [ ... ] }');
    expect(errorOf({ policies: [] })).toBe("policies.json: policies: give at least one policy");
    expect(errorOf([null])).toBe("policies.json: policies[0]: must be a policy (a JSON object); got null");
  });

  it("leaves the source out when none is given", () => {
    expect(() => parsePolicies({ policies: [] })).toThrow(/^policies: give at least one policy$/);
  });
});

describe("loadPolicyFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "clavata-policies-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads a valid file", async () => {
    const path = join(dir, "ok.json");
    await writeFile(path, `\uFEFF${JSON.stringify({ policies: [validPolicy()] })}`);
    expect((await loadPolicyFile(path)).map((p) => p.id)).toEqual(["p1"]);
  });

  it("says when the file is missing, is a directory, or is not JSON", async () => {
    const missing = join(dir, "missing.json");
    await expect(loadPolicyFile(missing)).rejects.toThrow(`${missing}: policy file not found; check the path`);
    await expect(loadPolicyFile(dir)).rejects.toThrow(`${dir}: is a directory; give the path of a .json policy file`);
    const bad = join(dir, "bad.json");
    await writeFile(bad, '{ "policies": [ ], }');
    await expect(loadPolicyFile(bad)).rejects.toThrow(
      new RegExp(
        `^${bad.replace(/[.\\]/g, "\\$&")}: not valid JSON \\(.+\\); policy files are plain JSON, without comments or trailing commas$`,
      ),
    );
  });

  it("names the file in validation errors", async () => {
    const path = join(dir, "invalid.json");
    await writeFile(path, JSON.stringify([{ ...validPolicy(), multiplier: -2 }]));
    await expect(loadPolicyFile(path)).rejects.toThrow(
      `${path}: policies[0].multiplier: must be a number greater than 0`,
    );
  });
});

describe("sample policies", () => {
  it("load, with the documented ids", () => {
    expect(SAMPLE_POLICIES.map((p) => p.id)).toEqual(Object.values(SAMPLE_POLICY_IDS));
    const labelIds = SAMPLE_POLICIES.flatMap((p) => p.sections.map((s) => s.labelVersionId));
    expect(labelIds).toEqual(Object.values(SAMPLE_LABEL_VERSION_IDS));
    expect(SAMPLE_POLICIES.every((p) => p.versionId === "v1")).toBe(true);
    expect(SAMPLE_POLICIES.find((p) => p.id === SAMPLE_POLICY_IDS.spam)!.multiplier).toBe(1.5);
  });

  it("use every matcher kind and exceptions at both levels", () => {
    const kinds = new Set(
      SAMPLE_POLICIES.flatMap((p) => p.sections.flatMap((s) => s.assertions.map((a) => a.matcher.kind))),
    );
    expect([...kinds].sort()).toEqual(["image", "keywords", "regex"]);
    expect(SAMPLE_POLICIES.some((p) => p.unless)).toBe(true);
    expect(SAMPLE_POLICIES.some((p) => p.sections.some((s) => s.unless))).toBe(true);
  });

  it("list the hash of the sample known image", () => {
    expect(contentHash(sampleKnownImage())).toBe(SAMPLE_KNOWN_IMAGE_HASH);
    const images = SAMPLE_POLICIES.find((p) => p.id === SAMPLE_POLICY_IDS.images)!;
    const known = images.sections.find((s) => s.labelVersionId === SAMPLE_LABEL_VERSION_IDS.knownImages)!;
    expect(known.assertions[0]!.matcher).toMatchObject({ contentHashes: [SAMPLE_KNOWN_IMAGE_HASH] });
  });

  it("round-trip through their JSON text and policiesToJson", () => {
    expect(parsePolicies(JSON.parse(samplePoliciesJson()))).toEqual(SAMPLE_POLICIES);
    expect(parsePolicies(JSON.parse(JSON.stringify(policiesToJson(SAMPLE_POLICIES))))).toEqual(SAMPLE_POLICIES);
    expect(policiesToJson(SAMPLE_POLICIES)).toEqual(JSON.parse(samplePoliciesJson()));
  });

  it("are what test/fixtures/policies.json holds (regenerate it from samplePoliciesJson() when they change)", async () => {
    expect(await readFile(fixture, "utf8")).toBe(samplePoliciesJson());
    expect(await loadPolicyFile(fixture)).toEqual(SAMPLE_POLICIES);
  });
});
