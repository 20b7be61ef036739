// The limits a request is checked against before it is sent: the client's own (request size, items per call) and
// the gateway's rules (label ids per call, page size, job id format), which a client can relax with the `limits`
// option if the gateway changes them.

import { describeType, invalidField, isPlainObject } from "./invalid.js";

/** The most label version ids one EvaluateLabels call takes (a gateway rule). */
export const MAX_LABEL_VERSION_IDS = 10;

/** The largest page ListJobs serves (a gateway rule). */
export const MAX_PAGE_SIZE = 1000;

/**
 * The default ceiling on a request's encoded size: 16 MiB, below the gateway's message limit (the emulator's is 32
 * MiB), so that an oversized request fails at once instead of after the upload.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** The default ceiling on content items per call. */
export const DEFAULT_MAX_ITEMS_PER_CALL = 10_000;

/** How a job id is spelled: the gateway's job ids are UUIDs (8-4-4-4-12 hexadecimal digits). */
export const JOB_UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Limits checked before a request is sent. Every one has a default; see the README's "Validation and limits". */
export interface RequestLimits {
  /** The largest request, in encoded bytes (estimated before encoding). Default 16 MiB. */
  maxRequestBytes?: number;
  /** The most content items per Evaluate or CreateJob call. Default 10 000. */
  maxItemsPerCall?: number;
  /** The most label version ids per EvaluateLabels call. Default 10, the gateway's rule. */
  maxLabelVersionIds?: number;
  /** The largest ListJobs page size. Default 1000, the gateway's rule. */
  maxPageSize?: number;
  /** Whether job ids must be UUIDs. Default true, the gateway's rule; false accepts any non-empty id. */
  requireUuidJobIds?: boolean;
}

/** The limits with every default filled in. @private */
export type ResolvedRequestLimits = Readonly<Required<RequestLimits>>;

/** The limits a request is checked against when no client says otherwise. @private */
export const DEFAULT_REQUEST_LIMITS: ResolvedRequestLimits = Object.freeze({
  maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
  maxItemsPerCall: DEFAULT_MAX_ITEMS_PER_CALL,
  maxLabelVersionIds: MAX_LABEL_VERSION_IDS,
  maxPageSize: MAX_PAGE_SIZE,
  requireUuidJobIds: true,
});

const limitKeys = Object.keys(DEFAULT_REQUEST_LIMITS) as (keyof RequestLimits)[];

/**
 * Checks the `limits` option and fills in the defaults. `field` names the option in messages ("options.limits").
 * Throws InvalidRequestError for an unknown key, a count that is not a whole number ≥ 1, or a flag that is not a
 * boolean.
 * @private
 */
export function resolveRequestLimits(limits: unknown, field: string): ResolvedRequestLimits {
  if (limits === undefined) return DEFAULT_REQUEST_LIMITS;
  if (!isPlainObject(limits)) {
    throw invalidField(
      `${field} is ${describeType(limits)}; pass an object such as { maxRequestBytes: 8_000_000 }`,
      field,
    );
  }
  const given = limits as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(limitKeys as string[]).includes(key)) {
      throw invalidField(`${field}.${key} is not a limit; the limits are ${limitKeys.join(", ")}`, `${field}.${key}`);
    }
  }
  const out: Record<string, number | boolean> = { ...DEFAULT_REQUEST_LIMITS };
  for (const key of limitKeys) {
    const value = given[key];
    if (value === undefined) continue;
    if (key === "requireUuidJobIds") {
      if (typeof value !== "boolean") {
        throw invalidField(`${field}.${key} is ${describeType(value)}; pass true or false`, `${field}.${key}`);
      }
    } else if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw invalidField(
        `${field}.${key} is ${describeType(value)}; pass a whole number of at least 1`,
        `${field}.${key}`,
      );
    }
    out[key] = value;
  }
  return Object.freeze(out) as unknown as ResolvedRequestLimits;
}
