// The SDK's errors. Every failure a ClavataClient surfaces is a ClavataError
// subclass named by what it means, and every one of them is made by
// toClavataError() below, the one place where Connect errors are mapped.

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PrecheckFailureSchema } from "../gen/clavata/gateway/v1/errs_pb.js";
import { causeChain, causeCodes } from "./cause-chain.js";
import { ATTEMPT_TIMED_OUT } from "./deadlines.js";
import {
  mostCommonRefusalReason,
  type RefusalReason,
  type RefusedContent,
  refusalsOf,
  refusedContentHashes,
  topRefusalReason,
} from "./refusals.js";
import { retryDelayHintMs } from "./status-details.js";

/** What `new Headers()` accepts (the DOM lib type, which this package does not load). */
type HeadersInit_ = ConstructorParameters<typeof Headers>[0];

const grpcCodeNames: Record<Code, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** The gRPC name of a status code, such as "RESOURCE_EXHAUSTED" for `Code.ResourceExhausted`. */
export function grpcCodeName(code: Code): string {
  return grpcCodeNames[code] ?? `CODE_${String(code)}`;
}

/** What every ClavataError carries besides its message. */
export interface ClavataErrorInit {
  /** The gRPC status code. */
  code: Code;
  /** The gateway's own message; "" when the error arose in the SDK. */
  rawMessage?: string;
  /** The response headers and trailers of the failed call. */
  metadata?: HeadersInit_;
  /** The underlying error, usually a ConnectError. */
  cause?: unknown;
}

/**
 * The mark of an error made by this package, in any copy of it: its ESM and CommonJS builds are two copies with two
 * sets of classes, and an application can load both (a CommonJS dependency of an ESM app).
 */
const CLAVATA_ERROR = Symbol.for("clavata-connect.ClavataError");

/**
 * The base class of every error the SDK throws. Catch it to handle any failure; catch a subclass to handle one
 * kind (`RateLimitError`, `EvaluationRefusedError`, …).
 */
export class ClavataError extends Error {
  /**
   * `instanceof` that also recognises the errors of another copy of this package (the CommonJS build's, seen from
   * the ESM build, or the other way round): `ClavataError` matches any of them, a subclass those of its own name.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the class asked about.
    const cls = this;
    if (Function.prototype[Symbol.hasInstance].call(cls, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    if ((value as { [CLAVATA_ERROR]?: unknown })[CLAVATA_ERROR] !== true) return false;
    return cls === ClavataError || (value as Error).name === cls.name;
  }

  override readonly name: string = "ClavataError";
  /** The gRPC status code (`Code` from @connectrpc/connect). */
  readonly code: Code;
  /** The gRPC name of the code, such as "NOT_FOUND". */
  readonly codeName: string;
  /** The gateway's own message, without the SDK's explanation; "" when the error arose in the SDK. */
  readonly rawMessage: string;
  /** The response headers and trailers of the failed call (empty when nothing was received). */
  readonly metadata: Headers;

  /** Makes an error; the SDK makes these for you, through the one mapping from Connect errors. */
  constructor(message: string, init: ClavataErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    Object.setPrototypeOf(this, new.target.prototype);
    Object.defineProperty(this, CLAVATA_ERROR, { value: true });
    this.code = init.code;
    this.codeName = grpcCodeName(init.code);
    this.rawMessage = init.rawMessage ?? "";
    this.metadata = new Headers(init.metadata ?? {});
  }
}

/** The gateway did not accept the API key (UNAUTHENTICATED). */
export class AuthenticationError extends ClavataError {
  override readonly name: string = "AuthenticationError";
}

/** The API key may not do this, for example use this policy (PERMISSION_DENIED). */
export class PermissionDeniedError extends ClavataError {
  override readonly name: string = "PermissionDeniedError";
}

/**
 * The request is malformed: found by the SDK before anything was sent (then `field` names the part to fix), or
 * rejected by the gateway (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS).
 */
export class InvalidRequestError extends ClavataError {
  override readonly name: string = "InvalidRequestError";
  /** The path of the offending part of the request, such as "contentData[1].content", when the SDK found it. */
  readonly field: string | undefined;

