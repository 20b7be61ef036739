// The emulator's policies: a small JSON file format that stands in for
// Clavata's policy language, and its validation.
//
// The real gateway runs model-based policies; the emulator runs these
// deterministic ones (keywords, regular expressions, image facts) so that the
// same content always gets the same report.

import { readFile } from "node:fs/promises";
import { isContentHash } from "../content-hash.js";
import { IMAGE_FORMATS, type ImageFormat } from "./image.js";
import { nearest } from "./nearest-word.js";

// ---------------------------------------------------------------------------
// The file format (what you write)
// ---------------------------------------------------------------------------

/** A policy file: `{ "policies": [...] }`. A bare array of policies is accepted too. */
export interface PolicyFileJson {
  policies: PolicyJson[];
}

/** One policy as written in a policy file. See {@link Policy} for the meaning of each key. */
export interface PolicyJson {
  id: string;
  key: string;
  versionId: string;
  multiplier?: number;
  sections: PolicySectionJson[];
  unless?: PolicyAssertionJson[];
}

/** One section (label) as written in a policy file. See {@link PolicySection}. */
export interface PolicySectionJson {
  name: string;
  message: string;
  labelId?: string;
  labelVersionId?: string;
  assertions: PolicyAssertionJson[];
  unless?: PolicyAssertionJson[];
}

/** One assertion as written in a policy file: a description, a score and exactly one matcher. */
export type PolicyAssertionJson = { description: string; score: number } & (
  | { keywords: string[] }
  | { regex: string; flags?: string }
  | { image: ImageMatcherJson }
);

/** The conditions of an image matcher as written in a policy file. See {@link ImageMatcher}. */
export interface ImageMatcherJson {
  formats?: ImageFormat[];
  minBytes?: number;
  maxBytes?: number;
  minWidth?: number;
  minHeight?: number;
  contentHashes?: string[];
}

// ---------------------------------------------------------------------------
// The parsed form (what the engine runs)
// ---------------------------------------------------------------------------

/**
 * Matches text that contains any of the keywords or phrases: case-insensitive, whole words only (a keyword
 * is not matched inside a longer word: "kill" does not match "skill"), and a space in a phrase matches any
 * run of whitespace. Both the text and the keywords are compared in Unicode NFKC form, so full-width or
 * ligature spellings match too.
 */
export interface KeywordsMatcher {
  readonly kind: "keywords";
  /** The keywords and phrases, as written. */
  readonly keywords: readonly string[];
  /** The compiled pattern that finds any of them (flags "iu"). */
  readonly pattern: RegExp;
}

/**
 * Matches text in which a JavaScript regular expression finds a match anywhere. Case-sensitive unless the
 * flags include "i". The text is not normalized.
 */
export interface RegexMatcher {
  readonly kind: "regex";
  /** The expression, as written. */
  readonly source: string;
  /** The flags, as written (any of i, m, s, u, v). */
  readonly flags: string;
  /** The compiled expression. */
  readonly pattern: RegExp;
}

/**
 * Matches an image for which every given condition holds; with no conditions it matches every image.
 * For an image URL that the emulator does not fetch, only `formats` (from the URL's extension) and
 * `contentHashes` (the hash of the URL) can be known: a matcher with any size or dimension condition never
 * matches such a URL.
 */
export interface ImageMatcher {
  readonly kind: "image";
  /** The image is in one of these formats. */
  readonly formats?: readonly ImageFormat[];
  /** The image has at least this many bytes. */
  readonly minBytes?: number;
  /** The image has at most this many bytes. */
  readonly maxBytes?: number;
  /** The image is at least this many pixels wide. */
  readonly minWidth?: number;
  /** The image is at least this many pixels high. */
  readonly minHeight?: number;
  /** The image's content hash is one of these ("fnv1a128::" and 32 lowercase hex digits). */
  readonly contentHashes?: readonly string[];
}

/** A matcher that looks at text. It never matches an image. */
export type TextMatcher = KeywordsMatcher | RegexMatcher;

/** Any matcher. Text matchers never match images and image matchers never match text. */
export type PolicyMatcher = TextMatcher | ImageMatcher;

/** One assertion: when its matcher matches, it scores `score`; otherwise it scores 0. */
export interface PolicyAssertion {
  /** What the assertion says, as it appears in reports (`AssertionEvaluationReport.message`). */
  readonly description: string;
  /** The score when the matcher matches, in (0, 1]. */
  readonly score: number;
  readonly matcher: PolicyMatcher;
}

