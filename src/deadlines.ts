// The time limits of a client's calls, in one place: the deadlines of calls and attempts in flight, kept by one
// timer (arming and clearing a Node timer per call costs more than a short call itself spends in the client, and
// most calls finish long before their deadline), the limit each attempt gets, and its grpc-timeout header.

import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The longest delay a timer can take, in ms (2^31 − 1, about 24.8 days): Node.js fires a setTimeout or setInterval
 * with a longer one after 1 ms, and browsers at once. @private
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Aborts each registered call when its deadline passes. One timer is armed for the earliest deadline; it is unref'd,
 * so it never keeps a process alive on its own (a call in flight does, through its connection). @private
 */
export class Deadlines {
  readonly #entries = new Set<{ readonly at: number; readonly expire: () => void }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** Calls `expire` once `at` (a Date.now() time) has passed, unless the returned function is called first. */
  add(at: number, expire: () => void): () => void {
    const entry = { at, expire };
    this.#entries.add(entry);
    if (at < this.#timerAt) this.#arm(at);
    return () => {
      this.#entries.delete(entry);
    };
  }

  /** Forgets every deadline and stops the timer. */
  clear(): void {
    this.#entries.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // At least 1 ms, so a timer that fires a little early cannot spin; at most MAX_TIMER_MS, since a longer delay
    // would fire after 1 ms (#fire re-arms for a deadline still ahead).
    this.#timer = setTimeout(() => this.#fire(), Math.min(MAX_TIMER_MS, Math.max(1, at - Date.now())));
    // Edge runtimes return a plain number, which has nothing to unref.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries) {
      if (entry.at <= now) {
        this.#entries.delete(entry);
        entry.expire();
      } else if (entry.at < next) {
        next = entry.at;
      }
    }
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }
}

/** What the time limit of an attempt depends on. @private */
export interface AttemptTiming {
  /** The time limit of one attempt, in ms (undefined: none). */
  readonly attemptTimeoutMs: number | undefined;
  /** When the call's overall deadline passes (Date.now() scale), Infinity for none. */
  readonly deadlineAt: number;
}

/**
 * The time limit to give the attempt starting now: the attempt timeout, capped by what is left of the overall
 * deadline; undefined when neither applies. Throws DEADLINE_EXCEEDED when the deadline has already passed.
 * @private
 */
export function attemptTimeoutMs(timing: AttemptTiming, now = Date.now()): number | undefined {
  const left = timing.deadlineAt - now;
  if (left <= 0) throw new ConnectError("the operation timed out", Code.DeadlineExceeded);
  const limit = Math.min(left, timing.attemptTimeoutMs ?? Infinity);
  // Connect reads 0 as "no timeout", so never round down to it.
  return Number.isFinite(limit) ? Math.max(1, Math.ceil(limit)) : undefined;
}

/** The units of grpc-timeout after milliseconds, with their size in ms. */
const TIMEOUT_UNITS: readonly (readonly [string, number])[] = [
  ["S", 1000],
  ["M", 60_000],
  ["H", 3_600_000],
];

/**
 * The `grpc-timeout` header value for a limit in ms: at most 8 digits (the gRPC spec's limit), in the smallest unit
 * that fits, rounded up; a limit beyond 99,999,999 hours is sent as that. @private
 */
export function grpcTimeout(ms: number): string {
  if (ms < 1e8) return `${String(Math.ceil(ms))}m`;
  for (const [unit, size] of TIMEOUT_UNITS) {
    const n = Math.ceil(ms / size);
    if (n < 1e8) return `${String(n)}${unit}`;
  }
  return "99999999H";
}

/** The error an attempt ends with when its own time limit passes. @private */
export const ATTEMPT_TIMED_OUT = new ConnectError("the attempt timed out", Code.DeadlineExceeded);

/**
 * Arms the time limit of one attempt, when the call has a per-attempt limit (`timing.attemptTimeoutMs`): `expire`
 * runs once `limitMs` has passed, on the client's one deadline timer. Returns the function that disarms it; a
 * no-op when there is nothing to arm (the call's own deadline already covers an attempt that may run as long as
 * the call). @private
 */
export function armAttempt(
  deadlines: Deadlines,
  timing: AttemptTiming,
  limitMs: number | undefined,
  expire: () => void,
): () => void {
  if (timing.attemptTimeoutMs === undefined || limitMs === undefined) return noop;
  return deadlines.add(Date.now() + limitMs, expire);
}

function noop(): void {}
