// The emulator's policy engine: evaluates content against the deterministic
// policies of policy.ts and answers with the same report messages the real
// gateway sends, or with the refusal (precheck failure) it would send.

import { create } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type PrecheckFailure,
  PrecheckFailureSchema,
  PrecheckFailureType,
  PrecheckMatchConfidence,
} from "../../gen/clavata/gateway/v1/errs_pb.js";
import { type LabelEvaluation, LabelEvaluationSchema } from "../../gen/clavata/gateway/v1/labels_pb.js";
import {
  type ContentData,
  Outcome,
  type PolicyEvaluationReport,
  type PolicyEvaluationReport_AssertionEvaluationReport,
  PolicyEvaluationReport_AssertionEvaluationReportSchema,
  type PolicyEvaluationReport_ExceptionEvaluationReport,
  PolicyEvaluationReport_ExceptionEvaluationReportSchema,
  type PolicyEvaluationReport_ReviewResult,
  PolicyEvaluationReport_ReviewResultSchema,
  type PolicyEvaluationReport_SectionEvaluationReport,
  PolicyEvaluationReport_SectionEvaluationReportSchema,
  PolicyEvaluationReport_TokenUsageSchema,
  PolicyEvaluationReportSchema,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { contentHash, isContentHash } from "../content-hash.js";
import { type ImageFormat, type ImageInspection, inspectImage } from "./image.js";
import type { ImageMatcher, Policy, PolicyAssertion, PolicySection } from "./policy.js";
import { isLoopbackHost } from "./webhook-dispatcher.js";

/** The threshold used when a request leaves it unset or sends 0. */
export const DEFAULT_THRESHOLD = 0.5;
/** The input tokens counted for one image or image URL, whatever its size. */
export const IMAGE_INPUT_TOKENS = 256;
/** How long a loopback image URL fetch may take, by default, in milliseconds. */
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;
/** The largest image a loopback image URL may return, by default, in bytes (20 MiB). */
export const DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** Options for {@link PolicyEngine}. */
export interface PolicyEngineOptions {
  /** The policies to serve. Policy ids and label version ids must be unique. */
  policies: readonly Policy[];
  /** Content hashes ("fnv1a128::…") refused as NCMEC (CSAM) matches. */
  blockedHashes?: Iterable<string>;
  /** Time limit for fetching a loopback image URL, in milliseconds. Default 5000. */
  fetchTimeoutMs?: number;
  /** Size limit for an image fetched from a loopback image URL, in bytes. Default 20 MiB. */
  maxImageBytes?: number;
}

/** The result of evaluating one content item against one policy: a report, or a refusal. */
export type ContentVerdict =
  | { kind: "evaluated"; contentHash: string; report: PolicyEvaluationReport }
  | { kind: "refused"; contentHash: string; failure: PrecheckFailure };

/** The result of evaluating one content item against one label (policy section). */
export type LabelVerdict =
  | { kind: "evaluated"; contentHash: string; labelId: string; evaluation: LabelEvaluation }
  | { kind: "refused"; contentHash: string; failure: PrecheckFailure };

/**
 * A content item with its bytes resolved, hashed and inspected, ready to be evaluated against any number of
 * policies or labels. Made by {@link PolicyEngine.prepare}; pass it to `evaluate` or `evaluateLabel` instead of
 * the item so that an image URL is fetched once per request rather than once per policy or label.
 */
export type PreparedContent = {
  /** The item as received. */
  readonly item: ContentData;
  /** The item's content hash ("fnv1a128::…"). */
  readonly contentHash: string;
} & (
  | { readonly kind: "text"; readonly text: string; readonly normalized: string; readonly byteLength: number }
  | { readonly kind: "image"; readonly bytes: Uint8Array; readonly image: ImageInspection }
  | { readonly kind: "url"; readonly url: string; readonly format: ImageFormat | undefined }
  | { readonly kind: "fetchFailed"; readonly url: string; readonly reason: string }
);

/**
 * Resolves a request's threshold: unset or 0 means {@link DEFAULT_THRESHOLD} (0.5).
 *
 * @param field the request field, for the error message. Default "threshold".
 * @throws ConnectError with Code.InvalidArgument when the threshold is not a number from 0 to 1.
 */
export function effectiveThreshold(threshold: number | undefined, field = "threshold"): number {
  if (threshold === undefined || threshold === 0) return DEFAULT_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw new ConnectError(
      `${field} must be between 0 and 1 (0 or unset means the default ${DEFAULT_THRESHOLD}), got ${threshold}`,
      Code.InvalidArgument,
    );
  }
  return threshold;
}

