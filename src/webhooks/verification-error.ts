// Why a webhook request was turned away, in the receiver's terms, and the HTTP status that says so to the sender.

/**
 * Why a webhook request was rejected:
 * - "method_not_allowed": not a POST (405, with `Allow: POST`).
 * - "missing_secret": the secret header is absent or empty (401).
 * - "wrong_secret": the secret header matches none of the expected secrets (401).
 * - "wrong_content_type": the Content-Type is not application/json (400).
 * - "too_large": the body is longer than the size limit (413).
 * - "parsed_body": a framework parsed the body before the receiver saw it, so the raw bytes are gone (500: the
 *   receiving app is set up wrong, not the sender; a 5xx also lets the sender retry once it is fixed).
 * - "bad_json": the body is empty, not UTF-8 or not JSON (400).
 * - "not_a_job": the body is JSON but not a proto3 JSON Job (400).
 */
export type WebhookVerificationReason =
  | "method_not_allowed"
  | "missing_secret"
  | "wrong_secret"
  | "wrong_content_type"
  | "too_large"
  | "parsed_body"
  | "bad_json"
  | "not_a_job";

const statusOf: Record<WebhookVerificationReason, number> = {
  method_not_allowed: 405,
  missing_secret: 401,
  wrong_secret: 401,
  wrong_content_type: 400,
  too_large: 413,
  parsed_body: 500,
  bad_json: 400,
  not_a_job: 400,
};

/**
 * A webhook request that the receiver turned away: `reason` says why, `status` is the HTTP status the adapters
 * answer with, and the message says what went wrong and how to fix it. Messages never contain a secret.
 */
export class WebhookVerificationError extends Error {
  override readonly name: string = "WebhookVerificationError";
  /** Why the request was rejected. */
  readonly reason: WebhookVerificationReason;
  /** The HTTP status to answer with (401, 400, 405, 413 or 500; see {@link WebhookVerificationReason}). */
  readonly status: number;

  /** Makes an error for `reason`; the receiver makes these for you. */
  constructor(reason: WebhookVerificationReason, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    Object.setPrototypeOf(this, new.target.prototype);
    this.reason = reason;
    this.status = statusOf[reason];
  }
}