/** One section of a policy, which is also a label that EvaluateLabels can evaluate on its own. */
export interface PolicySection {
  /** The section's name: the label name in reports and `label_matches`. Unique within its policy. */
  readonly name: string;
  /** The action message for a match (for example "BLOCK"). */
  readonly message: string;
  /** The label id. Defaults to `${policyId}:${sectionName}` when the file leaves it out. */
  readonly labelId: string;
  /**
   * The label version id that EvaluateLabels takes, unique across all policies. Defaults to
   * `${policyId}:${sectionName}:${versionId}` when the file leaves it out.
   */
  readonly labelVersionId: string;
  /** The section's assertions, at least one. Its score is the highest of their scores. */
  readonly assertions: readonly PolicyAssertion[];
  /** The section's exception block (EXCEPT WHEN / UNLESS), if any. */
  readonly unless?: readonly PolicyAssertion[];
}

/** A policy: named sections of assertions, and an optional exception block for the whole policy. */
export interface Policy {
  /** The policy id that Evaluate and CreateJob take. Unique. */
  readonly id: string;
  /** The policy's key (its title), reported as `policy_key`. */
  readonly key: string;
  /** The policy version id, reported as `policy_version_id`. */
  readonly versionId: string;
  /** The billing multiplier, greater than 0. Default 1. */
  readonly multiplier: number;
  /** The sections (labels), at least one. */
  readonly sections: readonly PolicySection[];
  /** The policy-level exception block, if any: when it holds, nothing in the policy matches. */
  readonly unless?: readonly PolicyAssertion[];
}

/** A problem in a policy file. The message names the file, the exact place in it, and the fix. */
export class PolicyFileError extends Error {
  override name = "PolicyFileError";
  /** The file (or other source) the policies came from, when known. */
  readonly source: string | undefined;
  /** Where in the file, for example "policies[0].sections[1].assertions[0]". */
  readonly path: string;