/**
 * Whether an image URL points at this machine, so that the emulator fetches it: the host is `localhost`,
 * an IPv4 address in 127.0.0.0/8 or `[::1]` (after the WHATWG URL parser's normalization, so `127.1` counts).
 */
export function isLoopbackUrl(url: URL): boolean {
  // The same rule as for webhooks: the emulator contacts nothing beyond these hosts.
  return isLoopbackHost(url.hostname);
}

/**
 * The format an image URL's path names by its extension (`.png`, `.jpg`/`.jpeg`, `.webp`, any case), or
 * undefined for any other path.
 */
export function formatFromUrlPath(url: URL): ImageFormat | undefined {
  const match = /\.(png|jpe?g|webp)$/i.exec(url.pathname);
  if (!match) return undefined;
  const ext = match[1]!.toLowerCase();
  return ext === "png" ? "png" : ext === "webp" ? "webp" : "jpeg";
}

/**
 * Evaluates content against the emulator's deterministic policies. The same input always gives the same
 * output: there is no randomness and no clock (only a loopback URL's server can change what it returns).
 *
 * **Content bytes and hash.** Text is its UTF-8 bytes; an image is its bytes. An `image_url` on a loopback
 * host (see {@link isLoopbackUrl}) is fetched with `fetch` (time limit `fetchTimeoutMs`, size limit
 * `maxImageBytes`, redirects never followed) and its body is treated as image bytes; a failed fetch (network
 * error, time-out, non-2xx status, redirect, too large) gives a report whose review_result is OUTCOME_FAILED
 * with score 0, every section FAILED, no tokens, rather than an error. Any other URL is never fetched: its
 * content is the URL string's UTF-8 bytes exactly as sent, its format comes from the path's extension, and
 * only image matchers on `formats` and `contentHashes` can match it (its size and dimensions are unknown).
 * The content hash is `contentHash(bytes)` ("fnv1a128::…"); for a URL that is not fetched or whose fetch
 * failed it is the hash of the URL string.
 *
 * **Prechecks (refusals), in this order:** the hash is on the block list → NCMEC ("content matched a known
 * CSAM hash", match confidence EXACT); an image that is not PNG, JPEG or WebP, or a URL that is not fetched
 * and whose path has no .png, .jpg, .jpeg or .webp extension → UNSUPPORTED_IMAGE_FORMAT ("unsupported image
 * format"); a truncated or corrupt PNG, JPEG or WebP → INVALID_IMAGE ("invalid image: <reason>"). A refusal's
 * `details` is a string Value holding the item's content hash.
 *
 * **Scores.** An assertion scores its `score` when its matcher matches, else 0. A section's score is the
 * highest of its assertions' scores. An exception block (UNLESS) holds when its highest assertion score is at
 * or above the threshold. A section's outcome is TRUE when its score is at or above the threshold and neither
 * its own exception nor the policy's holds; a section cancelled by an exception keeps its score but is FALSE.
 * The policy is TRUE when any section is TRUE; its score is the highest score among the sections not
 * cancelled by an exception (0 when all are). The deprecated `result` fields carry the same outcomes as the
 * review results (an assertion's: its score against the threshold).
 *
 * **Report fields.** `label_matches` maps the name of every TRUE section to its score. `threshold` is the
 * effective threshold. `content_metadata` echoes the item's metadata. `token_usage`: input tokens are
 * max(1, ceil(UTF-8 bytes / 4)) for text and {@link IMAGE_INPUT_TOKENS} (256) for an image or image URL;
 * multiplier is the policy's; billed tokens are round(input × multiplier).
 */
export class PolicyEngine {
  /** The policies served, in the order given. */
  readonly policies: readonly Policy[];
  readonly #byId = new Map<string, Policy>();
  readonly #byLabel = new Map<string, { policy: Policy; section: PolicySection }>();
  readonly #blocked = new Set<string>();
  readonly #fetchTimeoutMs: number;
  readonly #maxImageBytes: number;