  /** Makes an error; `field` names the part of the request to fix. */
  constructor(message: string, init: ClavataErrorInit & { field?: string }) {
    super(message, init);
    this.field = init.field;
  }
}

/** A policy, job or label version that does not exist, or that this API key cannot see (NOT_FOUND). */
export class NotFoundError extends ClavataError {
  override readonly name: string = "NotFoundError";
}

/** The gateway is rate limiting this API key (RESOURCE_EXHAUSTED), after any retries the client made. */
export class RateLimitError extends ClavataError {
  override readonly name: string = "RateLimitError";
  /** How long the gateway asked the caller to wait before retrying (google.rpc.RetryInfo), when it said. */
  readonly retryDelayMs: number | undefined;

  /** Makes an error with the gateway's retry delay hint, if any. */
  constructor(message: string, init: ClavataErrorInit & { retryDelayMs?: number }) {
    super(message, init);
    this.retryDelayMs = init.retryDelayMs;
  }
}

/** The call did not finish in time: its `timeoutMs`, or the gateway's deadline (DEADLINE_EXCEEDED). */
export class TimeoutError extends ClavataError {
  override readonly name: string = "TimeoutError";
}

/**
 * The gateway could not be reached or the connection broke (UNAVAILABLE, a reset stream, a lost connection),
 * after any retries the client made. Also thrown by a call on a closed client.
 */
export class ConnectionError extends ClavataError {
  override readonly name: string = "ConnectionError";
}

/** The caller stopped the call: its AbortSignal fired, or the client was closed while the call ran. */
export class AbortedError extends ClavataError {
  override readonly name: string = "AbortedError";
}

/** The gateway failed (INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS), or answered in a way the SDK cannot use. */
export class ServerError extends ClavataError {
  override readonly name: string = "ServerError";
}

/**
 * The gateway refused to evaluate some content (a precheck failure): a known CSAM hash, an unsupported image
 * format, or a corrupt image. Recognised by the PrecheckFailure details of the status, whatever its code. One
 * refused item ends the whole call: no item of it was evaluated.
 */
export class EvaluationRefusedError extends ClavataError {
  override readonly name: string = "EvaluationRefusedError";
  /** One entry per PrecheckFailure detail, all of them, in the order the gateway sent them. */
  readonly refusals: readonly RefusedContent[];

  /** Makes an error from the refusals; `refusals` must not be empty. */
  constructor(message: string, init: ClavataErrorInit & { refusals: readonly RefusedContent[] }) {
    super(message, init);
    this.refusals = Object.freeze([...init.refusals]);
  }

  /** The most severe reason: CSAM > UNSUPPORTED_FORMAT > INVALID_CONTENT > UNKNOWN. */
  get topReason(): RefusalReason {
    return topRefusalReason(this.refusals);
  }

  /** The reason that occurs most often (a tie goes to the more severe reason). */
  get mostCommonReason(): RefusalReason {
    return mostCommonRefusalReason(this.refusals);
  }

  /** The reason of the first refusal the gateway sent. */
  get firstReason(): RefusalReason {
    return this.refusals[0]!.reason;
  }

  /** The refused items' content hashes, deduplicated, in first-seen order. */
  get refusedContentHashes(): string[] {
    return refusedContentHashes(this.refusals);
  }
}

/** What the client knows about a failed call, to map its error precisely. */
export interface ErrorContext {
  /** The method, such as "Evaluate", named in the message. */
  method?: string;
  /** The caller's own AbortSignal: an error after it fired is an AbortedError (or a TimeoutError for AbortSignal.timeout). */
  signal?: AbortSignal | undefined;
  /** Whether the client was closed: an in-flight call it ended is an AbortedError. */
  clientClosed?: boolean;
  /** The call's overall timeout, named in a TimeoutError's message. */
  timeoutMs?: number | undefined;
  /**
   * When the call's overall deadline passes (epoch ms). A DEADLINE_EXCEEDED with more than a second of it left was
   * the gateway's or a proxy's (an HTTP 504), not the client's timeoutMs.
   */
  deadlineAt?: number | undefined;
  /** The call's per-attempt limit, named when an attempt ran out of it. */
  attemptTimeoutMs?: number | undefined;
  /** Whether the method is retried after it may have reached the gateway (false for CreateJob). */
  idempotent?: boolean | undefined;
  /** Removes secrets (the API key) from any text that goes into the error. */
  redact?: (text: string) => string;
  /** The client's protocol option, for hints that depend on it (a TLS server that does not speak its HTTP). */
  protocol?: "grpc" | "rest";
}

