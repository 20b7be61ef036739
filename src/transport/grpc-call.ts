// One gRPC call on one HTTP/2 stream: sends the request message, reads the response messages with backpressure,
// and settles with the status the server sent, or with the transport failure that ended the stream. Unary calls
// resolve `result`; server-streaming calls are read through `next()`. `cancel()` resets the stream with
// RST_STREAM CANCEL at once, and lets go of it.

import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { TransportFailure } from "../errors.js";
import { encodeFrame, FrameReader } from "./grpc-frames.js";
import { codeFromHttpStatus, isGrpcContentType, resetError, statusError, transportError } from "./grpc-status.js";
import { failureOf, type PooledSession, type SessionPool } from "./session-pool.js";

/** Messages a stream buffers for a slow reader before it pauses the HTTP/2 stream (and so the server). */
const HIGH_WATER = 32;
/** Buffered messages below which a paused stream resumes. */
const LOW_WATER = 8;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** What a call needs besides its request. @internal */
export interface CallSpec<O> {
  readonly pool: SessionPool;
  /** Decodes one response message; throws for bytes that are not one. */
  readonly decode: (bytes: Uint8Array) => O;
  /** The response message's type name, for messages. */
  readonly typeName: string;
  readonly maxReceiveBytes: number;
  /** Unary: exactly one response message, delivered through `result`. */
  readonly unary: boolean;
}

/** One call in flight. @internal */
export class GrpcCall<O> implements AsyncIterator<O> {
  /** The response headers, once they arrived. */
  header: http2.IncomingHttpHeaders | undefined;
  /** The response trailers (the headers, for a trailers-only response), once they arrived. */
  trailer: http2.IncomingHttpHeaders | undefined;

  readonly #spec: CallSpec<O>;
  readonly #reader: FrameReader;
  #pooled: PooledSession | undefined;
  #session: http2.ClientHttp2Session | undefined;
  #stream: http2.ClientHttp2Stream | undefined;
  #queue: O[] = [];
  #head = 0;
  #received = 0;
  #waiter: { resolve(r: IteratorResult<O>): void; reject(e: unknown): void } | undefined;
  #result: Promise<O> | undefined;
  #resolveResult: ((message: O) => void) | undefined;
  #rejectResult: ((error: unknown) => void) | undefined;
  /** Set once the call is over: DONE for success, else the error. */
  #outcome: { error: unknown } | typeof DONE | undefined;
  #paused = false;
  #streamError: unknown;
  #released = false;
  #reopened = false;

