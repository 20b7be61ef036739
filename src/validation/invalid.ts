// The one way the SDK reports bad input: an InvalidRequestError that names the field to fix.

import { Code } from "@connectrpc/connect";
import { InvalidRequestError } from "../errors.js";

/**
 * An InvalidRequestError found before anything was sent: INVALID_ARGUMENT, `field` set to the path of the bad part
 * (such as "contentData[3].image" or "options.timeoutMs"). The message must say how to fix it and must never quote
 * a value that could be a secret.
 * @private
 */
export function invalidField(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field });
}

/** A short description of a value's type for messages, such as "null", "an array", "a bigint"; never the value. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (value instanceof Date) return "a Date";
  if (value instanceof Map) return "a Map";
  const type = typeof value;
  if (type === "number") {
    const n = value as number;
    if (Number.isNaN(n)) return "NaN";
    if (!Number.isFinite(n)) return String(n);
    return Number.isInteger(n) ? "a whole number" : "a fractional number";
  }
  if (type === "object") return "an object";
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

/** Joins a field path and a field name: "" + "policyId" is "policyId", "webhook" + "url" is "webhook.url". */
export function fieldPath(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/**
 * Whether a string is well-formed UTF-16 (no lone surrogate). A lone surrogate cannot be encoded as UTF-8; the
 * encoder would silently turn it into U+FFFD, so two different texts would be sent (and hashed) as the same bytes.
 */
export const isWellFormedText: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (text) => (text as string & { isWellFormed(): boolean }).isWellFormed()
    : (text) => !/\p{Surrogate}/u.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));

/**
 * Whether a value is a plain object (`{…}` or `Object.create(null)`), the only kind of object a request, an
 * options object or a map may be: a Map, a Date, an array or a class instance would be read as an empty object.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