/**
 * The one mapping from any failure to a ClavataError. A ClavataError passes through unchanged; anything else goes
 * through `ConnectError.from` and is classified: refusal details first (whatever the code), then the caller's own
 * abort, then the status code. Text that contains the API key (per `context.redact`) is scrubbed, also in `cause`.
 */
export function toClavataError(reason: unknown, context: ErrorContext = {}): ClavataError {
  if (reason instanceof ClavataError) return reason;
  const redact = context.redact ?? ((text: string) => text);
  const original = ConnectError.from(reason);
  const cause = scrubbed(original, redact);
  const rawMessage = cause.rawMessage;
  const init: ClavataErrorInit = { code: cause.code, rawMessage, metadata: cause.metadata, cause };
  const what = context.method ? `${context.method} failed` : "the call failed";
  const status = rawMessage ? `${grpcCodeName(cause.code)}: ${rawMessage}` : grpcCodeName(cause.code);

  const refusals = refusalsOf(cause);
  if (refusals.length > 0) {
    const counts = new Map<RefusalReason, number>();
    for (const r of refusals) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
    const summary = [...counts].map(([reasonName, n]) => `${reasonName}: ${String(n)}`).join(", ");
    const items = refusals.length === 1 ? "1 content item" : `${String(refusals.length)} content items`;
    return new EvaluationRefusedError(
      `${what}: the gateway refused ${items} (${summary}) and evaluated none of the request; ` +
        `see .refusals for the content hashes (${status})`,
      { ...init, refusals },
    );
  }

  // Closing the client also aborts the signals of the calls it ends (such as waitForJob's polls): say close().
  if (context.clientClosed) {
    return new AbortedError(`${what}: the client was closed while the call was running`, {
      ...init,
      code: Code.Canceled,
    });
  }
  const signal = context.signal;
  if (signal?.aborted && (cause.code === Code.Canceled || reason === signal.reason)) {
    const signalReason: unknown = signal.reason;
    if (signalReason instanceof Error && signalReason.name === "TimeoutError") {
      return new TimeoutError(`${what}: your AbortSignal timed out (${redact(signalReason.message)})`, {
        ...init,
        code: Code.DeadlineExceeded,
      });
    }
    // CANCELLED whatever the reason was (a string, an Error of the caller's), on every transport.
    return new AbortedError(`${what}: aborted by your AbortSignal`, { ...init, code: Code.Canceled });
  }

  const failure = transportFailureOf(original);
  const errorClass = failure && classifyTransportFailure(failure.kind).errorClass;
  if (errorClass !== undefined) {
    return new errorClass(`${what}: ${redact(failure!.message)} (${grpcCodeName(cause.code)})`, init);
  }
  const tls = tlsFailure(original, context.protocol);
  if (tls !== undefined) {
    return new ConnectionError(`${what}: the TLS connection failed (${tls.code}); ${tls.hint}`, init);
  }
  // Another transport (Connect-node's, or the caller's) reports these with Connect's codes; the same table classes them.
  const detected = clientSideFailure(original, context.protocol);
  const detectedClass = detected && classifyTransportFailure(detected.kind).errorClass;
  if (detectedClass !== undefined) return new detectedClass(`${what}: ${detected!.explanation} (${status})`, init);

  switch (cause.code) {
    case Code.Unauthenticated:
      return new AuthenticationError(
        `${what}: the gateway did not accept the API key (${status}); check the apiKey option or CLAVATA_API_KEY`,
        init,
      );
    case Code.PermissionDenied:
      return new PermissionDeniedError(`${what}: this API key may not do that (${status})`, init);
    case Code.InvalidArgument:
    case Code.FailedPrecondition:
    case Code.OutOfRange:
    case Code.AlreadyExists:
      return new InvalidRequestError(`${what}: the gateway rejected the request (${status})`, init);
    case Code.NotFound:
      return new NotFoundError(`${what}: not found (${status}); check the policy id, job id or label version id`, init);
    case Code.ResourceExhausted: {
      const retryDelayMs = retryDelayHintMs(original);
      const hint =
        retryDelayMs === undefined
          ? "slow down, or raise maxRetries"
          : `the gateway asks to retry after ${String(retryDelayMs)} ms`;
      return new RateLimitError(`${what}: rate limited (${status}); ${hint}`, { ...init, retryDelayMs });
    }
    case Code.DeadlineExceeded: {
      if (causeChain(original).includes(ATTEMPT_TIMED_OUT)) {
        const limit = context.attemptTimeoutMs === undefined ? "" : ` (${String(context.attemptTimeoutMs)} ms)`;
        return new TimeoutError(
          context.idempotent === false
            ? `${what}: it did not finish within attemptTimeoutMs${limit}, and it is not sent again once it may have reached the gateway (${status}); raise attemptTimeoutMs`
            : `${what}: its last attempt did not finish within attemptTimeoutMs${limit}, and no retry was left (${status}); raise attemptTimeoutMs or maxRetries`,
          init,
        );
      }
      const left = context.deadlineAt === undefined ? 0 : context.deadlineAt - Date.now();
      if (left > 1000) {
        const attempt =
          context.attemptTimeoutMs === undefined
            ? ""
            : ` (each attempt's deadline, attemptTimeoutMs ${String(context.attemptTimeoutMs)} ms, is sent along)`;
        return new TimeoutError(
          `${what}: the gateway, or a proxy in front of it, gave up on the call (${status}) with ${String(Math.round(left))} ms of timeoutMs still left${attempt}; it may be overloaded, try again later`,
          init,
        );
      }
      const limit = context.timeoutMs === undefined ? "" : ` within timeoutMs (${String(context.timeoutMs)} ms)`;
      return new TimeoutError(
        `${what}: it did not finish${limit} (${status}); raise timeoutMs if the call needs longer`,
        init,
      );
    }
    case Code.Unavailable:
      // An answer has headers (a gRPC status, or an HTTP response's); a connection that failed has none.
      if ([...cause.metadata.keys()].length > 0) {
        return new ConnectionError(
          `${what}: the gateway answered that it is unavailable (${status}); it may be restarting or overloaded: try again later`,
          init,
        );
      }
      return new ConnectionError(
        `${what}: could not reach the gateway (${status}); check the host, the port and the network`,
        init,
      );
    case Code.Canceled:
    case Code.Aborted:
      // Not the caller's doing (handled above): a stream reset by the server or a proxy, or a lost connection.
      return new ConnectionError(`${what}: the connection or stream was ended by the other side (${status})`, init);
    default:
      return new ServerError(`${what}: the gateway failed (${status})`, init);
  }
}

