// How a ClavataClient runs its calls on its own gRPC channel when nothing else needs Connect's interceptor chain:
// the client's own concerns (auth, client id, deadline, retry) in one pass, with no per-call Headers,
// AbortController or async generator. The rules are the same as on the Connect path (interceptors.ts): the same
// retry decision, the same per-attempt limits, the same headers.

import type { OutgoingHttpHeaders } from "node:http2";
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageShape } from "@bufbuild/protobuf";
import type { ClientCall } from "./call-control.js";
import { ATTEMPT_TIMED_OUT, armAttempt, attemptTimeoutMs, type Deadlines, grpcTimeout } from "./deadlines.js";
import { CLIENT_ID, retryDelayOrThrow, USER_AGENT } from "./interceptors.js";
import type { Log } from "./logging.js";
import type { GrpcCall } from "./transport/grpc-call.js";
import type { GrpcChannel, MethodPlan } from "./transport/grpc-channel.js";

/** How the client runs one call: the fast path here, or Connect's chain (connect-path.ts). @private */
export interface CallRunner {
  /** Runs a unary call to its end; rejects with the call's last error. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): Promise<MessageShape<O>>;
  /** Starts a server-streaming call when first read; `return()` cancels it. */
  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): AsyncIterator<MessageShape<O>>;
}

/** The client's calls straight on its channel. @private */
export class FastPath implements CallRunner {
  readonly #channel: GrpcChannel;
  readonly #authorization: string;
  readonly #log: Log;
  readonly #deadlines: Deadlines;

  constructor(channel: GrpcChannel, apiKey: string, log: Log, deadlines: Deadlines) {
    this.#channel = channel;
    this.#authorization = `Bearer ${apiKey}`;
    this.#log = log;
    this.#deadlines = deadlines;
  }

  /** The headers of one attempt; `limitMs` becomes grpc-timeout. */
  headers(plan: MethodPlan, call: ClientCall, limitMs: number | undefined): OutgoingHttpHeaders {
    const headers = this.#channel.headers(plan);
    const extra = call.headers;
    if (extra !== undefined) {
      for (const name in extra) headers[name.toLowerCase()] = extra[name];
    }
    const theirs = headers["user-agent"];
    headers["user-agent"] = typeof theirs === "string" ? `${USER_AGENT} ${theirs}` : USER_AGENT;
    headers["x-clavata-client"] = CLIENT_ID;
    headers.authorization = this.#authorization;
    if (limitMs !== undefined) headers["grpc-timeout"] = grpcTimeout(limitMs);
    return headers;
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): Promise<MessageShape<O>> {
    const plan = this.#channel.plan(method);
    const request = plan.encode(input);
    const settings = call.settings;
    for (;;) {
      if (call.aborted) throw call.reason;
      const limitMs = attemptTimeoutMs(settings);
      const attempt = this.#channel.start(plan.unary, this.headers(plan, call, limitMs), request);
      call.onAbort = (reason) => attempt.cancel(reason);
      const disarm = armAttempt(this.#deadlines, settings, limitMs, () => attempt.cancel(ATTEMPT_TIMED_OUT));
      try {
        return await attempt.takeResult();
      } catch (error) {
        if (call.aborted) throw error;
        await this.#wait(retryDelayOrThrow(error, settings, method.name, this.#log), call);
        settings.attempt++;
      } finally {
        call.onAbort = undefined;
        disarm();
      }
    }
  }

  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): AsyncIterator<MessageShape<O>> {
    return new FastStream(this, this.#channel, this.#channel.plan(method), input, call);
  }

  /** Retries a stream that failed before its first message, as for a unary call; throws when it must end. */
  async retryOrThrow(error: unknown, call: ClientCall, name: string): Promise<void> {
    if (call.aborted) throw error;
    await this.#wait(retryDelayOrThrow(error, call.settings, name, this.#log), call);
    call.settings.attempt++;
  }

  get deadlines(): Deadlines {
    return this.#deadlines;
  }

  /** Waits `ms` before a retry; the call's abort ends the wait at once. */
  #wait(ms: number, call: ClientCall): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        call.onAbort = undefined;
        resolve();
      }, ms);
      call.onAbort = (reason) => {
        clearTimeout(timer);
        reject(reason);
      };
    });
  }
}

/**
 * A server-streaming call on the fast path: the first `next()` starts it and retries it until its first message
 * arrives (a stream is retried only before that); later ones read on. The attempt's time limit covers the whole
 * stream, and ends with it. `return()` stops whatever runs, also before the first message: the attempt, or the
 * wait before a retry.
 */
class FastStream<I extends DescMessage, O extends DescMessage> implements AsyncIterator<MessageShape<O>> {
  readonly #path: FastPath;
  readonly #channel: GrpcChannel;
  readonly #plan: MethodPlan<I, O>;
  readonly #input: MessageShape<I>;
  readonly #call: ClientCall;
  #attempt: GrpcCall<MessageShape<O>> | undefined;
  #disarm: (() => void) | undefined;
  #over = false;
  /** Set by `return()`: the reader left, so nothing is tried again. */
  #left = false;

  constructor(path: FastPath, channel: GrpcChannel, plan: MethodPlan<I, O>, input: MessageShape<I>, call: ClientCall) {
    this.#path = path;
    this.#channel = channel;
    this.#plan = plan;
    this.#input = input;
    this.#call = call;
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    const attempt = this.#attempt;
    if (attempt === undefined) return this.#start();
    return attempt.next().then(
      (r) => {
        if (r.done === true) this.#end();
        return r;
      },
      (error: unknown) => {
        this.#end();
        throw error;
      },
    );
  }

  return(): Promise<IteratorResult<MessageShape<O>>> {
    this.#left = true;
    // The call's abort hook stops what runs now: the attempt (before its first message too) or the wait before a
    // retry. #end() clears it, so it is taken first.
    const stop = this.#call.onAbort;
    this.#end();
    stop?.(this.#call.reason ?? STREAM_LEFT);
    return Promise.resolve({ done: true, value: undefined });
  }

  async #start(): Promise<IteratorResult<MessageShape<O>>> {
    const call = this.#call;
    const settings = call.settings;
    const request = this.#plan.encode(this.#input);
    for (;;) {
      if (call.aborted) throw call.reason;
      if (this.#left) throw STREAM_LEFT;
      const limitMs = attemptTimeoutMs(settings);
      const attempt = this.#channel.start(this.#plan.stream, this.#path.headers(this.#plan, call, limitMs), request);
      call.onAbort = (reason) => attempt.cancel(reason);
      this.#disarm = armAttempt(this.#path.deadlines, settings, limitMs, () => attempt.cancel(ATTEMPT_TIMED_OUT));
      let first: IteratorResult<MessageShape<O>>;
      try {
        first = await attempt.next();
      } catch (error) {
        this.#end();
        if (this.#left) throw error;
        await this.#path.retryOrThrow(error, call, this.#plan.path.slice(this.#plan.path.lastIndexOf("/") + 1));
        continue;
      }
      this.#attempt = attempt;
      if (first.done === true) this.#end();
      return first;
    }
  }

  #end(): void {
    if (this.#over) return;
    this.#disarm?.();
    this.#disarm = undefined;
    this.#call.onAbort = undefined;
    if (this.#attempt !== undefined) this.#over = true;
  }
}

/** Why a stream its reader left is cancelled; never reaches the reader (ResponseStream ends a pending read instead). */
const STREAM_LEFT = new Error("the stream was left by its reader");
