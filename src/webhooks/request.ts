// The sending side of webhooks: attaching a webhook to a CreateJob request.
// The gateway POSTs the completed job to the URL and sends every extra header
// with the prefix `X-Webhook-` (so "Secret" arrives as `X-Webhook-Secret`).

import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  CreateJobRequest_WebhookSchema,
  CreateJobRequestSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { isHeaderName, isHeaderValue, MAX_HEADER_VALUE_LENGTH, WEBHOOK_HEADER_PREFIX } from "../http-headers.js";
import { isLoopbackHost } from "../loopback.js";
import { describeType, invalidField, isPlainObject, isWellFormedText } from "../validation/invalid.js";

/** A webhook as a plain object: `{ url, extraHeaders }`. */
export type WebhookInit = MessageInitShape<typeof CreateJobRequest_WebhookSchema>;

/** A CreateJob request as a plain object. */
export type CreateJobRequestInit = MessageInitShape<typeof CreateJobRequestSchema>;

export { WEBHOOK_HEADER_PREFIX };

const invalid = invalidField;

/**
 * Builds a webhook for a CreateJob request: the gateway POSTs the completed job to `url`, with each of
 * `extraHeaders` sent as `X-Webhook-<name>` (so pass `{ Secret: "…" }`, which arrives as `X-Webhook-Secret`, and
 * check it in your handler). The URL must be https; http is allowed only for a loopback host (localhost,
 * 127.0.0.0/8, ::1), for local testing. Throws InvalidRequestError for a bad URL, a URL with credentials in it, or
 * a header name or value that is not legal (CR/LF, non-ASCII, an `X-Webhook-` prefix of your own, a duplicate).
 */
export function createWebhook(url: string | URL, extraHeaders: Record<string, string> = {}): WebhookInit {
  if (!isPlainObject(extraHeaders)) {
    throw invalid(
      `extraHeaders is ${describeType(extraHeaders)}; pass an object of header names to string values, such as { Secret: "…" }`,
      "webhook.extraHeaders",
    );
  }
  const webhook: WebhookInit = { url: url instanceof URL ? url.href : url, extraHeaders: { ...extraHeaders } };
  checkWebhook(webhook);
  return webhook;
}

/**
 * Returns a copy of a CreateJob request with a webhook attached (the request itself is not changed), like the
 * Python SDK's `add_webhook(url, extra_headers)`. See createWebhook for the rules and what it throws.
 */
export function addWebhook<T extends CreateJobRequestInit>(
  request: T,
  url: string | URL,
  extraHeaders: Record<string, string> = {},
): T & { webhook: WebhookInit } {
  if (!isPlainObject(request)) {
    throw invalid(`the CreateJob request is ${describeType(request)}; pass an object`, "request");
  }
  return { ...request, webhook: createWebhook(url, extraHeaders) };
}

/**
 * Checks a webhook of a request, however it was built. `path` names it in messages. Throws InvalidRequestError.
 * @internal
 */
export function checkWebhook(webhook: unknown, path = "webhook"): void {
  if (!isPlainObject(webhook)) {
    throw invalid(
      `${path} is ${describeType(webhook)}; pass an object { url, extraHeaders }, built with createWebhook(url, headers)`,
      path,
    );
  }
  const { url, extraHeaders } = webhook as { url?: unknown; extraHeaders?: unknown };
  if (typeof url !== "string" || url === "") {
    throw invalid(
      `${path}.url is ${typeof url === "string" ? "empty" : describeType(url)}; pass the https URL that should receive the completed job`,
      `${path}.url`,
    );
  }
  if (!isWellFormedText(url)) {
    throw invalid(`${path}.url holds a lone surrogate (half of a UTF-16 pair); fix the URL's encoding`, `${path}.url`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(
      `${path}.url "${url}" is not an absolute URL; pass one such as https://example.com/hooks/clavata`,
      `${path}.url`,
    );
  }
  if (parsed.protocol === "http:") {
    if (!isLoopbackHost(parsed.hostname)) {
      throw invalid(
        `${path}.url must use https; plain http is allowed only for a loopback host such as 127.0.0.1 (got host "${parsed.hostname}")`,
        `${path}.url`,
      );
    }
  } else if (parsed.protocol !== "https:") {
    throw invalid(`${path}.url must be an https URL (got scheme "${parsed.protocol}")`, `${path}.url`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw invalid(
      `${path}.url holds credentials; URLs end up in logs, so send a secret as an extra header (it arrives as X-Webhook-<name>)`,
      `${path}.url`,
    );
  }
  if (extraHeaders === undefined) return;
  if (!isPlainObject(extraHeaders)) {
    throw invalid(`${path}.extraHeaders must be an object of header names to string values`, `${path}.extraHeaders`);
  }
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(extraHeaders)) {
    const field = `${path}.extraHeaders[${JSON.stringify(name)}]`;
    if (!isHeaderName(name)) {
      throw invalid(
        `${field}: ${JSON.stringify(name)} is not a legal header name; use letters, digits and - (no spaces, colons or line breaks)`,
        field,
      );
    }
    if (name.toLowerCase().startsWith(WEBHOOK_HEADER_PREFIX.toLowerCase())) {
      throw invalid(
        `${field}: leave out the "${WEBHOOK_HEADER_PREFIX}" prefix; the gateway adds it, so "${name.slice(WEBHOOK_HEADER_PREFIX.length)}" arrives as "${name}"`,
        field,
      );
    }
    if (seen.has(name.toLowerCase())) {
      throw invalid(`${field}: header names are case-insensitive, and "${name}" is given twice`, field);
    }
    seen.add(name.toLowerCase());
    if (typeof value !== "string") {
      throw invalid(`${field} is ${describeType(value)}; header values must be strings`, field);
    }
    if (value.length > MAX_HEADER_VALUE_LENGTH) {
      throw invalid(
        `${field} is longer than ${String(MAX_HEADER_VALUE_LENGTH)} characters, more than a header should carry; send large data in the job instead`,
        field,
      );
    }
    if (!isHeaderValue(value)) {
      throw invalid(
        `${field} holds a line break, a control character or non-ASCII text, which a header cannot carry; encode it (for example with encodeURIComponent)`,
        field,
      );
    }
  }
}
