// The client's transport: gRPC over one pooled HTTP/2 session, and the layer
// that runs the client's interceptors in front of any Connect transport (its
// own or one the caller passed in).

import { EventEmitter } from "node:events";
import type { SecureClientSessionOptions } from "node:http2";
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import {
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { ResolvedClientOptions } from "./client-options.js";

/** What `new Headers()` accepts (the DOM lib type, which this package does not load). */
type HeadersInit_ = ConstructorParameters<typeof Headers>[0];

/** A transport the client made, with the session manager that owns its one HTTP/2 connection. @private */
export interface OwnedTransport {
  readonly transport: Transport;
  readonly sessionManager: Http2SessionManager;
}

/**
 * Makes the client's own transport: the gRPC protocol over one HTTP/2 session (TLS unless `insecure`), kept alive
 * with PINGs as configured. Nothing connects until the first call. @private
 */
export function createOwnedTransport(options: ResolvedClientOptions, interceptors: Interceptor[]): OwnedTransport {
  const nodeOptions: SecureClientSessionOptions = {};
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
  const transport = createGrpcTransport({ baseUrl: options.baseUrl, sessionManager, interceptors });
  return { transport, sessionManager };
}

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
 * the process alive.
 */
function guardSessionErrors(sessionManager: Http2SessionManager): void {
  const machine = sessionManager as unknown as SessionStateMachine;
  const setState = machine.setState;
  if (typeof setState !== "function") return; // a newer connect-node; test/client/crash.test.ts would notice
  machine.setState = function (this: SessionStateMachine, state) {
    const session = state.t === "ready" ? state.conn : undefined;
    if (session instanceof EventEmitter && session.listeners("error").indexOf(ignoreSessionError) < 0) {
      session.on("error", ignoreSessionError);
    }
    setState.call(this, state);
  };
}

function ignoreSessionError(): void {}

/**
 * Wraps a transport the caller supplied so that every call runs through `interceptors` first (outermost first),
 * then through the transport, once per attempt. Deadlines are the interceptors' business (the retry interceptor
 * times each attempt and sends `grpc-timeout`), so the transport is given none.
 * @private
 */
export function withInterceptors(inner: Transport, interceptors: Interceptor[], baseUrl: string): Transport {
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit_ | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      return runUnaryCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) => inner.unary(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
      });
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit_ | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      return runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) =>
          inner.stream(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
      });
    },
  };
}
