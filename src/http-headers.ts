// What an HTTP header may be, written once: the client's custom headers, the webhook helpers' extra headers and the
// emulator's webhook dispatcher all check names and values with these rules.

/** RFC 9110 token characters: what a header name may consist of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Tab, space and visible ASCII: anything else (CR, LF, NUL, other controls, non-ASCII) can split or break a header. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** The largest header value the SDK sends or accepts, in characters: 8 KiB, the common per-header limit of proxies. */
export const MAX_HEADER_VALUE_LENGTH = 8 * 1024;

/** The prefix the gateway puts before every extra header name when it calls a webhook. */
export const WEBHOOK_HEADER_PREFIX = "X-Webhook-";

/**
 * Connection-level (hop-by-hop) headers and headers that HTTP/2 forbids or computes itself: a caller's value would
 * make every call fail (RFC 9113 §8.2.2) or describe a body the client does not send.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
  "http2-settings",
]);

/** Headers the client sets on every call; a caller's value would corrupt the call or its authentication. */
export const CLIENT_OWNED_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "content-type",
  "content-encoding",
  "accept-encoding",
  "te",
  "x-clavata-client",
]);

/** Whether `name` is a legal HTTP header name (an RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return HEADER_NAME.test(name);
}

/** Whether `value` can be sent as a header value as it is: tab, space and visible ASCII, no line break. */
export function isHeaderValue(value: string): boolean {
  return HEADER_VALUE.test(value);
}

/**
 * Why a caller may not send this header on a gRPC call, or undefined when it may: pseudo headers (":path"),
 * illegal names, hop-by-hop headers, the client's own headers and anything starting with "grpc-" or "connect-".
 * Names only; see isHeaderValue for values.
 */
export function reservedHeaderProblem(name: string): string | undefined {
  if (name.startsWith(":")) return `"${name}" is an HTTP/2 pseudo header, which only the transport sets`;
  if (!isHeaderName(name)) {
    return `"${name}" is not a legal header name; use letters, digits and - (no spaces, colons or line breaks)`;
  }
  const lower = name.toLowerCase();
  if (lower === "authorization") return `"${name}" is set by the client itself; pass the key as the apiKey option`;
  if (CLIENT_OWNED_HEADERS.has(lower) || lower.startsWith("grpc-") || lower.startsWith("connect-")) {
    return `"${name}" is set by the client itself`;
  }
  if (HOP_BY_HOP_HEADERS.has(lower)) {
    return `"${name}" is a connection-level header, which HTTP/2 forbids (the call would fail); leave it out`;
  }
  return undefined;
}
