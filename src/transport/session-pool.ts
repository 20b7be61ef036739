// The HTTP/2 connections of one client: opened lazily, several when the server limits the streams per connection,
// kept alive with PINGs while calls are open, closed when idle, replaced after a GOAWAY or a failure. A connection
// with no call in flight holds no ref on the event loop, so a process whose work is done exits by itself. Every
// 'error' a connection or its socket can emit has a listener: nothing a peer sends can crash the host process.

import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { ClavataKeepaliveOptions, ClavataTlsOptions } from "../client-options.js";
import { TransportFailure, tlsHint } from "../errors.js";
import { h2ErrorName } from "./grpc-status.js";
import { openTunnel } from "./proxy.js";

/** Where and how the pool connects. @internal */
export interface SessionPoolOptions {
  /** The gateway's origin: https: for TLS, http: for plaintext HTTP/2 (h2c). */
  readonly url: URL;
  /** TLS settings (https: only). */
  readonly tls: ClavataTlsOptions | undefined;
  readonly keepalive: Required<ClavataKeepaliveOptions>;
  /** An HTTP CONNECT proxy to tunnel through, or undefined to connect directly. */
  readonly proxy: URL | undefined;
}

/**
 * Streams the first connection may carry before the server's SETTINGS say otherwise (Node's own assumption too).
 * Later connections start from the limit the server's last SETTINGS gave, so that a burst of calls on a new
 * connection does not outrun a small limit before the SETTINGS arrive (and get refused).
 */
const INITIAL_MAX_STREAMS = 100;
/** The receive window of a connection: large enough that flow control does not pace big answers on fast links. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;

// Error codes of a connection that could not be opened at all: no request byte was sent.
const connectCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);

/**
 * The TransportFailure for an error Node reported on a connection or a stream of `where` ("host:port"). @internal
 */
export function failureOf(error: unknown, where: string): TransportFailure {
  if (error instanceof TransportFailure) return error;
  const e = error as { code?: unknown; message?: unknown; syscall?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : String(error);
  if (connectCodes.has(code) || e.syscall === "connect" || e.syscall === "getaddrinfo") {
    return new TransportFailure(
      "connect-failed",
      `could not reach the gateway: connecting to ${where} failed (${code || message}); check the host, the port ` +
        "and the network",
      {
        unprocessed: true,
        cause: error,
      },
    );
  }
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|UNKNOWN_CA|BAD_CERTIFICATE/.test(code)) {
    return new TransportFailure(
      "tls-failed",
      `the TLS connection failed (${code}): ${where} did not accept this client; if it asks for a client ` +
        "certificate (mutual TLS), pass tls.cert and tls.key",
      { unprocessed: true, cause: error },
    );
  }
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
    return new TransportFailure("tls-failed", `the TLS connection failed (${code}) to ${where}; ${tlsHint(code)}`, {
      unprocessed: true,
      cause: error,
    });
  }
  switch (code) {
    case "ERR_HTTP2_ERROR":
    case "ERR_HTTP2_HEADERS_AFTER_RESPOND":
    case "ERR_HTTP2_INVALID_HEADER_VALUE":
      return new TransportFailure(
        "not-http2",
        `${where} broke the HTTP/2 protocol (${message}): it does not speak HTTP/2 properly, or is not a gRPC ` +
          "endpoint (an HTTP/1.1 server, a TLS port reached in plaintext, …); check the host and port",
        { cause: error },
      );
    case "ERR_HTTP2_SESSION_ERROR":
      return new TransportFailure("connection-lost", `${where} closed the connection with an error (${message})`, {
        cause: error,
      });
    case "ERR_HTTP2_GOAWAY_SESSION":
    case "ERR_HTTP2_INVALID_SESSION":
      return new TransportFailure("stream-refused", `the connection to ${where} was closing; the call was not sent`, {
        unprocessed: true,
        cause: error,
      });
    default:
      return new TransportFailure("connection-lost", `the connection to ${where} failed (${code || message})`, {
        cause: error,
      });
  }
}

