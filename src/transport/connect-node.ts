// The alternative transport, `transport: "connect-node"`: Connect-node's own gRPC transport over its one pooled
// HTTP/2 session (the client's default before its own transport in grpc-channel.ts), with the client's interceptors.

import { EventEmitter } from "node:events";
import { type ClientHttp2Stream, constants, type SecureClientSessionOptions } from "node:http2";
import type { Interceptor, StreamResponse, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { causeChain } from "../cause-chain.js";
import type { ResolvedClientOptions } from "../client-options.js";
import { resetError } from "./grpc-status.js";
import { refusePushedStream } from "./session-pool.js";

/** A transport the client made, with the session manager that owns its one HTTP/2 connection. @private */
export interface OwnedTransport {
  readonly transport: Transport;
  readonly sessionManager: Http2SessionManager;
}

/**
 * Makes Connect-node's gRPC transport over one HTTP/2 session (TLS unless `insecure`), kept alive
 * with PINGs as configured. Nothing connects until the first call. @private
 */
export function createConnectNodeTransport(
  options: ResolvedClientOptions,
  interceptors: Interceptor[],
): OwnedTransport {
  // The gateway never pushes; a pushed stream nobody listens to would emit an unhandled 'error' and end the process,
  // so a PUSH_PROMISE is refused as the protocol error it then is (as on the client's own transport).
  const nodeOptions: SecureClientSessionOptions = { settings: { enablePush: false } };
  if (options.tls?.ca !== undefined) nodeOptions.ca = options.tls.ca;
  if (options.tls?.cert !== undefined) nodeOptions.cert = options.tls.cert;
  if (options.tls?.key !== undefined) nodeOptions.key = options.tls.key;
  if (options.tls?.servername !== undefined) nodeOptions.servername = options.tls.servername;
  const sessionManager = new Http2SessionManager(
    options.baseUrl,
    {
      pingIntervalMs: options.keepalive.pingIntervalMs,
      pingTimeoutMs: options.keepalive.pingTimeoutMs,
      pingIdleConnection: options.keepalive.pingIdleConnection,
      idleConnectionTimeoutMs: options.keepalive.idleConnectionTimeoutMs,
    },
    nodeOptions,
  );
  guardSessionErrors(sessionManager);
  // The interceptors run inside the transport's own call, so a call costs one pass through Connect's machinery.
  const transport = createGrpcTransport({
    baseUrl: options.baseUrl,
    sessionManager,
    // Innermost, in this order: a call already aborted stops before Connect-node opens a stream for it, and the
    // stream of one that goes on is tied to its signal.
    interceptors: [...interceptors, streamResets, refuseAborted, releaseStreamsOnAbort(sessionManager)],
    readMaxBytes: options.maxReceiveMessageBytes,
  });
  return { transport, sessionManager };
}

/** Node's message for a stream closed by RST_STREAM (sent by the server, or by Node for a GOAWAY's refused streams). */
const STREAM_RESET = /^Stream closed with error code (NGHTTP2_[A-Z0-9_]+)$/;

/**
 * The error of a stream reset, as the client's own transport names it (grpc-status.ts), in place of the INTERNAL
 * "Stream closed with error code …" Connect-node reports for every code; anything else unchanged. So REFUSED_STREAM
 * (and the streams above a GOAWAY's last stream id, which Node closes with it) is retried as unprocessed on both
 * transports. Connect-node does not say whether the answer had begun, so a server that answers and then refuses is
 * taken at its word here; the client's own transport knows better.
 */
function asStreamReset(error: unknown): unknown {
  for (const e of causeChain(error)) {
    if ((e as { code?: unknown }).code !== "ERR_HTTP2_STREAM_ERROR") continue;
    const name = STREAM_RESET.exec(e.message)?.[1];
    const rstCode = name === undefined ? undefined : (constants as unknown as Record<string, unknown>)[name];
    if (typeof rstCode === "number") return resetError(rstCode);
  }
  return error;
}

/** Innermost of the interceptors: names stream resets (asStreamReset), also those that end a stream mid-way. */
const streamResets: Interceptor = (next) => async (req) => {
  let res: Awaited<ReturnType<typeof next>>;
  try {
    res = await next(req);
  } catch (error) {
    throw asStreamReset(error);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (error) {
        throw asStreamReset(error);
      }
    })(),
  } as StreamResponse;
};