  /**
   * @throws Error when two policies share an id or two sections share a label version id, when a blocked hash
   *   is not a content hash, or when fetchTimeoutMs or maxImageBytes is not a positive number.
   */
  constructor(options: PolicyEngineOptions) {
    this.policies = [...options.policies];
    for (const policy of this.policies) {
      if (this.#byId.has(policy.id)) {
        throw new Error(
          `PolicyEngine: two policies have the id ${JSON.stringify(policy.id)}; give each policy its own id`,
        );
      }
      this.#byId.set(policy.id, policy);
      for (const section of policy.sections) {
        const other = this.#byLabel.get(section.labelVersionId);
        if (other !== undefined) {
          throw new Error(
            `PolicyEngine: label version id ${JSON.stringify(section.labelVersionId)} is used by both ` +
              `${other.policy.id}/${other.section.name} and ${policy.id}/${section.name}; give each section its own labelVersionId`,
          );
        }
        this.#byLabel.set(section.labelVersionId, { policy, section });
      }
    }
    for (const hash of options.blockedHashes ?? []) this.blockHash(hash);
    this.#fetchTimeoutMs = positive(options.fetchTimeoutMs, DEFAULT_FETCH_TIMEOUT_MS, "fetchTimeoutMs");
    this.#maxImageBytes = positive(options.maxImageBytes, DEFAULT_MAX_IMAGE_BYTES, "maxImageBytes");
  }

  /** The policy with this id, or undefined. */
  getPolicy(id: string): Policy | undefined {
    return this.#byId.get(id);
  }

  /** The section (label) with this label version id and its policy, or undefined. */
  findLabel(labelVersionId: string): { policy: Policy; section: PolicySection } | undefined {
    return this.#byLabel.get(labelVersionId);
  }

  /**
   * Adds a content hash to the NCMEC block list, so content with that hash is refused from now on.
   * Upper-case hex digits are accepted and stored in lower case.
   *
   * @throws Error when the hash is not `"fnv1a128::"` followed by 32 hex digits.
   */
  blockHash(hash: string): void {
    const normalized = typeof hash === "string" ? hash.toLowerCase() : "";
    if (!isContentHash(normalized)) {
      throw new Error(
        `cannot block ${JSON.stringify(hash)}: not a content hash; give "fnv1a128::" followed by 32 hex digits (the content_hash the emulator reports)`,
      );
    }
    this.#blocked.add(normalized);
  }

  /** Whether a content hash is on the NCMEC block list. */
  isBlocked(hash: string): boolean {
    return this.#blocked.has(hash.toLowerCase());
  }

  /**
   * Checks that an item can be evaluated at all (refusals are not this method's business).
   *
   * @param where the item's place in the request for the message, e.g. "content_data[2]".
   * @throws ConnectError with Code.InvalidArgument naming `where` when the item has no content, empty text,
   *   empty image bytes, an empty or unparsable image_url or one that is not http(s), or a video_url or
   *   audio_url (which the emulator does not support).
   */
  checkContent(item: ContentData, where: string): void {
    const bad = (problem: string) => new ConnectError(`${where}: ${problem}`, Code.InvalidArgument);
    const content = item.content;
    switch (content.case) {
      case undefined:
        throw bad("no content; set one of text, image or image_url");
      case "text":
        if (content.value === "") throw bad("text is empty; give the text to evaluate");
        return;
      case "image":
        if (content.value.length === 0) throw bad("image is empty; give the image bytes (PNG, JPEG or WebP)");
        return;
      case "imageUrl": {
        if (content.value.trim() === "") throw bad("image_url is empty; give an absolute http or https URL");
        const url = URL.canParse(content.value) ? new URL(content.value) : undefined;
        if (url === undefined)
          throw bad(`image_url ${quoteUrl(content.value)} is not a valid URL; give an absolute http or https URL`);
        if (url!.protocol !== "http:" && url!.protocol !== "https:") {
          throw bad(`image_url must be an http or https URL; got the scheme ${JSON.stringify(url!.protocol)}`);
        }
        return;
      }
      case "videoUrl":
        throw bad("video_url is not supported by the emulator; send text, image or image_url");
      case "audioUrl":
        throw bad("audio_url is not supported by the emulator; send text, image or image_url");
    }
  }

