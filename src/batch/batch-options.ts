// The options of a bulk evaluation (`client.evaluateBatch`), their defaults, and the checks that make a bad option
// fail at once, before any item is read or sent.

import { Code } from "@connectrpc/connect";
import { checkHeaders } from "../client-options.js";
import { MAX_TIMER_MS } from "../deadlines.js";
import { InvalidRequestError } from "../errors.js";
import { describeType, isPlainObject, isWellFormedText } from "../validation/invalid.js";
import type { BatchProgress } from "./batch-summary.js";

/** A pace to keep under the gateway's rate limit: at most this many Evaluate streams, or items, per second. */
export interface BatchRateLimit {
  /** Evaluate streams started per second, at most. */
  requestsPerSecond?: number;
  /** Items sent per second, at most. */
  itemsPerSecond?: number;
}

/** How `evaluateBatch` evaluates a batch; only `policyId` is required. */
export interface EvaluateBatchOptions {
  /** The policy to evaluate against. */
  policyId: string;
  /** The threshold, 0 to 1. Default: the gateway's (0.5). */
  threshold?: number | undefined;
  /** Ask the gateway for expedited evaluation. */
  expedited?: boolean | undefined;
  /** How many Evaluate streams run at once, 1 to 256. Default 4. */
  concurrency?: number;
  /** The most items in one stream, 1 to 10 000. Default 100. */
  chunkSize?: number;
  /**
   * The most content bytes in one stream (text as UTF-8, images as their bytes), so that requests stay under the
   * gateway's message limit; an item larger than this goes alone. Default 3 MiB.
   */
  maxChunkBytes?: number;
  /**
   * How long a chunk that is not full waits for more items from an AsyncIterable, in ms from its first item, before
   * it is sent as it is: so that the messages of a queue that goes quiet are evaluated within this time, while a
   * fast source still fills its chunks. 0 sends what the source has ready at once; Infinity waits for a full chunk
   * (or the end of the items). A plain Iterable (an array) is never waited for. Default 20.
   */
  maxChunkWaitMs?: number;
  /**
   * Yield outcomes in input order (`true`) or as they complete (`false`, the default). In order, an outcome waits
   * for those before it, within the window (see `windowSize`).
   */
  ordered?: boolean;
  /**
   * The most items read from the input and not yet yielded to you, bad ones included: the bound on memory and,
   * with `ordered`, the reorder window. Reading pauses while it is full. Default 2 × concurrency × chunkSize; at
   * least chunkSize.
   */
  windowSize?: number;
  /** Stops the batch: streams in flight are cancelled and the iteration throws AbortedError. */
  signal?: AbortSignal | undefined;
  /** Called when a stream settles and at the end, with the counts so far. */
  onProgress?: ((progress: BatchProgress) => void) | undefined;
  /**
   * A pace to keep. Whether or not one is given, RESOURCE_EXHAUSTED from the gateway pauses every stream for as
   * long as its RetryInfo asks (else a backoff) and halves the pace, which then recovers as streams succeed.
   */
  rateLimit?: BatchRateLimit | undefined;
  /**
   * How many times one item may be sent, 1 to 100. Default 3. Each send of an item in a stream counts, except a
   * send that the gateway refused (a precheck refusal evaluates nothing). An item still unanswered after its last
   * attempt is yielded as `failed` with the last error.
   */
  maxAttempts?: number;
  /**
   * Whether the items a stream left unanswered, after it had sent at least one result, are sent again (default
   * true). The gateway may have evaluated them before the stream broke, so a resent item may be evaluated, and
   * billed, twice. With `false` they are yielded as `failed` instead; a stream that fails before its first result
   * is still retried, as `evaluate()` does.
   */
  resend?: boolean;
  /** Each stream's overall time limit in ms. Default: the client's `timeoutMs`. */
  streamTimeoutMs?: number | undefined;
  /** Extra headers for every stream. */
  headers?: Record<string, string> | undefined;
}

/** Default number of concurrent streams. */
export const DEFAULT_BATCH_CONCURRENCY = 4;
/** Default number of items per stream. */
export const DEFAULT_BATCH_CHUNK_SIZE = 100;
/** Default most content bytes per stream: under the 4 MiB that gRPC servers accept by default. */
export const DEFAULT_BATCH_MAX_CHUNK_BYTES = 3 * 1024 * 1024;
/** Default longest wait of a part-filled chunk for more items, in ms. */
export const DEFAULT_BATCH_MAX_CHUNK_WAIT_MS = 20;
/** Default most sends of one item. */
export const DEFAULT_BATCH_MAX_ATTEMPTS = 3;

/** The options with every default filled in. @private */
export interface ResolvedBatchOptions {
  readonly policyId: string;
  readonly threshold: number | undefined;
  readonly expedited: boolean;
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly maxChunkBytes: number;
  readonly maxChunkWaitMs: number;
  readonly ordered: boolean;
  readonly windowSize: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((progress: BatchProgress) => void) | undefined;
  readonly rateLimit: BatchRateLimit | undefined;
  readonly maxAttempts: number;
  readonly resend: boolean;
  readonly streamTimeoutMs: number | undefined;
  readonly headers: Record<string, string> | undefined;
}

