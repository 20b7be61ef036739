// The shared secret that authenticates webhook calls. The gateway documents no signature, so the sender (you, when
// creating the job) puts a secret in an extra header, and the receiver compares it in constant time.

// The default import, not named ones: the comparison is looked up on the module object at call time, which lets the
// tests check that the constant-time primitive is what runs.
import crypto from "node:crypto";
import { isHeaderName, WEBHOOK_HEADER_PREFIX } from "../http-headers.js";
import { describeType, invalidField, isPlainObject } from "../validation/invalid.js";
import { createWebhook } from "./request.js";
import { WebhookVerificationError } from "./verification-error.js";

/** The extra header name the secret travels in by default; the gateway sends it as `X-Webhook-Secret`. */
export const DEFAULT_SECRET_HEADER = "Secret";

const PREFIX = WEBHOOK_HEADER_PREFIX;
// Visible ASCII with inner spaces only: header values lose leading and trailing blanks in transit, and anything
// outside ASCII is re-encoded differently by different HTTP stacks, so such a secret could never match.
const SENDABLE_SECRET = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A webhook for `CreateJobRequest.webhook`, as made by {@link webhookWithSecret}. */
export interface WebhookWithSecret {
  /** The URL the gateway POSTs the completed job to. */
  url: string;
  /** The extra headers, the secret among them; each arrives prefixed `X-Webhook-`. */
  extraHeaders: Record<string, string>;
}

/**
 * Makes a new random webhook secret: 32 bytes from the system's secure random source, base64url-encoded (43
 * characters, safe in a header). Store it where your receiver can read it, such as an environment variable.
 */