  /**
   * Resolves an item's content once: its bytes (fetching a loopback image URL), hash and image facts.
   * Fetch failures do not throw; they give a prepared item that evaluates to OUTCOME_FAILED.
   *
   * @param where the item's place in the request for error messages, e.g. "content_data[2]". Default "content".
   * @throws ConnectError with Code.InvalidArgument as {@link checkContent} does.
   */
  async prepare(item: ContentData, where = "content"): Promise<PreparedContent> {
    this.checkContent(item, where);
    const content = item.content;
    switch (content.case) {
      case "text": {
        const bytes = new TextEncoder().encode(content.value);
        return {
          item,
          kind: "text",
          contentHash: contentHash(bytes),
          text: content.value,
          normalized: content.value.normalize("NFKC"),
          byteLength: bytes.length,
        };
      }
      case "image":
        return {
          item,
          kind: "image",
          contentHash: contentHash(content.value),
          bytes: content.value,
          image: inspectImage(content.value),
        };
      case "imageUrl": {
        const urlText = content.value;
        const url = new URL(urlText);
        if (!isLoopbackUrl(url)) {
          return { item, kind: "url", contentHash: contentHash(urlText), url: urlText, format: formatFromUrlPath(url) };
        }
        const fetched = await fetchImage(url, this.#fetchTimeoutMs, this.#maxImageBytes);
        if ("reason" in fetched) {
          return { item, kind: "fetchFailed", contentHash: contentHash(urlText), url: urlText, reason: fetched.reason };
        }
        return {
          item,
          kind: "image",
          contentHash: contentHash(fetched.bytes),
          bytes: fetched.bytes,
          image: inspectImage(fetched.bytes),
        };
      }
      default:
        // checkContent has already refused every other case.
        throw new ConnectError("content: unsupported content", Code.InvalidArgument);
    }
  }

  /**
   * The refusal the gateway would give for prepared content, or undefined when it may be evaluated.
   * See the class documentation for the order of the checks.
   */
  precheck(content: PreparedContent): PrecheckFailure | undefined {
    const hash = content.contentHash;
    if (this.#blocked.has(hash)) {
      return refusal(
        PrecheckFailureType.NCMEC,
        "content matched a known CSAM hash",
        hash,
        PrecheckMatchConfidence.EXACT,
      );
    }
    if (content.kind === "url" && content.format === undefined) {
      return refusal(PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT, "unsupported image format", hash);
    }
    if (content.kind === "image" && "error" in content.image) {
      const image = content.image;
      if (image.error === "unsupported")
        return refusal(PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT, "unsupported image format", hash);
      return refusal(PrecheckFailureType.INVALID_IMAGE, `invalid image: ${image.reason}`, hash);
    }
    return undefined;
  }

  /**
   * Evaluates one item against a whole policy.
   *
   * @param threshold the request's threshold; undefined or 0 means 0.5.
   * @returns the report, or the refusal for content the gateway would refuse. Never throws for content the
   *   gateway refuses, nor for a failed image fetch (that gives an OUTCOME_FAILED report).
   * @throws ConnectError with Code.InvalidArgument when the item fails {@link checkContent} or the threshold is
   *   not from 0 to 1.
   */
  async evaluate(
    policy: Policy,
    item: ContentData | PreparedContent,
    threshold: number | undefined,
  ): Promise<ContentVerdict> {
    const t = effectiveThreshold(threshold);
    const content = isPrepared(item) ? item : await this.prepare(item);
    const failure = this.precheck(content);
    if (failure) return { kind: "refused", contentHash: content.contentHash, failure };
    return {
      kind: "evaluated",
      contentHash: content.contentHash,
      report: buildReport(policy, policy.sections, content, t),
    };
  }

  /**
   * Evaluates one item against one label: the section with this label version id, with its policy's
   * policy-level exception still applied. The report holds only that section and carries `label_id` and
   * `label_version_id`; the evaluation's score and outcome are the report's review_result (so a section
   * cancelled by an exception scores 0 here, while its section report keeps its own score).
   *
   * @param threshold the request's threshold; undefined or 0 means 0.5.
   * @throws ConnectError with Code.NotFound for an unknown label version id (check with {@link findLabel}
   *   first to answer with a per-label error instead), and Code.InvalidArgument as {@link evaluate} does.
   */
  async evaluateLabel(
    labelVersionId: string,
    item: ContentData | PreparedContent,
    threshold: number | undefined,
  ): Promise<LabelVerdict> {
    const found = this.#byLabel.get(labelVersionId);
    if (found === undefined) {
      throw new ConnectError(
        `label version ${JSON.stringify(labelVersionId)} not found; check the id against the emulator's policies`,
        Code.NotFound,
      );
    }
    const t = effectiveThreshold(threshold);
    const content = isPrepared(item) ? item : await this.prepare(item);
    const failure = this.precheck(content);
    if (failure) return { kind: "refused", contentHash: content.contentHash, failure };
    const { policy, section } = found;
    const report = buildReport(policy, [section], content, t);
    report.labelId = section.labelId;
    report.labelVersionId = section.labelVersionId;
    const evaluation = create(LabelEvaluationSchema, {
      score: report.reviewResult?.score ?? 0,
      outcome: report.reviewResult?.outcome ?? Outcome.UNSPECIFIED,
      threshold: t,
      report,
    });
    return { kind: "evaluated", contentHash: content.contentHash, labelId: section.labelId, evaluation };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`PolicyEngine: ${name} must be a positive number; got ${value}`);
  return value;
}

function isPrepared(item: ContentData | PreparedContent): item is PreparedContent {
  return !("$typeName" in item) && "kind" in item && "item" in item;
}

/** A URL for an error message: quoted, without its query (which may hold a signature) and shortened. */
function quoteUrl(text: string): string {
  const shown = text.split(/[?#]/, 1)[0]!;
  return JSON.stringify(shown.length > 100 ? `${shown.slice(0, 97)}...` : shown);
}

function refusal(
  type: PrecheckFailureType,
  message: string,
  hash: string,
  confidence?: PrecheckMatchConfidence,
): PrecheckFailure {
  return create(PrecheckFailureSchema, {
    type,
    message,
    details: create(ValueSchema, { kind: { case: "stringValue", value: hash } }),
    matchConfidence: confidence ?? PrecheckMatchConfidence.UNSPECIFIED,
  });
}

/**
 * Fetches a loopback image URL within the limits, never following a redirect. A kept-alive connection that
 * the server closed just before it was reused fails at once; the GET is retried once in that case only.
 */
async function fetchImage(
  url: URL,
  timeoutMs: number,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { reason: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const first = await fetchImageOnce(url, signal, timeoutMs, maxBytes);
  if ("socketClosed" in first && !signal.aborted) return fetchImageOnce(url, signal, timeoutMs, maxBytes);
  return first;
}

async function fetchImageOnce(
  url: URL,
  signal: AbortSignal,
  timeoutMs: number,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { reason: string; socketClosed?: true }> {
  try {
    const response = await fetch(url, {
      redirect: "manual",
      signal,
      headers: { accept: "image/png, image/jpeg, image/webp" },
    });
    if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
      await response.body?.cancel();
      return {
        reason: `the server answered with a redirect (HTTP ${response.status}), which the emulator does not follow`,
      };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { reason: `the server answered HTTP ${response.status}` };
    }
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > maxBytes) {
      await response.body?.cancel();
      return { reason: `the image is larger than the limit of ${maxBytes} bytes` };
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > maxBytes) {
          await reader.cancel();
          return { reason: `the image is larger than the limit of ${maxBytes} bytes` };
        }
        chunks.push(value);
      }
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return { bytes };
  } catch (err) {
    if (signal.aborted) return { reason: `no complete answer within ${timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = `the fetch failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
    return cause?.code === "UND_ERR_SOCKET" || cause?.code === "ECONNRESET"
      ? { reason, socketClosed: true }
      : { reason };
  }
}

/** Whether a matcher matches prepared content. Text matchers never match images, and the reverse. */
function matches(assertion: PolicyAssertion, content: PreparedContent): boolean {
  const m = assertion.matcher;
  switch (m.kind) {
    case "keywords":
      return content.kind === "text" && m.pattern.test(content.normalized);
    case "regex":
      return content.kind === "text" && m.pattern.test(content.text);
    case "image":
      return imageMatches(m, content);
  }
}

function imageMatches(m: ImageMatcher, content: PreparedContent): boolean {
  if (content.kind === "image") {
    const info = content.image;
    if ("error" in info) return false; // refused before evaluation; kept for safety
    const size = content.bytes.length;
    return (
      (m.formats === undefined || m.formats.includes(info.format)) &&
      (m.minBytes === undefined || size >= m.minBytes) &&
      (m.maxBytes === undefined || size <= m.maxBytes) &&
      (m.minWidth === undefined || info.width >= m.minWidth) &&
      (m.minHeight === undefined || info.height >= m.minHeight) &&
      (m.contentHashes === undefined || m.contentHashes.includes(content.contentHash))
    );
  }
  if (content.kind === "url") {
    // Nothing about the size of an image that was not fetched is known, so such conditions cannot hold.
    if (m.minBytes !== undefined || m.maxBytes !== undefined || m.minWidth !== undefined || m.minHeight !== undefined)
      return false;
    return (
      (m.formats === undefined || (content.format !== undefined && m.formats.includes(content.format))) &&
      (m.contentHashes === undefined || m.contentHashes.includes(content.contentHash))
    );
  }
  return false;
}

const outcomeOf = (score: number, threshold: number): Outcome => (score >= threshold ? Outcome.TRUE : Outcome.FALSE);

interface BlockResult {
  score: number;
  reports: PolicyEvaluationReport_AssertionEvaluationReport[];
}

function evaluateAssertions(
  assertions: readonly PolicyAssertion[],
  content: PreparedContent,
  threshold: number,
): BlockResult {
  let score = 0;
  const reports = assertions.map((a) => {
    const s = matches(a, content) ? a.score : 0;
    score = Math.max(score, s);
    return create(PolicyEvaluationReport_AssertionEvaluationReportSchema, {
      message: a.description,
      score: s,
      result: outcomeOf(s, threshold),
    });
  });
  return { score, reports };
}

/** Evaluates an exception block; it holds when its score reaches the threshold. */
function evaluateException(
  unless: readonly PolicyAssertion[] | undefined,
  content: PreparedContent,
  threshold: number,
): { holds: boolean; report: PolicyEvaluationReport_ExceptionEvaluationReport } | undefined {
  if (unless === undefined) return undefined;
  const block = evaluateAssertions(unless, content, threshold);
  const outcome = outcomeOf(block.score, threshold);
  return {
    holds: outcome === Outcome.TRUE,
    report: create(PolicyEvaluationReport_ExceptionEvaluationReportSchema, {
      result: outcome,
      assertionEvaluationReports: block.reports,
      reviewResult: { outcome, score: block.score },
    }),
  };
}

/** Builds the report of `sections` of a policy (all of them, or the one label being evaluated). */
function buildReport(
  policy: Policy,
  sections: readonly PolicySection[],
  content: PreparedContent,
  threshold: number,
): PolicyEvaluationReport {
  const report = create(PolicyEvaluationReportSchema, {
    policyId: policy.id,
    policyKey: policy.key,
    policyVersionId: policy.versionId,
    contentHash: content.contentHash,
    contentMetadata: { ...content.item.metadata },
    threshold,
  });
  const inputTokens =
    content.kind === "text"
      ? Math.max(1, Math.ceil(content.byteLength / 4))
      : content.kind === "fetchFailed"
        ? 0
        : IMAGE_INPUT_TOKENS;
  report.tokenUsage = create(PolicyEvaluationReport_TokenUsageSchema, {
    inputTokens,
    billedTokens: Math.min(0x7fffffff, Math.round(inputTokens * policy.multiplier)),
    multiplier: policy.multiplier,
  });

  if (content.kind === "fetchFailed") {
    report.result = Outcome.FAILED;
    report.reviewResult = reviewResult(Outcome.FAILED, 0);
    report.sectionEvaluationReports = sections.map((s) =>
      create(PolicyEvaluationReport_SectionEvaluationReportSchema, {
        name: s.name,
        message: s.message,
        result: Outcome.FAILED,
        reviewResult: { outcome: Outcome.FAILED, score: 0 },
      }),
    );
    return report;
  }

  const policyException = evaluateException(policy.unless, content, threshold);
  if (policyException) report.exceptionEvaluationReport = policyException.report;
  let anyTrue = false;
  let policyScore = 0;
  const sectionReports: PolicyEvaluationReport_SectionEvaluationReport[] = [];
  for (const section of sections) {
    const own = evaluateAssertions(section.assertions, content, threshold);
    const sectionException = evaluateException(section.unless, content, threshold);
    const cancelled = (policyException?.holds ?? false) || (sectionException?.holds ?? false);
    const outcome = !cancelled && own.score >= threshold ? Outcome.TRUE : Outcome.FALSE;
    if (!cancelled) policyScore = Math.max(policyScore, own.score);
    if (outcome === Outcome.TRUE) {
      anyTrue = true;
      report.labelMatches[section.name] = own.score;
    }
    const sectionReport = create(PolicyEvaluationReport_SectionEvaluationReportSchema, {
      name: section.name,
      message: section.message,
      result: outcome,
      assertionEvaluationReports: own.reports,
      reviewResult: { outcome, score: own.score },
    });
    if (sectionException) sectionReport.exceptionEvaluationReport = sectionException.report;
    sectionReports.push(sectionReport);
  }
  report.sectionEvaluationReports = sectionReports;
  const outcome = anyTrue ? Outcome.TRUE : Outcome.FALSE;
  report.result = outcome;
  report.reviewResult = reviewResult(outcome, policyScore);
  return report;
}

function reviewResult(outcome: Outcome, score: number): PolicyEvaluationReport_ReviewResult {
  return create(PolicyEvaluationReport_ReviewResultSchema, { outcome, score });
}