/** Every option of evaluateBatch, for refusing a misspelt one. */
const BATCH_OPTION_KEYS: ReadonlySet<string> = new Set([
  "policyId",
  "threshold",
  "expedited",
  "concurrency",
  "chunkSize",
  "maxChunkBytes",
  "maxChunkWaitMs",
  "ordered",
  "windowSize",
  "signal",
  "onProgress",
  "rateLimit",
  "maxAttempts",
  "resend",
  "streamTimeoutMs",
  "headers",
]);

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field: `options.${field}` });
}

function whole(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${field} is ${String(value)}; pass a whole number from ${min} to ${max}`, field);
  }
  return value;
}

function positive(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0) || value === Number.POSITIVE_INFINITY) {
    throw invalid(`${field} is ${String(value)}; pass a number above 0`, field);
  }
  return value;
}

/** A timer's delay in ms: from 0 to MAX_TIMER_MS, or Infinity for no timer at all. */
function timerDelay(value: unknown, field: string): number | undefined {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== "number" || !(value >= 0 && value <= MAX_TIMER_MS)) {
    const given = typeof value === "number" ? String(value) : describeType(value);
    throw invalid(
      `${field} is ${given}; pass a number of milliseconds from 0 to ${String(MAX_TIMER_MS)}, or Infinity for no limit`,
      field,
    );
  }
  return value;
}

/**
 * Fills in the defaults and checks every option. Throws InvalidRequestError naming the option and the fix.
 * @private
 */
export function resolveBatchOptions(options: EvaluateBatchOptions): ResolvedBatchOptions {
  if (!isPlainObject(options as unknown)) {
    throw new InvalidRequestError(
      `evaluateBatch's options are ${describeType(options)}; pass a plain object such as { policyId: "…" }`,
      { code: Code.InvalidArgument, field: "options" },
    );
  }
  for (const key of Object.keys(options)) {
    if (!BATCH_OPTION_KEYS.has(key)) {
      throw invalid(
        `${key} is not an option of evaluateBatch; its options are ${[...BATCH_OPTION_KEYS].join(", ")}`,
        key,
      );
    }
  }
  if (typeof options.policyId !== "string" || options.policyId.trim() === "") {
    throw invalid("policyId is required: the id of the policy to evaluate against", "policyId");
  }
  if (!isWellFormedText(options.policyId)) {
    throw invalid("policyId holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot carry", "policyId");
  }
  for (const key of ["expedited", "ordered", "resend"] as const) {
    const value = options[key];
    if (value !== undefined && typeof value !== "boolean") {
      throw invalid(`${key} is ${describeType(value)}; pass true or false`, key);
    }
  }
  checkHeaders(options.headers, "headers");
  const t = options.threshold;
  if (t !== undefined && (typeof t !== "number" || !(t >= 0 && t <= 1))) {
    throw invalid(`threshold is ${String(t)}; a threshold is a number from 0 to 1`, "threshold");
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalid("signal must be an AbortSignal, such as AbortController's signal", "signal");
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw invalid("onProgress must be a function", "onProgress");
  }
  const concurrency = whole(options.concurrency, "concurrency", 1, 256) ?? DEFAULT_BATCH_CONCURRENCY;
  const chunkSize = whole(options.chunkSize, "chunkSize", 1, 10_000) ?? DEFAULT_BATCH_CHUNK_SIZE;
  const maxChunkBytes = positive(options.maxChunkBytes, "maxChunkBytes") ?? DEFAULT_BATCH_MAX_CHUNK_BYTES;
  const maxChunkWaitMs = timerDelay(options.maxChunkWaitMs, "maxChunkWaitMs") ?? DEFAULT_BATCH_MAX_CHUNK_WAIT_MS;
  const windowSize = whole(options.windowSize, "windowSize", chunkSize, Number.MAX_SAFE_INTEGER);
  const maxAttempts = whole(options.maxAttempts, "maxAttempts", 1, 100) ?? DEFAULT_BATCH_MAX_ATTEMPTS;
  const rateLimit = options.rateLimit;
  if (rateLimit !== undefined) {
    if (!isPlainObject(rateLimit as unknown)) {
      throw invalid("rateLimit must be an object such as { itemsPerSecond: 500 }", "rateLimit");
    }
    for (const key of Object.keys(rateLimit)) {
      if (key !== "requestsPerSecond" && key !== "itemsPerSecond") {
        throw invalid(`${key} is not a rate limit; pass requestsPerSecond or itemsPerSecond`, `rateLimit.${key}`);
      }
    }
    positive(rateLimit.requestsPerSecond, "rateLimit.requestsPerSecond");
    positive(rateLimit.itemsPerSecond, "rateLimit.itemsPerSecond");
  }
  return {
    policyId: options.policyId,
    threshold: t,
    expedited: options.expedited === true,
    concurrency,
    chunkSize,
    maxChunkBytes,
    maxChunkWaitMs,
    ordered: options.ordered === true,
    windowSize: windowSize ?? Math.max(chunkSize, 2 * concurrency * chunkSize),
    signal: options.signal,
    onProgress: options.onProgress,
    rateLimit,
    maxAttempts,
    resend: options.resend !== false,
    streamTimeoutMs: positive(options.streamTimeoutMs, "streamTimeoutMs"),
    headers: options.headers,
  };
}
