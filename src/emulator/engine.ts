// The emulator's policy engine: holds the policies and the block list, refuses what the gateway would refuse
// (prechecks), and evaluates content against a policy or one label. Content preparation (prepared-content.ts),
// loopback image fetching (image-fetch.ts) and the report itself (report.ts) each live in their own file.

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
import { type ContentData, Outcome, type PolicyEvaluationReport } from "../../gen/clavata/shared/v1/public_pb.js";
import { isContentHash } from "../content-hash.js";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_IMAGE_BYTES } from "./image-fetch.js";
import type { Policy, PolicySection } from "./policy.js";
import { checkContent, isPrepared, type PreparedContent, prepareContent } from "./prepared-content.js";
import { buildReport } from "./report.js";

/** The threshold used when a request leaves it unset or sends 0. */
export const DEFAULT_THRESHOLD = 0.5;

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
 * Evaluates content against the emulator's deterministic policies. The same input always gives the same
 * output: there is no randomness and no clock (only a loopback URL's server can change what it returns).
 *
 * **Content bytes and hash.** Text is its UTF-8 bytes; an image is its bytes. An `image_url` on a loopback
 * host (localhost, 127.0.0.0/8, ::1) is fetched with `fetch` (time limit `fetchTimeoutMs`, size limit
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
 * max(1, ceil(UTF-8 bytes / 4)) for text and IMAGE_INPUT_TOKENS (256, in report.ts) for an image or image URL;
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
   * Checks that an item can be evaluated at all (refusals are not this method's business); see
   * {@link checkContent}.
   *
   * @throws ConnectError with Code.InvalidArgument naming `where`.
   */
  checkContent(item: ContentData, where: string): void {
    checkContent(item, where);
  }

  /**
   * Resolves an item's content once: its bytes (fetching a loopback image URL within this engine's limits), hash
   * and image facts. Fetch failures do not throw; they give a prepared item that evaluates to OUTCOME_FAILED.
   *
   * @param where the item's place in the request for error messages, e.g. "content_data[2]". Default "content".
   * @throws ConnectError with Code.InvalidArgument as {@link checkContent} does.
   */
  prepare(item: ContentData, where = "content"): Promise<PreparedContent> {
    return prepareContent(item, where, { fetchTimeoutMs: this.#fetchTimeoutMs, maxImageBytes: this.#maxImageBytes });
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