export function generateWebhookSecret(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/**
 * Builds the webhook of a CreateJob request that carries `secret` in an extra header, so that the receiver can tell
 * the gateway's calls from anyone else's: `createJob({ ..., webhook: webhookWithSecret(url, secret) })`. The gateway
 * sends the header as `X-Webhook-<header>`, by default `X-Webhook-Secret`; give the receiver the same `header`.
 *
 * @param url where the gateway POSTs the completed job: https (http only for a loopback host, for local testing).
 * @param secret printable ASCII without leading or trailing blanks; see {@link generateWebhookSecret}.
 * @param options.header the extra header's name without the `X-Webhook-` prefix. Default "Secret".
 * @param options.extraHeaders more extra headers to send along.
 * @throws InvalidRequestError (`field` "secret", "options.header", "options.extraHeaders" or "webhook.…") when the
 *   secret or header name cannot travel in a header (the message never shows the secret), for a URL that is not
 *   https or http on loopback, a URL with credentials, or an illegal or duplicate extra header.
 */
export function webhookWithSecret(
  url: string | URL,
  secret: string,
  options: { header?: string; extraHeaders?: Record<string, string> } = {},
): WebhookWithSecret {
  if (!isPlainObject(options)) {
    throw invalidField(
      `options is ${describeType(options)}; pass { header?, extraHeaders? } or leave it out`,
      "options",
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== "header" && key !== "extraHeaders") {
      throw invalidField(`options.${key} is not an option; the options are header and extraHeaders`, `options.${key}`);
    }
  }
  if (options.extraHeaders !== undefined && !isPlainObject(options.extraHeaders)) {
    throw invalidField(
      `options.extraHeaders is ${describeType(options.extraHeaders)}; pass an object of header names to string values`,
      "options.extraHeaders",
    );
  }
  const header = checkSecretHeader(
    options.header === undefined ? DEFAULT_SECRET_HEADER : options.header,
    asInvalidRequest("options.header"),
  );
  checkSecret(secret, "the webhook secret", asInvalidRequest("secret"));
  // Spreading would let the secret silently replace an extra header of the same name; say so instead.
  const clash = Object.keys(options.extraHeaders ?? {}).find((name) => name.toLowerCase() === header.toLowerCase());
  if (clash !== undefined) {
    throw invalidField(
      `options.extraHeaders[${JSON.stringify(clash)}]: the secret travels in the "${header}" header, so it would be given twice; leave it out, or send the secret under another name with options.header`,
      `options.extraHeaders[${JSON.stringify(clash)}]`,
    );
  }
  const extraHeaders = { ...options.extraHeaders, [header]: secret };
  // The sending side's own checks, so that a webhook built here obeys the same rules as one built by hand.
  createWebhook(url, extraHeaders);
  return { url: url instanceof URL ? url.href : url, extraHeaders };
}

/**
 * The full name of the header a receiver reads for the extra header `header`: "Secret" → "X-Webhook-Secret".
 *
 * @throws TypeError when `header` is not a legal header name or already starts with `X-Webhook-`.
 */
export function webhookHeaderName(header: string = DEFAULT_SECRET_HEADER): string {
  return `${PREFIX}${checkSecretHeader(header)}`;
}

/**
 * Checks a received secret header against every expected secret, in time that depends neither on where a wrong
 * secret differs nor on its length.
 * @internal
 */
export class SecretCheck {
  /** The header the secret arrives in, such as "X-Webhook-Secret". */
  readonly headerName: string;
  // A key of our own, so that what is compared is a digest nobody outside can compute or predict.
  readonly #key = crypto.randomBytes(32);
  // Only digests are kept: the secrets themselves never sit on this object, where they could be logged.
  readonly #expected: Buffer[];

  /**
   * @param secret one secret, or several during a rotation (any one of them is accepted).
   * @param header the extra header's name without the prefix. Default "Secret".
   * @throws TypeError when no secret is given, or a secret or the header name cannot travel in a header.
   */
  constructor(secret: string | readonly string[], header: string = DEFAULT_SECRET_HEADER) {
    this.headerName = webhookHeaderName(header);
    const secrets = typeof secret === "string" ? [secret] : secret;
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new TypeError(
        "webhook receiver: pass `secret`, the value you gave webhookWithSecret() when creating the job (or an array of them while rotating)",
      );
    }
    this.#expected = secrets.map((s: unknown, i) => {
      checkSecret(s, secrets.length === 1 ? "`secret`" : `\`secret[${i}]\``);
      return this.#digest(s);
    });
  }

  /**
   * Accepts the request when `received` equals one of the expected secrets.
   *
   * @throws WebhookVerificationError "missing_secret" when the header is absent or empty, "wrong_secret" when it
   *   matches no expected secret.
   */
  verify(received: string | undefined): void {
    if (received === undefined || received === "") {
      throw new WebhookVerificationError(
        "missing_secret",
        `the request has no ${this.headerName} header, so it cannot be told from a forged call; create the job with ` +
          `webhook: webhookWithSecret(url, secret${this.headerName === `${PREFIX}${DEFAULT_SECRET_HEADER}` ? "" : `, { header: "${this.headerName.slice(PREFIX.length)}" }`}) so that the gateway sends it`,
      );
    }
    const digest = this.#digest(received);
    // Every expected secret is compared, even after a match, so the time taken does not say which one matched.
    let matched = 0;
    for (const expected of this.#expected) matched |= crypto.timingSafeEqual(digest, expected) ? 1 : 0;
    if (matched === 0) {
      throw new WebhookVerificationError(
        "wrong_secret",
        `the ${this.headerName} header matches none of the expected secrets; check that the receiver's secret is the one the job was created with (while rotating, pass both the old and the new secret)`,
      );
    }
  }

  // Equal-length digests for every input: timingSafeEqual needs equal lengths, and comparing raw values would have to
  // reject a wrong length early, which would leak the secret's length.
  #digest(value: string): Buffer {
    return crypto.createHmac("sha256", this.#key).update(value, "utf8").digest();
  }
}

/** How a check fails: a TypeError for a receiver's settings, an InvalidRequestError with a field when sending. */
type Fail = (message: string) => Error;
const asTypeError: Fail = (message) => new TypeError(message);
const asInvalidRequest =
  (field: string): Fail =>
  (message) =>
    invalidField(message, field);

function checkSecret(secret: unknown, what: string, fail: Fail = asTypeError): asserts secret is string {
  if (typeof secret !== "string" || secret === "") {
    throw fail(`${what} must be a non-empty string; make one with generateWebhookSecret()`);
  }
  if (!SENDABLE_SECRET.test(secret)) {
    throw fail(
      `${what} must be printable ASCII without leading or trailing blanks (headers lose those in transit and cannot carry line breaks or non-ASCII text); make one with generateWebhookSecret()`,
    );
  }
}

function checkSecretHeader(header: unknown, fail: Fail = asTypeError): string {
  if (typeof header !== "string" || !isHeaderName(header)) {
    throw fail(
      `the secret header name ${typeof header === "string" ? JSON.stringify(header) : `(${describeType(header)})`} is not a legal header name; use letters, digits and - (default "${DEFAULT_SECRET_HEADER}")`,
    );
  }
  if (header.toLowerCase().startsWith(PREFIX.toLowerCase())) {
    throw fail(
      `give the secret header name without the "${PREFIX}" prefix ("${header.slice(PREFIX.length)}"): the gateway adds the prefix, so the name the job was created with is what both sides use`,
    );
  }
  return header;
}
