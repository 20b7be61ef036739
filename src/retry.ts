// When and how long to wait before retrying a failed attempt. The retry
// interceptor (interceptors.ts) asks this file; keeping the decisions here
// makes them testable without a network.

import { Code, type ConnectError } from "@connectrpc/connect";
import { causeChain } from "./cause-chain.js";
import { MAX_TIMER_MS } from "./deadlines.js";
import { classifyTransportFailure, transportFailureOf } from "./errors.js";
import { retryDelayHintMs } from "./status-details.js";

export { retryDelayHintMs };

/** How a client retries: `maxRetries` further attempts, with exponential backoff and full jitter. */
export interface RetryOptions {
  /** Retries after the first attempt; 0 disables retries. Default 2. */
  maxRetries?: number;
  /** The backoff cap of the first retry, in ms; each further retry doubles it. Default 250. */
  initialDelayMs?: number;
  /** The largest backoff cap, in ms. Default 10 000. A gateway's retry delay hint is honoured even when longer. */
  maxDelayMs?: number;
}

/** RetryOptions with every default filled in. @private */
export type ResolvedRetryOptions = Required<RetryOptions>;

/** The defaults of RetryOptions. */
export const DEFAULT_RETRY_OPTIONS: Readonly<ResolvedRetryOptions> = Object.freeze({
  maxRetries: 2,
  initialDelayMs: 250,
  maxDelayMs: 10_000,
});

/**
 * The backoff before retry number `retry` (1 for the first retry): "full jitter", a uniformly random delay between
 * 0 and min(maxDelayMs, initialDelayMs × 2^(retry − 1)), so that many clients retrying at once spread out.
 * `random` returns a number in [0, 1) (default Math.random).
 */
export function backoffDelayMs(
  retry: number,
  options: Pick<ResolvedRetryOptions, "initialDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * cap);
}

// Errors of these system calls happen before a connection exists, so no request byte can have been sent.
const preConnectSyscalls = new Set(["connect", "getaddrinfo"]);
const preConnectCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether the error proves that the request never left this process: the connection could not be opened at all
 * (refused, unresolvable host, unreachable network), or the server refused the stream unprocessed (REFUSED_STREAM, or a
 * stream above a GOAWAY's last stream id). Connect reports these as UNAVAILABLE with the Node.js system
 * error as `cause`. Everything else, including a connection that broke after it was opened, counts as maybe sent.
 */
export function provablyNeverSent(error: unknown): boolean {
  if (transportFailureOf(error)?.unprocessed === true) return true;
  return causeChain(error).some((e) => {
    const { code, syscall } = e as { code?: unknown; syscall?: unknown };
    return (
      (typeof syscall === "string" && preConnectSyscalls.has(syscall)) ||
      (typeof code === "string" && preConnectCodes.has(code))
    );
  });
}

/**
 * Whether the server itself said that it never processed the attempt: it refused the stream (RST_STREAM
 * REFUSED_STREAM before any answer) or its GOAWAY's last stream id was below the attempt's stream. Such an attempt is
 * repeated once at once, outside the retry rules (gRPC's "transparent retry"); a connection that could not be
 * opened is not one of these (the ordinary rules, with their backoff, retry that).
 */
export function refusedUnprocessed(error: unknown): boolean {
  const failure = transportFailureOf(error);
  return failure?.unprocessed === true && failure.kind === "stream-refused";
}

/** What the retry decision needs to know about a failed attempt. */
export interface FailedAttempt {
  /** The error of the attempt. */
  error: ConnectError;
  /** Attempts made so far, including this one (1 after the first). */
  attempts: number;
  /** The call's retry options. */
  retry: ResolvedRetryOptions;
  /** Whether the call may be repeated once it may have reached the server (every method but CreateJob). */
  idempotent: boolean;
  /** Whether this attempt ran out of its own attempt timeout (and not the call's overall deadline). */
  attemptTimedOut: boolean;
  /** Milliseconds left until the call's overall deadline (Infinity when it has none). */
  remainingMs: number;
  /** Returns a number in [0, 1); default Math.random. */
  random?: () => number;
}

/** The verdict on a failed attempt: retry after `delayMs`, or give up and say why (for the log). */
export type RetryVerdict = { retry: true; delayMs: number; hinted: boolean } | { retry: false; why: string };

/**
 * Decides whether to retry a failed attempt, and after how long. Retries RESOURCE_EXHAUSTED, UNAVAILABLE and an
 * attempt that ran out of its own timeout; a non-idempotent call only when the request provably never left this
 * process. Waits as long as the server's RetryInfo hint says, else the jittered backoff; gives up at once when the
 * wait would pass the overall deadline.
 */
export function decideRetry(attempt: FailedAttempt): RetryVerdict {
  const { error } = attempt;
  const retryable = error.code === Code.Unavailable || error.code === Code.ResourceExhausted || attempt.attemptTimedOut;
  if (!retryable) return { retry: false, why: "not a retryable status" };
  const failure = transportFailureOf(error);
  if (failure !== undefined && !classifyTransportFailure(failure.kind).retry) {
    return { retry: false, why: "retrying cannot help with this failure" };
  }
  if (attempt.attempts > attempt.retry.maxRetries) return { retry: false, why: "out of retries" };
  if (!attempt.idempotent && !provablyNeverSent(error)) {
    return { retry: false, why: "the request may have reached the server and the method is not idempotent" };
  }
  const hint = retryDelayHintMs(error);
  if (hint !== undefined && hint > MAX_TIMER_MS) {
    // A timer cannot wait that long (Node would fire it at once), and a client should not wait days in a call.
    return { retry: false, why: `the server asks to wait ${String(hint)} ms, longer than a call can wait` };
  }
  const delayMs = hint ?? backoffDelayMs(attempt.attempts, attempt.retry, attempt.random);
  if (delayMs >= attempt.remainingMs) return { retry: false, why: "the wait would pass the deadline" };
  return { retry: true, delayMs, hinted: hint !== undefined };
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as the signal aborts (also when it already has).
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