/**
 * Failures that the client itself detected in the transport, below any gRPC status: a peer that is not an HTTP/2
 * server (an HTTP/1.1 answer, random bytes, a TLS server on a plaintext port), an answer cut off mid-message, a
 * length prefix larger than the read limit, undecodable compressed data. Connect reports several of these with
 * codes that would otherwise read as the gateway's verdict (INVALID_ARGUMENT "the gateway rejected the request",
 * INTERNAL), so they are named here as the transport failures they are, and the transport failure table (below)
 * gives their class, as for the client's own transport: a foreign peer is a ConnectionError, a malformed answer a
 * ServerError. A status the server really sent (it carries grpc-status) is never matched.
 * @private
 */
export function clientSideFailure(
  error: ConnectError,
  protocol: "grpc" | "rest" = "grpc",
): { kind: TransportFailureKind; explanation: string } | undefined {
  if (error.metadata.has("grpc-status")) return undefined;
  const codes = causeCodes(error);
  if (codes.includes("ERR_HTTP2_SESSION_ERROR")) {
    // Node's name for a connection the peer ended with an error code in its GOAWAY: an HTTP/2 server that closed
    // the connection, as the client's own transport says (session-pool.ts), not a peer that is not HTTP/2.
    return { kind: "connection-lost", explanation: "the gateway closed the connection with an error (GOAWAY)" };
  }
  // fetch's HTTP/1.1 parser failed: Node 22's undici names it with an HPE_ code, later ones only by the error's name.
  const parserFailed =
    codes.some((c) => c.startsWith("HPE_")) || causeChain(error).some((e) => e.name === "HTTPParserError");
  if (protocol === "rest" && parserFailed) {
    return {
      kind: "not-http2",
      explanation:
        'the peer did not answer HTTP/1.1 as the gateway\'s REST surface does; check the host and port (the REST gateway listens on 8443; a gRPC port speaks only HTTP/2: use protocol: "grpc" there)',
    };
  }
  if (codes.includes("ERR_HTTP2_ERROR") || parserFailed) {
    return {
      kind: "not-http2",
      explanation:
        "the peer does not speak HTTP/2 as a gRPC gateway does; check the host and port (and whether the gateway expects TLS or plaintext: the insecure option)",
    };
  }
  const message = error.rawMessage;
  if (/^protocol error: (incomplete envelope|promised \d+ bytes)/.test(message) || message === "unexpected end flag") {
    return { kind: "malformed-response", explanation: "the answer was cut off in the middle of a message" };
  }
  if (/larger than configured readMaxBytes/.test(message)) {
    return {
      kind: "message-too-large",
      explanation: "the answer announced a message larger than the client reads; the peer may not be a Clavata gateway",
    };
  }
  if (
    message === "decompression failed" ||
    /compress/.test(message) ||
    /^unsupported response encoding/.test(message) ||
    /^parse binary/.test(message)
  ) {
    return { kind: "malformed-response", explanation: "the answer could not be decoded" };
  }
  return undefined;
}

