// The alternative transport, `transport: "connect-node"`: Connect-node's own gRPC transport over its one pooled
// HTTP/2 session (the client's default before its own transport in grpc-channel.ts), with the client's interceptors.

import { EventEmitter } from "node:events";
import type { SecureClientSessionOptions } from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { ResolvedClientOptions } from "../client-options.js";

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
