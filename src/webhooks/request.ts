// The sending side of webhooks: attaching a webhook to a CreateJob request.
// The gateway POSTs the completed job to the URL and sends every extra header
// with the prefix `X-Webhook-` (so "Secret" arrives as `X-Webhook-Secret`).

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type {
  CreateJobRequest_WebhookSchema,
  CreateJobRequestSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { InvalidRequestError } from "../errors.js";
import { isLoopbackHost } from "../loopback.js";

/** A webhook as a plain object: `{ url, extraHeaders }`. */
export type WebhookInit = MessageInitShape<typeof CreateJobRequest_WebhookSchema>;

/** A CreateJob request as a plain object. */
export type CreateJobRequestInit = MessageInitShape<typeof CreateJobRequestSchema>;

/** The prefix the gateway puts before every extra header name when it calls the webhook. */
export const WEBHOOK_HEADER_PREFIX = "X-Webhook-";

// RFC 9110 token characters.
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII, space and tab: anything else (CR, LF, NUL, other controls, non-ASCII) can split or break a header.
const headerValue = /^[\t\x20-\x7e]*$/;

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field });
}

/**
 * Builds a webhook for a CreateJob request: the gateway POSTs the completed job to `url`, with each of
 * `extraHeaders` sent as `X-Webhook-<name>` (so pass `{ Secret: "…" }`, which arrives as `X-Webhook-Secret`, and
 * check it in your handler). The URL must be https; http is allowed only for a loopback host (localhost,
 * 127.0.0.0/8, ::1), for local testing. Throws InvalidRequestError for a bad URL, a URL with credentials in it, or
 * a header name or value that is not legal (CR/LF, non-ASCII, an `X-Webhook-` prefix of your own, a duplicate).
 */
export function createWebhook(url: string | URL, extraHeaders: Record<string, string> = {}): WebhookInit {
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
  return { ...request, webhook: createWebhook(url, extraHeaders) };
}

/**
 * Checks a webhook of a request, however it was built. `path` names it in messages. Throws InvalidRequestError.
 * @internal
 */
export function checkWebhook(webhook: unknown, path = "webhook"): void {
  if (webhook === null || typeof webhook !== "object") {
    throw invalid(`${path} must be an object { url, extraHeaders }; build it with createWebhook(url, headers)`, path);
  }
  const { url, extraHeaders } = webhook as { url?: unknown; extraHeaders?: unknown };
  if (typeof url !== "string" || url === "") {
    throw invalid(`${path}.url is missing; pass the https URL that should receive the completed job`, `${path}.url`);
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
  if (extraHeaders === null || typeof extraHeaders !== "object" || Array.isArray(extraHeaders)) {
    throw invalid(`${path}.extraHeaders must be an object of header names to string values`, `${path}.extraHeaders`);
  }
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(extraHeaders)) {
    const field = `${path}.extraHeaders["${name}"]`;
    if (!headerName.test(name)) {
      throw invalid(
        `${field}: "${name}" is not a legal header name; use letters, digits and - (no spaces, colons or line breaks)`,
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
      throw invalid(`${field} is a ${typeof value}; header values must be strings`, field);
    }
    if (!headerValue.test(value)) {
      throw invalid(
        `${field} holds a line break, a control character or non-ASCII text, which a header cannot carry; encode it (for example with encodeURIComponent)`,
        field,
      );
    }
  }
}