/** Wraps the message of a redacted detail so that it can be kept. */
function redactedDetail(
  detail: ConnectError["details"][number],
  redact: (text: string) => string,
): ConnectError["details"][number] | undefined {
  if (!("type" in detail) || !(detail.value instanceof Uint8Array)) return detail;
  // An API key is ASCII, so its UTF-8 bytes read the same as Latin-1 text.
  const text = latin1(detail.value);
  if (
    redact(text) === text &&
    (detail.debug === undefined || redact(JSON.stringify(detail.debug)) === JSON.stringify(detail.debug))
  ) {
    return detail;
  }
  if (detail.type === PrecheckFailureSchema.typeName) {
    try {
      const failure = fromBinary(PrecheckFailureSchema, detail.value);
      failure.message = redact(failure.message);
      if (failure.details?.kind.case === "stringValue") failure.details.kind.value = redact(failure.details.kind.value);
      return { type: detail.type, value: toBinary(PrecheckFailureSchema, failure) };
    } catch {
      return undefined;
    }
  }
  // A detail of another type that holds the secret is dropped: it cannot be rewritten without knowing its schema.
  return undefined;
}

/**
 * Whether a binary header (a "-bin" trailer such as grpc-status-details-bin) holds the secret: in the bytes of any of
 * its comma-separated values, read as standard or URL-safe base64 (gRPC accepts both), or in its text as sent (a
 * value that is not base64 at all).
 */