function ignore(): void {}

/**
 * Refuses a stream the server pushed. The client disables push in its SETTINGS, but until the server acknowledges
 * them Node accepts a PUSH_PROMISE. Node 22 to 26 also refuse a pushed stream when the session has no 'stream'
 * listener (test/fixtures/hostile-peer-child.mjs, "push-promise-early", passes without this one); the refusal is
 * made here so that it does not rest on that, with an 'error' listener so the stream can never raise an unhandled
 * one. @internal
 */
export function refusePushedStream(stream: http2.ClientHttp2Stream): void {
  stream.on("error", ignore);
  stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
}

/** One HTTP/2 connection of the pool, with its count of calls in flight. @internal */
export class PooledSession {
  /** The session; undefined while a proxy tunnel is being opened (then `ready` settles when it is). */
  session: http2.ClientHttp2Session | undefined;
  /** Settles when the session exists (proxied connections only). */
  ready: Promise<http2.ClientHttp2Session> | undefined;
  /** Calls in flight, including those waiting for the tunnel. */
  active = 0;
  /** Whether new calls may use it (false after GOAWAY, an error, or close). */
  usable = true;
  /** The server's limit of concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreams: number;
  /** The last stream id the server's GOAWAY said it processed; streams above it were not processed. */
  lastStreamId = Number.POSITIVE_INFINITY;
  /** Why the connection failed, once it has. */
  failure: TransportFailure | undefined;
  readonly #pool: SessionPool;
  #idleSince = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pingOutstanding = false;
  /** Abandons the proxy tunnel being opened (proxied connections, until `ready` settles). */
  #abortTunnel: ((failure: TransportFailure) => void) | undefined;

  constructor(pool: SessionPool) {
    this.#pool = pool;
    this.maxStreams = pool.learnedMaxStreams;
  }

  /** Sets how a proxy tunnel still being opened is abandoned; cleared once `ready` settles. */
  set tunnelAbort(abort: ((failure: TransportFailure) => void) | undefined) {
    this.#abortTunnel = abort;
  }

