// The emulator's waits: every timer it arms is clamped to what a Node.js timer can take, and a wait that a call's
// signal cuts short ends with the call's own status (DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE), never with the
// AbortError that `timers/promises` throws, which Connect would answer as INTERNAL.

import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_TIMER_MS } from "../deadlines.js";

/**
 * A delay a timer can take: at least 0 and at most MAX_TIMER_MS (about 24.8 days). Node.js fires a timer with a
 * longer delay after 1 ms (with a TimeoutOverflowWarning), so a wait that far out is kept as the longest one there
 * is, which is as good as none. NaN counts as 0.
 * @internal
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}

/**
 * The status a call ends with when its signal aborts: the signal's reason when it is a ConnectError (Connect's
 * deadline gives DEADLINE_EXCEEDED, a client's RST_STREAM CANCEL gives CANCELLED, the emulator stopping gives
 * UNAVAILABLE), else CANCELLED (the client went away without saying why).
 * @internal
 */
export function abortedCallError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return new ConnectError("the call was cancelled", Code.Canceled, undefined, undefined, reason);
}

/**
 * Resolves after `ms` (clamped by {@link timerDelay}); rejects with {@link abortedCallError} when `signal` aborts
 * first, or at once when it already has.
 * @internal
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedCallError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedCallError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, timerDelay(ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