function binaryHeaderHoldsSecret(value: string, redact: (text: string) => string): boolean {
  if (redact(value) !== value) return true;
  return value.split(",").some((part) => {
    let text: string;
    try {
      // atob knows only the standard alphabet and wants exact padding, so URL-safe letters are mapped to it and
      // padding is dropped; it gives each byte as one character (Latin-1).
      text = atob(part.trim().replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
    } catch {
      return false;
    }
    return redact(text) !== text;
  });
}

/** Bytes as Latin-1 text, one character per byte, without Node's Buffer (edge runtimes have none). */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/**
 * The error itself, or a copy with the secret removed from everything kept from the server: the message, the
 * headers and trailers (one whose name or binary value holds it is dropped), and the details (a refusal's message
 * and hash rewritten, any other detail holding it dropped).
 */
function scrubbed(error: ConnectError, redact: (text: string) => string): ConnectError {
  let dirty = redact(error.rawMessage) !== error.rawMessage;
  const metadata = new Headers();
  error.metadata.forEach((value, key) => {
    // A name cannot be rewritten into a placeholder without making up a header, so it goes with its value.
    if (redact(key) !== key) {
      dirty = true;
      return;
    }
    if (key.endsWith("-bin")) {
      if (binaryHeaderHoldsSecret(value, redact)) dirty = true;
      else metadata.append(key, value);
      return;
    }
    const clean = redact(value);
    if (clean !== value) dirty = true;
    metadata.append(key, clean);
  });
  const details: ConnectError["details"] = [];
  for (const detail of error.details) {
    const clean = redactedDetail(detail, redact);
    if (clean !== detail) dirty = true;
    if (clean !== undefined) details.push(clean);
  }
  if (!dirty) return error;
  // The cause chain (a Node.js socket error at most) never holds request headers, so it is safe to drop.
  const copy = new ConnectError(redact(error.rawMessage), error.code, metadata);
  copy.details = details;
  return copy;
}

/**
 * The fix for a TLS failure, by its Node.js / OpenSSL error code, that matches its real cause. `protocol` is the
 * client's: whether the handshake offered HTTP/2 (gRPC) or HTTP/1.1 (fetch, for REST).
 * @internal
 */
export function tlsHint(code: string, protocol: "grpc" | "rest" = "grpc"): string {
  // No ALPN protocol in common: the server is up and its certificate may be fine, it speaks another HTTP.
  if (/NO_APPLICATION_PROTOCOL|ALPN/.test(code)) {
    return protocol === "rest"
      ? 'the server does not offer HTTP/1.1 (ALPN "http/1.1"), which the REST protocol\'s fetch speaks: it may be a gRPC (HTTP/2-only) endpoint; check the port (the REST gateway listens on 8443), or use protocol: "grpc"'
      : 'the server does not offer HTTP/2 (ALPN "h2"), which gRPC needs: it is not a gRPC endpoint, or it speaks only HTTP/1.1 (for the gateway\'s REST/JSON surface, use protocol: "rest")';
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNKNOWN_PROTOCOL|RECORD_LAYER/.test(code)) {
    return "the server on this port does not speak TLS; for a local plaintext gateway such as the emulator, use an http:// baseUrl with insecure: true";
  }
  if (/ALTNAME|HOSTNAME/.test(code)) {
    return "the certificate is not for this host name; check the host, or set tls.servername to the name the certificate is for";
  }
  if (/EXPIRED|NOT_YET_VALID/.test(code)) return "the server's certificate is expired or not yet valid";
  return "if the gateway uses a private CA, pass it as tls.ca";
}

/** The Node.js TLS error code in the error's cause chain (an untrusted or mismatched certificate), if any. */
function tlsFailure(error: unknown, protocol: "grpc" | "rest" | undefined): { code: string; hint: string } | undefined {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
      return { code, hint: tlsHint(code, protocol) };
    }
  }
  return undefined;
}

// ─── Transport failures ───────────────────────────────────────────────────────────────────────────────────────────
// What can go wrong below the gRPC status: the connection, HTTP/2 and the gRPC framing. A transport reports such a
// failure as a ConnectError whose cause is a TransportFailure; the one table below says which status code it gets,
// which ClavataError class it becomes, and whether the retry rules may repeat it. The client's own transport and the
// hardening of any other transport both classify through this table, so they cannot disagree.