  constructor(source: string | undefined, path: string, problem: string) {
    super(`${source === undefined ? "" : `${source}: `}${path ? `${path}: ` : ""}${problem}`);
    this.source = source;
    this.path = path;
  }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

const POLICY_KEYS = ["id", "key", "versionId", "multiplier", "sections", "unless"] as const;
const SECTION_KEYS = ["name", "message", "labelId", "labelVersionId", "assertions", "unless"] as const;
const ASSERTION_KEYS = ["description", "score", "keywords", "regex", "flags", "image"] as const;
const IMAGE_KEYS = ["formats", "minBytes", "maxBytes", "minWidth", "minHeight", "contentHashes"] as const;
const ALLOWED_REGEX_FLAGS = "imsuv";

type Json = Record<string, unknown>;

/**
 * Validates policies given as parsed JSON (`{ "policies": [...] }` or a bare array) and compiles their
 * patterns once.
 *
 * Checks every key: required keys present and of the right type, no unknown keys, non-empty strings,
 * multiplier > 0, score in (0, 1], exactly one matcher per assertion, regular expressions that compile with
 * allowed flags (i, m, s, u, v) and do not match empty text, image conditions that are non-negative integers
 * with minBytes <= maxBytes, content hashes in the emulator's form, unique policy ids, unique section names
 * within a policy and unique label version ids across all policies (including derived ones).
 *
 * @param json the parsed JSON.
 * @param source a name for error messages, usually the file path.
 * @returns the policies, in file order.
 * @throws PolicyFileError (an Error) on the first problem, with a message such as
 *   `policies.json: policies[0].sections[1].assertions[0]: give exactly one of "keywords", "regex" or "image"`.
 */
export function parsePolicies(json: unknown, source?: string): Policy[] {
  const fail = (path: string, problem: string): never => {
    throw new PolicyFileError(source, path, problem);
  };

  let list: unknown;
  if (Array.isArray(json)) {
    list = json;
  } else if (isObject(json)) {
    checkKeys(json, ["policies"], "", fail);
    if (!("policies" in json)) fail("", 'missing "policies"; give { "policies": [ ... ] }');
    list = json.policies;
    if (!Array.isArray(list)) fail("policies", "must be an array of policies");
  } else {
    fail("", 'give an object { "policies": [ ... ] } or an array of policies');
  }
  const items = list as unknown[];
  if (items.length === 0) fail("policies", "give at least one policy");

  const policies: Policy[] = [];
  const policyIds = new Map<string, string>();
  const labelVersionIds = new Map<string, string>();

  items.forEach((item, i) => {
    const path = `policies[${i}]`;
    const obj = expectObject(item, path, "a policy", fail);
    checkKeys(obj, POLICY_KEYS, path, fail);
    const id = requireString(obj, "id", path, fail);
    const key = requireString(obj, "key", path, fail);
    const versionId = requireString(obj, "versionId", path, fail);
    let multiplier = 1;
    if (obj.multiplier !== undefined) {
      const m = obj.multiplier;
      if (typeof m !== "number" || !Number.isFinite(m) || m <= 0) {
        fail(
          `${path}.multiplier`,
          `must be a number greater than 0 (the billing multiplier, default 1); got ${show(m)}`,
        );
      }
      multiplier = m as number;
    }
    const previous = policyIds.get(id);
    if (previous !== undefined) {
      fail(`${path}.id`, `duplicate policy id ${show(id)} (also used by ${previous}); give each policy its own id`);
    }
    policyIds.set(id, path);

    const sectionList = requireArray(obj, "sections", path, "sections (labels)", fail);
    const sectionNames = new Map<string, string>();
    const sections = sectionList.map((s, j): PolicySection => {
      const spath = `${path}.sections[${j}]`;
      const sobj = expectObject(s, spath, "a section", fail);
      checkKeys(sobj, SECTION_KEYS, spath, fail);
      const name = requireString(sobj, "name", spath, fail);
      const message = requireString(sobj, "message", spath, fail);
      const sameName = sectionNames.get(name);
      if (sameName !== undefined) {
        fail(
          `${spath}.name`,
          `duplicate section name ${show(name)} (also used by ${sameName}); section names are label names and must differ within a policy`,
        );
      }
      sectionNames.set(name, spath);
      const labelId = optionalString(sobj, "labelId", spath, fail) ?? `${id}:${name}`;
      const givenVersion = optionalString(sobj, "labelVersionId", spath, fail);
      const labelVersionId = givenVersion ?? `${id}:${name}:${versionId}`;
      const clash = labelVersionIds.get(labelVersionId);
      if (clash !== undefined) {
        if (givenVersion !== undefined) {
          fail(
            `${spath}.labelVersionId`,
            `duplicate label version id ${show(labelVersionId)} (also used by ${clash}); label version ids must be unique across all policies`,
          );
        }
        fail(
          spath,
          `the derived label version id ${show(labelVersionId)} is already used by ${clash}; give this section its own "labelVersionId"`,
        );
      }
      labelVersionIds.set(labelVersionId, spath);
      const assertions = parseAssertions(sobj.assertions, `${spath}.assertions`, "assertions", fail);
      const section: PolicySection = { name, message, labelId, labelVersionId, assertions };
      if (sobj.unless !== undefined) {
        return { ...section, unless: parseAssertions(sobj.unless, `${spath}.unless`, "unless", fail) };
      }
      return section;
    });

    const policy: Policy = { id, key, versionId, multiplier, sections };
    policies.push(
      obj.unless === undefined
        ? policy
        : { ...policy, unless: parseAssertions(obj.unless, `${path}.unless`, "unless", fail) },
    );
  });
  return policies;
}

/**
 * Reads and validates a policy file (UTF-8 JSON, see {@link parsePolicies}).
 *
 * @throws PolicyFileError when the file does not exist, cannot be read, is not valid JSON, or fails validation;
 *   the message names the file and says what to fix.
 */
export async function loadPolicyFile(path: string): Promise<Policy[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new PolicyFileError(
        path,
        "",
        "policy file not found; check the path (it is resolved from the current directory)",
      );
    }
    if (code === "EISDIR") throw new PolicyFileError(path, "", "is a directory; give the path of a .json policy file");
    throw new PolicyFileError(path, "", `cannot read the policy file: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new PolicyFileError(
      path,
      "",
      `not valid JSON (${(err as Error).message}); policy files are plain JSON, without comments or trailing commas`,
    );
  }
  return parsePolicies(json, path);
}

/**
 * Writes policies back in the file format, with every derived label id spelled out and a multiplier of 1 left
 * out. `parsePolicies` of the result gives equal policies.
 */
export function policiesToJson(policies: readonly Policy[]): PolicyFileJson {
  const assertion = (a: PolicyAssertion): PolicyAssertionJson => {
    const base = { description: a.description, score: a.score };
    const m = a.matcher;
    if (m.kind === "keywords") return { ...base, keywords: [...m.keywords] };
    if (m.kind === "regex")
      return m.flags ? { ...base, regex: m.source, flags: m.flags } : { ...base, regex: m.source };
    const { kind: _kind, ...conditions } = m;
    const image: ImageMatcherJson = {};
    for (const [k, v] of Object.entries(conditions)) {
      (image as Record<string, unknown>)[k] = Array.isArray(v) ? [...(v as unknown[])] : v;
    }
    return { ...base, image };
  };
  return {
    policies: policies.map((p) => {
      const out: PolicyJson = {
        id: p.id,
        key: p.key,
        versionId: p.versionId,
        ...(p.multiplier === 1 ? {} : { multiplier: p.multiplier }),
        sections: p.sections.map((s) => {
          const section: PolicySectionJson = {
            name: s.name,
            message: s.message,
            labelId: s.labelId,
            labelVersionId: s.labelVersionId,
            assertions: s.assertions.map(assertion),
          };
          if (s.unless) section.unless = s.unless.map(assertion);
          return section;
        }),
      };
      if (p.unless) out.unless = p.unless.map(assertion);
      return out;
    }),
  };
}

type Fail = (path: string, problem: string) => never;

function parseAssertions(value: unknown, path: string, what: "assertions" | "unless", fail: Fail): PolicyAssertion[] {
  if (value === undefined) fail(path, `missing; give a list of at least one assertion`);
  if (!Array.isArray(value)) fail(path, `must be an array of assertions`);
  const list = value as unknown[];
  if (list.length === 0) {
    fail(path, what === "unless" ? 'give at least one assertion, or remove "unless"' : "give at least one assertion");
  }
  return list.map((item, k) => parseAssertion(item, `${path}[${k}]`, fail));
}

function parseAssertion(item: unknown, path: string, fail: Fail): PolicyAssertion {
  const obj = expectObject(item, path, "an assertion", fail);
  checkKeys(obj, ASSERTION_KEYS, path, fail);
  const description = requireString(obj, "description", path, fail);
  if (obj.score === undefined) fail(path, 'missing "score"; give a number greater than 0 and at most 1');
  const score = obj.score;
  if (typeof score !== "number" || !Number.isFinite(score) || score <= 0 || score > 1) {
    fail(`${path}.score`, `must be a number greater than 0 and at most 1; got ${show(score)}`);
  }
  const given = (["keywords", "regex", "image"] as const).filter((k) => obj[k] !== undefined);
  if (given.length !== 1) fail(path, 'give exactly one of "keywords", "regex" or "image"');
  if (obj.flags !== undefined && given[0] !== "regex")
    fail(`${path}.flags`, '"flags" only goes with "regex"; remove it');
  const base = { description, score: score as number };

  switch (given[0]) {
    case "keywords": {
      const list = obj.keywords;
      if (!Array.isArray(list) || list.length === 0) {
        fail(`${path}.keywords`, 'must be a non-empty array of words or phrases, e.g. ["kill you", "hurt you"]');
      }
      const keywords = (list as unknown[]).map((kw, k) => {
        if (typeof kw !== "string" || kw.trim() === "")
          fail(`${path}.keywords[${k}]`, `must be a non-empty string; got ${show(kw)}`);
        return kw as string;
      });
      return { ...base, matcher: { kind: "keywords", keywords, pattern: compileKeywords(keywords) } };
    }
    case "regex": {
      const source = obj.regex;
      if (typeof source !== "string" || source === "")
        fail(`${path}.regex`, `must be a non-empty string; got ${show(source)}`);
      let flags = "";
      if (obj.flags !== undefined) {
        if (typeof obj.flags !== "string")
          fail(`${path}.flags`, `must be a string such as "i"; got ${show(obj.flags)}`);
        flags = obj.flags as string;
        const bad = [...flags].find((f) => !ALLOWED_REGEX_FLAGS.includes(f));
        if (bad !== undefined) {
          fail(
            `${path}.flags`,
            `flag ${show(bad)} is not allowed; use only i, m, s, u or v (the whole text is tested once)`,
          );
        }
      }
      let pattern: RegExp;
      try {
        pattern = new RegExp(source as string, flags);
      } catch (err) {
        return fail(
          `${path}.regex`,
          `does not compile: ${(err as Error).message}; fix the expression (remember to double each backslash in JSON)`,
        );
      }
      if (pattern.test("")) {
        fail(
          `${path}.regex`,
          `${show(source)} matches empty text, so it would match every text; make it require at least one character`,
        );
      }
      return { ...base, matcher: { kind: "regex", source: source as string, flags, pattern } };
    }
    default:
      return { ...base, matcher: parseImageMatcher(obj.image, `${path}.image`, fail) };
  }
}

function parseImageMatcher(value: unknown, path: string, fail: Fail): ImageMatcher {
  const obj = expectObject(value, path, "an object of image conditions", fail);
  checkKeys(obj, IMAGE_KEYS, path, fail);
  const out: { -readonly [K in keyof ImageMatcher]: ImageMatcher[K] } = { kind: "image" };
  if (obj.formats !== undefined) {
    const list = obj.formats;
    if (!Array.isArray(list) || list.length === 0)
      fail(`${path}.formats`, 'must be a non-empty array of "png", "jpeg" or "webp"');
    out.formats = (list as unknown[]).map((f, k) => {
      if (typeof f === "string" && (IMAGE_FORMATS as readonly string[]).includes(f)) return f as ImageFormat;
      const hint = f === "jpg" ? '; write "jpeg"' : "";
      return fail(
        `${path}.formats[${k}]`,
        `${show(f)} is not a format the gateway accepts; use "png", "jpeg" or "webp"${hint}`,
      );
    });
  }
  for (const key of ["minBytes", "maxBytes", "minWidth", "minHeight"] as const) {
    const v = obj[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
      fail(`${path}.${key}`, `must be a whole number, 0 or more; got ${show(v)}`);
    out[key] = v as number;
  }
  if (out.minBytes !== undefined && out.maxBytes !== undefined && out.minBytes > out.maxBytes) {
    fail(
      `${path}`,
      `minBytes (${out.minBytes}) is greater than maxBytes (${out.maxBytes}), so nothing could match; swap or fix them`,
    );
  }
  if (obj.contentHashes !== undefined) {
    const list = obj.contentHashes;
    if (!Array.isArray(list) || list.length === 0)
      fail(`${path}.contentHashes`, 'must be a non-empty array of content hashes ("fnv1a128::" and 32 hex digits)');
    out.contentHashes = (list as unknown[]).map((h, k) => {
      const hash = typeof h === "string" ? h.toLowerCase() : "";
      if (!isContentHash(hash)) {
        fail(
          `${path}.contentHashes[${k}]`,
          `${show(h)} is not a content hash; write "fnv1a128::" followed by 32 hex digits (the content_hash the emulator reports)`,
        );
      }
      return hash;
    });
  }
  return out;
}

/** One case-insensitive, whole-word pattern for a list of keywords (see {@link KeywordsMatcher}). */
function compileKeywords(keywords: readonly string[]): RegExp {
  const alternatives = keywords.map((kw) =>
    kw
      .normalize("NFKC")
      .trim()
      .split(/\s+/u)
      .map((word) => word.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&"))
      .join("\\s+"),
  );
  // Lookarounds rather than \b, so that keywords that start or end with punctuation ("$$$") still work
  // and letters outside ASCII count as word characters.
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join("|")})(?![\\p{L}\\p{N}_])`, "iu");
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function expectObject(v: unknown, path: string, what: string, fail: Fail): Json {
  if (!isObject(v)) fail(path, `must be ${what} (a JSON object); got ${show(v)}`);
  return v as Json;
}

function checkKeys(obj: Json, allowed: readonly string[], path: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const near = nearest(key, allowed);
    const hint =
      near !== undefined
        ? `; did you mean ${show(near)}?`
        : `; the keys allowed here are ${allowed.map(show).join(", ")}`;
    fail(path, `unknown key ${show(key)}${hint}`);
  }
}

function requireString(obj: Json, key: string, path: string, fail: Fail): string {
  if (obj[key] === undefined) fail(path, `missing ${show(key)}; give a non-empty string`);
  return optionalString(obj, key, path, fail)!;
}

function optionalString(obj: Json, key: string, path: string, fail: Fail): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.trim() === "") fail(`${path}.${key}`, `must be a non-empty string; got ${show(v)}`);
  if ((v as string).trim() !== v) fail(`${path}.${key}`, `${show(v)} starts or ends with whitespace; remove it`);
  return v as string;
}

function requireArray(obj: Json, key: string, path: string, what: string, fail: Fail): unknown[] {
  const v = obj[key];
  if (v === undefined) fail(path, `missing ${show(key)}; give at least one of its ${what}`);
  if (!Array.isArray(v)) fail(`${path}.${key}`, `must be an array of ${what}`);
  if ((v as unknown[]).length === 0) fail(`${path}.${key}`, `give at least one of its ${what}`);
  return v as unknown[];
}

/** A value as it would appear in JSON, shortened, for error messages. */
function show(v: unknown): string {
  const text = v === undefined ? "undefined" : JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