  /**
   * Binds the session and the socket it runs on: listeners for everything they can emit, keepalive, and the window.
   * The socket is ours, and is destroyed with the session: Node's HTTP/2 client can leave a TLS socket open after
   * the session ended (a TLS 1.3 alert after the handshake, such as "certificate required").
   */
  attach(session: http2.ClientHttp2Session, socket: net.Socket): void {
    this.session = session;
    session.once("close", () => socket.destroy());
    const where = this.#pool.where;
    session.on("error", (error: unknown) => {
      this.usable = false;
      this.failure ??= failureOf(error, where);
    });
    // Node does not always pass a socket's error on to the session (a TLS alert or a failed certificate check
    // after the handshake): keep it here, as the reason the connection failed.
    socket.on("error", (error: unknown) => {
      this.usable = false;
      this.failure ??= failureOf(error, where);
      // The connection is dead: end the session and the socket now.
      if (!session.destroyed) session.destroy();
      socket.destroy();
    });
    session.on("frameError", ignore);
    session.on("stream", refusePushedStream);
    session.on("goaway", (code: number, lastStreamId: number) => {
      this.usable = false;
      this.lastStreamId = lastStreamId;
      if (code !== http2.constants.NGHTTP2_NO_ERROR) {
        this.failure ??= new TransportFailure(
          "connection-lost",
          `${where} closed the connection (GOAWAY ${h2ErrorName(code)})`,
        );
      }
    });
    session.on("remoteSettings", (settings: http2.Settings) => {
      this.maxStreams = settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
      this.#pool.learnedMaxStreams = this.maxStreams;
    });
    session.once("connect", () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW);
      } catch {}
    });
    session.once("close", () => {
      this.usable = false;
      this.#stopTimers();
      this.#pool.forget(this);
    });
    const { pingIntervalMs } = this.#pool.keepalive;
    if (Number.isFinite(pingIntervalMs)) {
      this.#pingTimer = setInterval(() => this.#ping(), pingIntervalMs);
      this.#pingTimer.unref();
    }
    if (this.active === 0) session.unref();
  }

  /** Counts a call in; the first call refs the connection so the process waits for it. */
  take(): void {
    if (this.active++ === 0) this.session?.ref();
  }

  /** Counts a call out; the last one unrefs the connection and starts its idle clock. */
  release(): void {
    if (--this.active > 0) return;
    const session = this.session;
    if (session === undefined) {
      // Every call that waited for the proxy tunnel has gone (timed out, cancelled): stop opening it, so a proxy that
      // never answers holds neither the process nor the next call.
      this.#abandonTunnel(
        new TransportFailure("proxy-failed", "the proxy tunnel was abandoned: no call waits for it any more", {
          unprocessed: true,
        }),
      );
      return;
    }
    if (session.destroyed) return;
    session.unref();
    this.#idleSince = Date.now();
    const idleMs = this.#pool.keepalive.idleConnectionTimeoutMs;
    // One timer per idle period, not per call: it re-arms for the remainder if calls came and went meanwhile.
    if (this.#idleTimer === undefined && Number.isFinite(idleMs)) this.#armIdle(idleMs);
  }

  /** Ends the connection at once; its calls fail with `failure`. */
  destroy(failure: TransportFailure): void {
    this.usable = false;
    this.failure ??= failure;
    this.#stopTimers();
    this.session?.destroy();
    this.#abandonTunnel(failure);
  }

  #abandonTunnel(failure: TransportFailure): void {
    const abort = this.#abortTunnel;
    if (abort === undefined) return;
    this.#abortTunnel = undefined;
    this.usable = false;
    this.#pool.forget(this);
    abort(failure);
  }

  #armIdle(ms: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.active > 0) return;
      const left = this.#idleSince + this.#pool.keepalive.idleConnectionTimeoutMs - Date.now();
      if (left > 0) this.#armIdle(left);
      else {
        this.usable = false;
        this.session?.close();
      }
    }, ms);
    this.#idleTimer.unref();
  }

  #ping(): void {
    const session = this.session;
    if (session === undefined || session.destroyed || this.#pingOutstanding) return;
    if (this.active === 0 && !this.#pool.keepalive.pingIdleConnection) return;
    this.#pingOutstanding = true;
    const timeout = setTimeout(() => {
      this.destroy(
        new TransportFailure(
          "keepalive-timeout",
          `${this.#pool.where} did not answer a keepalive PING within ${String(this.#pool.keepalive.pingTimeoutMs)} ms`,
        ),
      );
    }, this.#pool.keepalive.pingTimeoutMs);
    timeout.unref();
    try {
      session.ping(() => {
        this.#pingOutstanding = false;
        clearTimeout(timeout);
      });
    } catch {
      this.#pingOutstanding = false;
      clearTimeout(timeout);
    }
  }

  #stopTimers(): void {
    clearTimeout(this.#idleTimer);
    clearInterval(this.#pingTimer);
    this.#idleTimer = undefined;
    this.#pingTimer = undefined;
  }
}

/** The connections of one client to one gateway. @internal */
export class SessionPool {
  readonly keepalive: Required<ClavataKeepaliveOptions>;
  /** "host:port" of the gateway, for messages. */
  readonly where: string;
  readonly #options: SessionPoolOptions;
  readonly #sessions: PooledSession[] = [];
  #closed: TransportFailure | undefined;
  /** The stream limit of the server's last SETTINGS, which a new connection assumes until its own arrive. */
  learnedMaxStreams = INITIAL_MAX_STREAMS;

  constructor(options: SessionPoolOptions) {
    this.#options = options;
    this.keepalive = options.keepalive;
    this.where = options.url.host;
  }

  /** The number of open connections. */
  get size(): number {
    return this.#sessions.length;
  }

  /**
   * A connection with room for one more stream, counted in (call `release` when the stream ends): the first usable
   * one below the server's stream limit, else a new one. Throws the close failure on a closed pool.
   */
  acquire(): PooledSession {
    if (this.#closed !== undefined) throw this.#closed;
    for (let i = 0; i < this.#sessions.length; i++) {
      const pooled = this.#sessions[i]!;
      // Node can destroy a session without emitting 'close' (a TLS alert after the handshake): drop it here.
      if (pooled.session?.destroyed === true) {
        pooled.usable = false;
        this.#sessions.splice(i--, 1);
        continue;
      }
      if (pooled.usable && pooled.active < pooled.maxStreams) {
        pooled.take();
        return pooled;
      }
    }
    const pooled = this.#open();
    pooled.take();
    return pooled;
  }

  /** Drops a connection that closed. @internal */
  forget(pooled: PooledSession): void {
    const i = this.#sessions.indexOf(pooled);
    if (i >= 0) this.#sessions.splice(i, 1);
  }

  /** Ends every connection at once (their calls fail with `failure`); later `acquire` calls throw it. */
  close(failure: TransportFailure): void {
    this.#closed = failure;
    for (const pooled of [...this.#sessions]) pooled.destroy(failure);
    this.#sessions.length = 0;
  }

  #open(): PooledSession {
    const pooled = new PooledSession(this);
    this.#sessions.push(pooled);
    const { url, proxy } = this.#options;
    if (proxy === undefined) {
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const socket =
        url.protocol === "https:"
          ? tls.connect({ ...this.#tlsOptions(), host, port, ALPNProtocols: ["h2"] })
          : net.connect({ host, port });
      pooled.attach(http2.connect(url.origin, { ...this.#connectOptions(), createConnection: () => socket }), socket);
      return pooled;
    }
    const authority = `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
    const abandon = new AbortController();
    pooled.tunnelAbort = (failure) => abandon.abort(failure);
    pooled.ready = openTunnel(proxy, authority, abandon.signal).then(
      (socket) => {
        pooled.tunnelAbort = undefined;
        socket.on("error", ignore);
        if (!pooled.usable) {
          socket.destroy();
          throw (
            pooled.failure ?? new TransportFailure("connection-lost", "the client was closed", { unprocessed: true })
          );
        }
        const connection: net.Socket =
          url.protocol === "https:" ? tls.connect({ ...this.#tlsOptions(), socket, ALPNProtocols: ["h2"] }) : socket;
        connection.on("error", ignore);
        const session = http2.connect(url.origin, { ...this.#connectOptions(), createConnection: () => connection });
        pooled.attach(session, connection);
        return session;
      },
      (error: unknown) => {
        pooled.tunnelAbort = undefined;
        pooled.usable = false;
        this.forget(pooled);
        throw failureOf(error, this.where);
      },
    );
    // A call awaits `ready`; this keeps a tunnel that failed before any call awaited it from being unhandled.
    pooled.ready.catch(ignore);
    return pooled;
  }

  #tlsOptions(): tls.ConnectionOptions {
    const { url, tls: t } = this.#options;
    const options: tls.ConnectionOptions = {};
    if (t?.ca !== undefined) options.ca = t.ca;
    if (t?.cert !== undefined) options.cert = t.cert;
    if (t?.key !== undefined) options.key = t.key;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    // SNI carries names only, never IP addresses.
    const servername = t?.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);
    if (servername !== undefined) options.servername = servername;
    if (t?.servername !== undefined) {
      // Verify the certificate against the given name instead of the host.
      options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(t.servername!, cert);
    }
    return options;
  }

  #connectOptions(): http2.SecureClientSessionOptions {
    return {
      ...(this.#options.url.protocol === "https:" ? this.#tlsOptions() : {}),
      settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
    };
  }
}
