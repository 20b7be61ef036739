// The client's Connect interceptors, outermost first: retry (with backoff,
// per-attempt deadlines and abort), logging, identification, auth. Each
// attempt of a call passes through all but the first.

import { ConnectError, createContextKey, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { causeChain } from "./cause-chain.js";
import { ATTEMPT_TIMED_OUT, armAttempt, attemptTimeoutMs, type Deadlines, grpcTimeout } from "./deadlines.js";
import { grpcCodeName } from "./errors.js";
import type { Log } from "./logging.js";
import { decideRetry, type ResolvedRetryOptions, refusedUnprocessed, sleep } from "./retry.js";
import { VERSION } from "./version.js";

export { attemptTimeoutMs };

/** How one call retries and times out; the client puts it in the call's context values. @private */
export interface CallSettings {
  /** Retries and backoff. */
  readonly retry: ResolvedRetryOptions;
  /** The time limit of one attempt, in ms (undefined: none). */
  readonly attemptTimeoutMs: number | undefined;
  /** When the call's overall deadline passes (Date.now() scale), Infinity for none. */
  readonly deadlineAt: number;
  /** Whether the method may be repeated once a request may have reached the server. */
  readonly idempotent: boolean;
  /** The attempt in progress, 1-based; advanced by the retry interceptor. */
  attempt: number;
  /** Attempts repeated because the server refused them unprocessed (at most one; not counted against maxRetries). */
  transparentRetries: number;
}

/** The context key of a call's CallSettings; the default retries nothing. @private */
export const kCallSettings = createContextKey<CallSettings>(
  {
    retry: { maxRetries: 0, initialDelayMs: 0, maxDelayMs: 0 },
    attemptTimeoutMs: undefined,
    deadlineAt: Infinity,
    idempotent: false,
    attempt: 1,
    transparentRetries: 0,
  },
  { description: "clavata call settings" },
);

/** The `x-clavata-client` value: this SDK and its version. */
export const CLIENT_ID = `clavata-connect:${VERSION}`;

// Read through globalThis: edge runtimes have no `process`, and naming it there would throw at load.
const nodeVersion = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;

/** The `user-agent` product token of this SDK, with the Node.js version when it runs on Node.js. */
export const USER_AGENT = `clavata-connect/${VERSION}${nodeVersion === undefined ? "" : ` node/${nodeVersion}`}`;

/** Sends `authorization: Bearer <key>` on every attempt. The key lives only in this closure. @private */
export function bearerAuthInterceptor(apiKey: string): Interceptor {
  const value = `Bearer ${apiKey}`;
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

/** Sends `x-clavata-client: clavata-connect:<version>` and a user-agent that names the SDK version. @private */
export function identifyInterceptor(): Interceptor {
  return (next) => (req) => {
    req.header.set("x-clavata-client", CLIENT_ID);
    const theirs = req.header.get("user-agent");
    req.header.set("user-agent", theirs && !theirs.startsWith("connect-es/") ? `${USER_AGENT} ${theirs}` : USER_AGENT);
    return next(req);
  };
}

function outcome(error: unknown): string {
  const e = ConnectError.from(error);
  return e.rawMessage ? `${grpcCodeName(e.code)} (${e.rawMessage})` : grpcCodeName(e.code);
}

/**
 * Logs each attempt at debug level: its start, its outcome and its duration, and for a stream how many messages
 * it delivered. Never logs headers or message contents. @private
 */
export function loggingInterceptor(log: Log): Interceptor {
  return (next) => async (req) => {
    const name = req.method.name;
    const attempt = req.contextValues.get(kCallSettings).attempt;
    const started = Date.now();
    const ms = () => `${String(Date.now() - started)} ms`;
    log.debug(`${name}: attempt ${String(attempt)} started`);
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      log.debug(`${name}: attempt ${String(attempt)} failed after ${ms()}: ${outcome(error)}`);
      throw error;
    }
    if (!res.stream) {
      log.debug(`${name}: attempt ${String(attempt)} OK in ${ms()}`);
      return res;
    }
    log.debug(`${name}: attempt ${String(attempt)} stream open after ${ms()}`);
    const messages = res.message;
    async function* counted() {
      let count = 0;
      try {
        for await (const m of messages) {
          count++;
          yield m;
        }
      } catch (error) {
        log.debug(`${name}: stream failed after ${String(count)} messages, ${ms()}: ${outcome(error)}`);
        throw error;
      }
      log.debug(`${name}: stream ended OK after ${String(count)} messages, ${ms()}`);
    }
    return { ...res, message: counted() } as typeof res;
  };
}

/**
 * Decides what follows a failed attempt of a call, by `decideRetry`: returns the delay before the next attempt
 * (after logging it), or throws `error` when the call must end. Both of the client's call paths use it, so they
 * retry alike. @private
 */
export function retryDelayOrThrow(error: unknown, settings: CallSettings, name: string, log: Log): number {
  const e = ConnectError.from(error);
  if (settings.transparentRetries === 0 && refusedUnprocessed(e) && Date.now() < settings.deadlineAt) {
    // The server said it never processed the call: repeat it once at once, CreateJob included, whatever maxRetries
    // says (gRPC's "transparent retry"); a second refusal goes through the ordinary rules below.
    settings.transparentRetries = 1;
    log.info(`${name}: ${outcome(e)}; the server did not process it, so it is sent again at once`);
    return 0;
  }
  const retries = settings.attempt - settings.transparentRetries;
  const verdict = decideRetry({
    error: e,
    attempts: retries,
    retry: settings.retry,
    idempotent: settings.idempotent,
    // Only the attempt's own time limit (attemptTimeoutMs) makes a DEADLINE_EXCEEDED worth another attempt; one the
    // server sent, or the call's overall deadline, ends the call.
    attemptTimedOut: causeChain(error).includes(ATTEMPT_TIMED_OUT),
    remainingMs: settings.deadlineAt - Date.now(),
  });
  if (!verdict.retry) {
    if (retries > 1 || verdict.why !== "not a retryable status") {
      log.debug(`${name}: not retrying ${outcome(e)}: ${verdict.why}`);
    }
    throw error;
  }
  log.info(
    `${name}: ${outcome(e)}; retry ${String(retries)} of ${String(settings.retry.maxRetries)} in ` +
      `${String(verdict.delayMs)} ms${verdict.hinted ? " (as the server asked)" : ""}`,
  );
  return verdict.delayMs;
}

/**
 * Retries an attempt that failed with RESOURCE_EXHAUSTED or UNAVAILABLE, or ran out of its attempt timeout, as
 * `decideRetry` allows, waiting between attempts (aborted at once by the call's signal). Each attempt gets its own
 * time limit (see attemptTimeoutMs), enforced on the client's deadline timer and sent to the server as
 * `grpc-timeout`. A stream counts as failed only before its first message: the interceptor reads that message
 * before handing the stream on, and never retries after it. @private
 */
export function retryInterceptor(log: Log, deadlines: Deadlines): Interceptor {
  return (next) => async (req) => {
    const settings = req.contextValues.get(kCallSettings);
    const name = req.method.name;
    // A stream's requests must be replayable: a server-streaming call has exactly one, so keep it.
    const requests = req.stream ? await collect(req.message) : undefined;
    for (;;) {
      const limitMs = attemptTimeoutMs(settings);
      if (limitMs !== undefined) req.header.set("grpc-timeout", grpcTimeout(limitMs));
      const attempt = startAttempt(req.signal, deadlines, settings, limitMs);
      try {
        if (!req.stream) {
          try {
            return await next({ ...req, signal: attempt.signal });
          } finally {
            attempt.end();
          }
        }
        const res = await next({ ...req, signal: attempt.signal, message: createAsyncIterable(requests!) });
        return await withFirstMessage(res as StreamResponse, attempt.end);
      } catch (error) {
        attempt.end();
        if (req.signal.aborted) throw error;
        await sleep(retryDelayOrThrow(error, settings, name, log), req.signal);
        settings.attempt++;
      }
    }
  };
}

/** One attempt's signal: aborted by the call's signal, or with DEADLINE_EXCEEDED when its time limit passes. */
interface Attempt {
  readonly signal: AbortSignal;
  /** Disarms the time limit and unlinks from the call's signal; idempotent. */
  end(): void;
}

function startAttempt(
  callSignal: AbortSignal,
  deadlines: Deadlines,
  settings: CallSettings,
  limitMs: number | undefined,
): Attempt {
  // Without a time limit of its own the call's signal is all an attempt needs.
  if (settings.attemptTimeoutMs === undefined || limitMs === undefined) return { signal: callSignal, end() {} };
  const controller = new AbortController();
  const disarm = armAttempt(deadlines, settings, limitMs, () => controller.abort(ATTEMPT_TIMED_OUT));
  // A call cancelled mid-stream (a consumer that breaks out of its loop) never reaches end(): Connect's stream
  // iterables drop return(), so the call's abort is the last this attempt hears, and must stop its timer too.
  const onCallAbort = () => {
    disarm();
    controller.abort(callSignal.reason);
  };
  if (callSignal.aborted) onCallAbort();
  else callSignal.addEventListener("abort", onCallAbort, { once: true });
  return {
    signal: controller.signal,
    end() {
      disarm();
      callSignal.removeEventListener("abort", onCallAbort);
    },
  };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/**
 * Reads the stream's first message (so that a failure before it can be retried), then hands the stream on whole.
 * `end` runs once the stream is over: read to the end, failed, or abandoned by the reader.
 */
async function withFirstMessage(res: StreamResponse, end: () => void): Promise<StreamResponse> {
  const it = res.message[Symbol.asyncIterator]();
  let first: IteratorResult<unknown> | undefined = await it.next();
  const finish = <T>(r: IteratorResult<T>): IteratorResult<T> => {
    if (r.done === true) end();
    return r;
  };
  const iterator: AsyncIterator<unknown> = {
    next() {
      if (first !== undefined) {
        const r = first;
        first = undefined;
        return Promise.resolve(finish(r));
      }
      return it.next().then(finish, (error: unknown) => {
        end();
        throw error;
      });
    },
    return(value?: unknown) {
      end();
      return it.return
        ? it.return(value).then(() => ({ done: true as const, value }))
        : Promise.resolve({ done: true as const, value });
    },
  };
  return { ...res, message: { [Symbol.asyncIterator]: () => iterator } } as StreamResponse;
}