/** What went wrong below the gRPC status of a call. */
export type TransportFailureKind =
  /** No connection could be opened (refused, unresolvable host, unreachable network). */
  | "connect-failed"
  /** The TLS handshake failed (an untrusted or mismatched certificate). */
  | "tls-failed"
  /** The HTTP CONNECT proxy refused or broke the tunnel. */
  | "proxy-failed"
  /** The peer does not speak HTTP/2: it answered HTTP/1.x, sent bytes that are not HTTP/2, or broke the protocol. */
  | "not-http2"
  /** The connection closed or failed while the call ran. */
  | "connection-lost"
  /** The connection did not answer a keepalive PING in time. */
  | "keepalive-timeout"
  /** The server refused the stream unprocessed (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id). */
  | "stream-refused"
  /** The server reset the stream (RST_STREAM); the status code comes from the HTTP/2 error code. */
  | "stream-reset"
  /** The server answered, but not with gRPC (an HTTP error status, another content-type). */
  | "not-grpc"
  /** The gRPC response was broken: a truncated frame, a message that does not decode, no grpc-status, … */
  | "malformed-response"
  /** The server sent a message larger than the client's `maxReceiveMessageBytes`. */
  | "message-too-large"
  /** The caller used a method kind the transport does not implement (client streaming, bidi). */
  | "unsupported-method";

/**
 * The cause of a ConnectError that a transport raised for a failure below the gRPC status: what kind it is, and
 * whether the server provably never processed the request (so that even CreateJob may be retried).
 */
export class TransportFailure extends Error {
  override readonly name: string = "TransportFailure";
  /** What went wrong; see TransportFailureKind. */
  readonly kind: TransportFailureKind;
  /** True when the request provably never reached the server's handler (safe to retry whatever the method). */
  readonly unprocessed: boolean;

  /** Makes a failure; `message` says what happened in the caller's terms. */
  constructor(kind: TransportFailureKind, message: string, options: { unprocessed?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.unprocessed = options.unprocessed ?? false;
  }
}

/** How a kind of transport failure is reported. */
export interface TransportFailureClass {
  /** The status code a transport reports it with (a transport may give a more precise one, e.g. from HTTP). */
  readonly code: Code;
  /** The ClavataError class it becomes; undefined: the class of its status code, as for a gateway's status. */
  readonly errorClass: (new (message: string, init: ClavataErrorInit) => ClavataError) | undefined;
  /** Whether the usual retry rules apply to it; false: never retried, whatever its code. */
  readonly retry: boolean;
}

const transportFailureTable: Readonly<Record<TransportFailureKind, TransportFailureClass>> = {
  "connect-failed": { code: Code.Unavailable, errorClass: ConnectionError, retry: true },
  "tls-failed": { code: Code.Unavailable, errorClass: ConnectionError, retry: false },
  "proxy-failed": { code: Code.Unavailable, errorClass: ConnectionError, retry: true },
  "not-http2": { code: Code.Unavailable, errorClass: ConnectionError, retry: false },
  "connection-lost": { code: Code.Unavailable, errorClass: ConnectionError, retry: true },
  "keepalive-timeout": { code: Code.Unavailable, errorClass: ConnectionError, retry: true },
  "stream-refused": { code: Code.Unavailable, errorClass: ConnectionError, retry: true },
  "stream-reset": { code: Code.Internal, errorClass: undefined, retry: true },
  "not-grpc": { code: Code.Unknown, errorClass: undefined, retry: true },
  "malformed-response": { code: Code.Internal, errorClass: ServerError, retry: false },
  // A gRPC client reports RESOURCE_EXHAUSTED here, but it is no rate limit: retrying would get the same message.
  "message-too-large": { code: Code.ResourceExhausted, errorClass: ServerError, retry: false },
  "unsupported-method": { code: Code.Unimplemented, errorClass: InvalidRequestError, retry: false },
};

/** How `kind` is reported: its status code, its ClavataError class and whether it may be retried. */
export function classifyTransportFailure(kind: TransportFailureKind): TransportFailureClass {
  return transportFailureTable[kind];
}

/** The TransportFailure in the error's cause chain, if a transport raised it; undefined otherwise. */
export function transportFailureOf(error: unknown): TransportFailure | undefined {
  return causeChain(error).find((e): e is TransportFailure => e instanceof TransportFailure);
}