  /** Starts the call: takes a connection from the pool and sends `headers` and the encoded `request`. */
  constructor(spec: CallSpec<O>, headers: http2.OutgoingHttpHeaders, request: Uint8Array) {
    this.#spec = spec;
    this.#reader = new FrameReader(spec.maxReceiveBytes, (bytes) => this.#onMessage(bytes));
    if (spec.unary) {
      this.#result = new Promise<O>((resolve, reject) => {
        this.#resolveResult = resolve;
        this.#rejectResult = reject;
      });
    }
    this.#acquire(headers, request);
  }

  /** Takes a connection from the pool and opens the stream on it (once the proxy tunnel is up, if any). */
  #acquire(headers: http2.OutgoingHttpHeaders, request: Uint8Array): void {
    const spec = this.#spec;
    let pooled: PooledSession;
    try {
      pooled = spec.pool.acquire();
    } catch (error) {
      this.#settle({ error: transportError(failureOf(error, spec.pool.where)) });
      return;
    }
    this.#pooled = pooled;
    if (pooled.session !== undefined) this.#open(pooled.session, headers, request);
    else {
      pooled.ready!.then(
        (session) => this.#open(session, headers, request),
        (error: unknown) => {
          this.#release();
          this.#settle({ error: transportError(failureOf(error, spec.pool.where)) });
        },
      );
    }
  }

  /**
   * Unary calls: the one response message, or the call's error. Taken once: the call keeps no reference to its
   * answer after it settled and this was taken, so whatever still holds the call (Node keeps a closed stream's
   * object until a full collection) does not keep a large response alive through every minor collection.
   */
  takeResult(): Promise<O> {
    const result = this.#result;
    if (result === undefined) throw new Error("GrpcCall.takeResult: not a unary call, or already taken");
    this.#result = undefined;
    return result;
  }

  /** Ends the call now with `reason` as its error, resetting the stream (RST_STREAM CANCEL) if it is open. */
  cancel(reason: unknown): void {
    if (this.#outcome !== undefined) return;
    this.#queue = [];
    this.#head = 0;
    this.#settle({ error: reason });
    // A call still waiting for its connection (a proxy tunnel) lets go of it now, not when the tunnel opens.
    if (this.#stream === undefined) this.#release();
    else this.#drop();
  }

  /** The next response message; throws the call's error after the messages that came before it. */
  next(): Promise<IteratorResult<O>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++]!;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      if (this.#paused && this.#queue.length - this.#head <= LOW_WATER) {
        this.#paused = false;
        this.#stream?.resume();
      }
      return Promise.resolve({ done: false, value });
    }
    const outcome = this.#outcome;
    if (outcome === DONE) return Promise.resolve(DONE);
    if (outcome !== undefined) return Promise.reject((outcome as { error: unknown }).error);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stops reading: cancels the call if it still runs. */
  return(): Promise<IteratorResult<O>> {
    this.cancel(new ConnectError("the stream was abandoned by its reader", Code.Canceled));
    return Promise.resolve(DONE);
  }

  #open(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, request: Uint8Array): void {
    if (this.#outcome !== undefined) {
      this.#release();
      return;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (error) {
      // The connection closed between the pool's check and now: nothing was sent, so try one fresh connection.
      this.#pooled!.usable = false;
      this.#release();
      if (!this.#reopened) {
        this.#reopened = true;
        this.#released = false;
        this.#acquire(headers, request);
        return;
      }
      this.#settle({ error: transportError(failureOf(error, this.#spec.pool.where)) });
      return;
    }
    this.#stream = stream;
    this.#session = session;
    // Shared listeners that find the call on the stream: five closures per call add up on short calls.
    (stream as CallStream).call = this as GrpcCall<unknown>;
    stream.on("response", GrpcCall.#response);
    stream.on("data", GrpcCall.#data);
    stream.on("trailers", GrpcCall.#trailers);
    stream.on("error", GrpcCall.#error);
    stream.on("close", GrpcCall.#close);
    const frame = encodeFrame(request);
    if (Array.isArray(frame)) {
      stream.write(frame[0]);
      stream.end(frame[1]);
    } else stream.end(frame);
  }

  static #response(this: CallStream, headers: http2.IncomingHttpHeaders, flags: number): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    const call = this.call;
    if (call !== undefined) call.#onResponse(headers, flags);
  }

  static #data(this: CallStream, chunk: Buffer): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    const call = this.call;
    if (call !== undefined) call.#onData(chunk);
  }

  static #trailers(this: CallStream, trailers: http2.IncomingHttpHeaders): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    if (this.call !== undefined) this.call.trailer = trailers;
  }

  static #error(this: CallStream, error: unknown): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    if (this.call !== undefined) this.call.#streamError ??= error;
  }

  static #close(this: CallStream): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    const call = this.call;
    // 'close' is a stream's last event. Node's stream object outlives it until a full garbage collection, and what
    // it still points to survives every minor collection until then (measured with a bare node:http2 client), so
    // the stream lets go of the call here.
    // biome-ignore lint/complexity/noThisInStatic: Node calls a listener with the stream as `this`.
    this.call = undefined;
    if (call !== undefined) call.#onClose();
  }

  #onResponse(headers: http2.IncomingHttpHeaders, flags: number): void {
    this.header = headers;
    if (headers["grpc-status"] !== undefined && (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only: the status came in the headers, and the stream ends with them. A grpc-status in headers
      // that do not end the stream is not the call's status (as for grpc-js): what follows may still fail, and a
      // stream cut off after it must not read as OK.
      this.trailer = headers;
      return;
    }
    const status = Number(headers[":status"]);
    const type = headers["content-type"];
    const where = this.#spec.pool.where;
    if (status !== 200) {
      this.#fail(
        transportError(
          new TransportFailure(
            "not-grpc",
            `${where} answered HTTP ${String(status)}${type ? ` (${type})` : ""} instead of gRPC`,
          ),
          codeFromHttpStatus(status),
          headers,
        ),
      );
    } else if (!isGrpcContentType(type)) {
      this.#fail(
        transportError(
          new TransportFailure(
            "not-grpc",
            `${where} answered with content-type ${type ? `"${type}"` : "none"} instead of application/grpc; ` +
              "it is not a gRPC endpoint",
          ),
          Code.Unknown,
          headers,
        ),
      );
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#outcome !== undefined) return;
    const failure = this.#reader.push(chunk);
    if (failure !== undefined) this.#fail(transportError(failure));
  }

  #onMessage(bytes: Uint8Array): void {
    if (this.#outcome !== undefined) return;
    let message: O;
    try {
      // A plain Uint8Array view (no copy) of Node's Buffer, so that bytes fields and unknown fields decode to what
      // they are with any other transport: Uint8Array, not Buffer.
      message = this.#spec.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (error) {
      this.#fail(
        transportError(
          new TransportFailure(
            "malformed-response",
            `the server sent a message that is not a valid ${this.#spec.typeName} (${(error as Error).message})`,
            { cause: error },
          ),
        ),
      );
      return;
    }
    this.#received++;
    if (this.#spec.unary) {
      if (this.#received === 1) this.#queue.push(message);
      else {
        this.#fail(
          transportError(
            new TransportFailure("malformed-response", "the server sent more than one message for a unary call"),
          ),
        );
      }
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: message });
      return;
    }
    this.#queue.push(message);
    if (!this.#paused && this.#queue.length - this.#head >= HIGH_WATER) {
      this.#paused = true;
      this.#stream?.pause();
    }
  }

  /** Ends the call with `error` and resets the stream. */
  #fail(error: unknown): void {
    if (this.#outcome !== undefined) return;
    this.#settle({ error });
    this.#drop();
  }

  /**
   * Lets go of the stream of a call that is over before its stream: resets it (RST_STREAM CANCEL) if it is still
   * open on the wire, and destroys it. A stream paused for a slow reader never ends while its data is buffered, even
   * once it is closed on the wire, so without the destroy it would keep that data, never emit 'close', and hold its
   * connection's slot (and the connection, and the process) forever.
   */
  #drop(): void {
    const stream = this.#stream;
    if (stream === undefined || stream.destroyed) return;
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    // The RST_STREAM queued above still goes out: Node flushes it when it destroys the stream.
    stream.destroy();
  }

  #onClose(): void {
    this.#release();
    if (this.#outcome !== undefined) {
      // A call ended before its stream (cancelled, or failed) lets go of it: a destroyed stream still holds the data
      // it had buffered, and the reader may hold the call for long.
      this.#stream = undefined;
      return;
    }
    // When the connection itself failed, Node may close its streams before it reports why (the session's 'error'
    // comes on a later tick): give it that tick, so the call fails with the reason, not just "closed".
    if (this.trailer === undefined && this.#streamError === undefined && this.#pooled!.failure === undefined) {
      if (this.#session!.destroyed) {
        setImmediate(() => this.#finish());
        return;
      }
    }
    this.#finish();
  }

  /** Settles a call whose stream has closed, from what arrived (or did not). */
  #finish(): void {
    if (this.#outcome !== undefined) return;
    const stream = this.#stream!;
    const pooled = this.#pooled!;
    const where = this.#spec.pool.where;
    const trailer = this.trailer;
    if (trailer !== undefined) {
      const raw = trailer["grpc-status"];
      if (typeof raw !== "string") {
        this.#settle({ error: malformed("the server ended the call without a grpc-status", trailer) });
        return;
      }
      const error = statusError(raw, trailer);
      if (error !== undefined) this.#settle({ error });
      else if (this.#reader.partial) {
        this.#settle({ error: malformed("the server's last message was cut short (a truncated frame)", trailer) });
      } else if (this.#spec.unary && this.#received === 0) {
        this.#settle({ error: malformed("the server ended a unary call with OK but sent no message", trailer) });
      } else this.#settle(DONE);
      return;
    }
    // Nothing of the call reached the server, or the server's GOAWAY said it never processed this stream.
    const unprocessed = this.header === undefined && (stream.id === undefined || stream.id > pooled.lastStreamId);
    const rstCode = stream.rstCode;
    const streamError = this.#streamError as { code?: unknown } | undefined;
    if (pooled.failure === undefined && streamError === undefined && this.#session!.destroyed) {
      // The connection went away under the stream (Node then closes its streams with CANCEL of its own).
      const lost = new TransportFailure(
        "connection-lost",
        `the connection to ${where} closed while the call was running`,
      );
      this.#settle({ error: transportError(unprocessed ? unprocessedCopy(lost) : lost) });
      return;
    }
    if (
      pooled.failure === undefined &&
      rstCode !== undefined &&
      rstCode !== http2.constants.NGHTTP2_NO_ERROR &&
      (streamError === undefined || streamError.code === "ERR_HTTP2_STREAM_ERROR")
    ) {
      this.#settle({
        error: unprocessed ? refused(where) : resetError(rstCode, this.header !== undefined || this.#received > 0),
      });
      return;
    }
    if (streamError !== undefined || pooled.failure !== undefined) {
      let failure = pooled.failure ?? failureOf(streamError, where);
      if (unprocessed && !failure.unprocessed && failure.kind === "connection-lost") failure = unprocessedCopy(failure);
      this.#settle({ error: transportError(failure) });
      return;
    }
    if (unprocessed) {
      this.#settle({ error: refused(where) });
      return;
    }
    this.#settle({
      error:
        this.header === undefined
          ? transportError(new TransportFailure("connection-lost", `the stream to ${where} ended without an answer`))
          : malformed(
              this.#reader.partial
                ? "the server's last message was cut short (a truncated frame) and no grpc-status followed"
                : "the server ended the call without a grpc-status",
              this.header,
            ),
    });
  }

  #release(): void {
    if (this.#released || this.#pooled === undefined) return;
    this.#released = true;
    this.#pooled.release();
  }

  #settle(outcome: { error: unknown } | typeof DONE): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    if (this.#spec.unary) {
      if (outcome === DONE) {
        this.#resolveResult!(this.#queue[0]!);
        this.#queue = [];
      } else this.#rejectResult!((outcome as { error: unknown }).error);
      this.#resolveResult = undefined;
      this.#rejectResult = undefined;
      return;
    }
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    if (outcome === DONE) waiter.resolve(DONE);
    else waiter.reject((outcome as { error: unknown }).error);
  }
}

/** The same failure, known to have left the call unprocessed. */
function unprocessedCopy(failure: TransportFailure): TransportFailure {
  return new TransportFailure(failure.kind, `${failure.message}; the call was not processed`, {
    unprocessed: true,
    cause: failure,
  });
}

/** A stream that knows its call, for the shared listeners. */
interface CallStream extends http2.ClientHttp2Stream {
  /** The call, until the stream's 'close'. */
  call: GrpcCall<unknown> | undefined;
}

function refused(where: string): ConnectError {
  return transportError(
    new TransportFailure("stream-refused", `${where} closed the connection before it processed the call`, {
      unprocessed: true,
    }),
  );
}

function malformed(message: string, metadata: http2.IncomingHttpHeaders): ConnectError {
  return transportError(new TransportFailure("malformed-response", message), undefined, metadata);
}