/**
 * Fails a call whose signal is already aborted before anything is sent. Connect-node opens the stream (HEADERS on
 * the wire, and so a call the server sees and may bill) before it looks at the signal; the client's own transport
 * sends nothing.
 */
const refuseAborted: Interceptor = (next) => (req) => {
  if (req.signal.aborted) return Promise.reject(req.signal.reason);
  return next(req);
};

/**
 * Ties each call's HTTP/2 stream to the call's signal, so that a call that ends early (its reader left, its
 * deadline passed, close()) lets go of its stream. Connect-node resets an aborted call's stream only while it is
 * open on the wire, and leaves one the server has finished alone: a stream whose reader had stopped reading then
 * keeps its unread answers buffered and never ends, holding that memory, its place in the session manager's
 * stream count, and so the connection (and the process), forever. On abort the stream is now reset (CANCEL) if
 * still open, and destroyed.
 *
 * Connect-node makes the stream from the innermost interceptor's `next(req)` synchronously (through its HTTP client
 * and the session manager's `request()`), so the interceptor returned here hands the signal to the session
 * manager's `request()` for that one call. Should a later Connect-node not call it then, no stream is tied to a
 * signal and streams are left as Connect-node leaves them (test/client/stream-lifecycle.test.ts would notice).
 */
function releaseStreamsOnAbort(sessionManager: Http2SessionManager): Interceptor {
  let opening: AbortSignal | undefined;
  const request = sessionManager.request;
  sessionManager.request = function (this: Http2SessionManager, ...args: Parameters<typeof request>) {
    const signal = opening;
    opening = undefined;
    const stream = request.apply(this, args);
    if (signal !== undefined) stream.then((s) => releaseOnAbort(s, signal), ignoreRequestError);
    return stream;
  };
  return (next) => (req) => {
    opening = req.signal;
    try {
      return next(req);
    } finally {
      opening = undefined;
    }
  };
}

/** Resets (if still open) and destroys `stream` when `signal` aborts; forgets the signal when the stream closes. */
function releaseOnAbort(stream: ClientHttp2Stream, signal: AbortSignal): void {
  const release = () => {
    if (stream.destroyed) return;
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    stream.destroy();
  };
  if (signal.aborted) {
    release();
    return;
  }
  signal.addEventListener("abort", release, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", release));
}

/** A failed `request()` reaches the call through Connect-node's own handler; nothing is left to release. */
function ignoreRequestError(): void {}

/** What the guard needs of the session manager's private state machine. */
interface SessionStateMachine {
  setState(state: { t: string; conn?: unknown }): void;
}

/**
 * Keeps an `'error'` listener on every HTTP/2 session the manager makes ready, for the session's whole life.
 *
 * Connect-node's manager removes its own listener when it moves on from a session, for example when the next call
 * finds the session broken and opens a new one. Node can emit that old session's last `'error'` after that (a peer
 * that is not HTTP/2, random bytes, a CONTINUATION flood), and an `'error'` event with no listener throws and ends
 * the host process. The failure itself still reaches the calls through their streams, so the listener only keeps
 * the process alive. A stream the server pushes before it acknowledged the client's SETTINGS (push disabled) is
 * refused at once, for the same reason.
 */
function guardSessionErrors(sessionManager: Http2SessionManager): void {
  const machine = sessionManager as unknown as SessionStateMachine;
  const setState = machine.setState;
  if (typeof setState !== "function") return; // a newer connect-node; test/client/crash.test.ts would notice
  machine.setState = function (this: SessionStateMachine, state) {
    const session = state.t === "ready" ? state.conn : undefined;
    if (session instanceof EventEmitter && session.listeners("error").indexOf(ignoreSessionError) < 0) {
      session.on("error", ignoreSessionError);
      session.on("stream", refusePushedStream);
    }
    setState.call(this, state);
  };
}

function ignoreSessionError(): void {}
