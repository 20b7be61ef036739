// How a gRPC call ends, read from what the server sent: the grpc-status, grpc-message and grpc-status-details-bin
// trailers (or headers, in a trailers-only response), and, when those are missing, the HTTP status or the HTTP/2
// RST_STREAM error code, mapped as the gRPC specification says (doc/http-grpc-status-mapping.md and
// doc/PROTOCOL-HTTP2.md of grpc/grpc).

import type { IncomingHttpHeaders } from "node:http2";
import { constants } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { classifyTransportFailure, TransportFailure } from "../errors.js";
import { decodeStatusDetails } from "../status-details.js";

/** A call's end as the server reported it in grpc-status. @internal */
export interface GrpcStatus {
  readonly code: Code;
  readonly message: string;
}

/** Whether the headers are the gRPC content type (application/grpc, optionally +proto or with parameters). */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === "application/grpc+proto" || value === "application/grpc") return true;
  return /^application\/grpc(\+proto)?(\s*;.*)?$/i.test(value);
}

/** grpc-message is percent-encoded UTF-8; a value that does not decode is kept as it came. */
export function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The error of a call that ended with a non-zero grpc-status in `metadata` (its trailers, or its headers in a
 * trailers-only response), with its details; undefined when the status is 0 (OK). A grpc-status that is not a
 * number, or not a known code, is UNKNOWN. A grpc-status-details-bin that does not decode is ignored, so that it
 * cannot hide the status it came with. @internal
 */
export function statusError(raw: string, metadata: IncomingHttpHeaders): ConnectError | undefined {
  if (raw === "0") return undefined;
  const number = /^\d{1,2}$/.test(raw) ? Number(raw) : Number.NaN;
  const known = number >= 1 && number <= 16;
  const text = metadata["grpc-message"];
  let message = typeof text === "string" ? percentDecode(text) : "";
  if (!known) {
    // Quoted whole or not at all: a cut could split an echoed API key into a fragment that redaction cannot spot.
    const sent = raw.length <= 64 ? `grpc-status "${raw}"` : `a grpc-status of ${String(raw.length)} characters`;
    message = `the server sent ${sent}, not a gRPC status code${message ? `: ${message}` : ""}`;
  }
  const error = new ConnectError(message, known ? (number as Code) : Code.Unknown, toHeaders(metadata));
  const bin = metadata["grpc-status-details-bin"];
  if (typeof bin === "string") {
    const details = decodeStatusDetails(bin);
    if (details !== undefined) error.details = details;
  }
  return error;
}

/**
 * The status code for a response that has no grpc-status, from its HTTP status, per gRPC's HTTP-to-gRPC table:
 * 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, other
 * UNKNOWN. @internal
 */
export function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** The names of HTTP/2 error codes, for messages. */
const h2ErrorNames: Record<number, string> = {
  [constants.NGHTTP2_NO_ERROR]: "NO_ERROR",
  [constants.NGHTTP2_PROTOCOL_ERROR]: "PROTOCOL_ERROR",
  [constants.NGHTTP2_INTERNAL_ERROR]: "INTERNAL_ERROR",
  [constants.NGHTTP2_FLOW_CONTROL_ERROR]: "FLOW_CONTROL_ERROR",
  [constants.NGHTTP2_SETTINGS_TIMEOUT]: "SETTINGS_TIMEOUT",
  [constants.NGHTTP2_STREAM_CLOSED]: "STREAM_CLOSED",
  [constants.NGHTTP2_FRAME_SIZE_ERROR]: "FRAME_SIZE_ERROR",
  [constants.NGHTTP2_REFUSED_STREAM]: "REFUSED_STREAM",
  [constants.NGHTTP2_CANCEL]: "CANCEL",
  [constants.NGHTTP2_COMPRESSION_ERROR]: "COMPRESSION_ERROR",
  [constants.NGHTTP2_CONNECT_ERROR]: "CONNECT_ERROR",
  [constants.NGHTTP2_ENHANCE_YOUR_CALM]: "ENHANCE_YOUR_CALM",
  [constants.NGHTTP2_INADEQUATE_SECURITY]: "INADEQUATE_SECURITY",
  [constants.NGHTTP2_HTTP_1_1_REQUIRED]: "HTTP_1_1_REQUIRED",
};

/** The name of an HTTP/2 error code, such as "REFUSED_STREAM" for 7. @internal */
export function h2ErrorName(code: number): string {
  return h2ErrorNames[code] ?? `error code ${String(code)}`;
}

/**
 * The error of a stream reset (RST_STREAM) before a status arrived, per gRPC's table: REFUSED_STREAM is UNAVAILABLE
 * and, when nothing of an answer had arrived, unprocessed (safe to retry); CANCEL is CANCELLED, ENHANCE_YOUR_CALM is
 * RESOURCE_EXHAUSTED, INADEQUATE_SECURITY is PERMISSION_DENIED, and every other code INTERNAL. `answered`: response
 * headers or messages had arrived, so the server had begun to process the call whatever the code says. @internal
 */
export function resetError(rstCode: number, answered = false): ConnectError {
  const name = h2ErrorName(rstCode);
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) {
    if (!answered) {
      return transportError(
        new TransportFailure(
          "stream-refused",
          "the server refused the stream (RST_STREAM REFUSED_STREAM) unprocessed",
          { unprocessed: true },
        ),
      );
    }
    // A server that answered and then "refused" contradicts itself: the answer shows the call was processed.
    return transportError(
      new TransportFailure(
        "stream-reset",
        "the server reset the stream (RST_STREAM REFUSED_STREAM) after it had begun to answer; the call may have " +
          "been processed",
      ),
      Code.Unavailable,
    );
  }
  let code: Code;
  switch (rstCode) {
    case constants.NGHTTP2_CANCEL:
      code = Code.Canceled;
      break;
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      code = Code.ResourceExhausted;
      break;
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      code = Code.PermissionDenied;
      break;
    default:
      code = Code.Internal;
  }
  // Node's HTTP/2 stack resets a stream with PROTOCOL_ERROR itself when the response breaks HTTP/2's rules (no
  // :status, an upper-case or connection-specific header): the code alone cannot say which side sent it.
  const message =
    rstCode === constants.NGHTTP2_PROTOCOL_ERROR
      ? "the stream was reset (RST_STREAM PROTOCOL_ERROR) before a status arrived: by the server, or by the " +
        "client's HTTP/2 stack because the server's response broke HTTP/2's rules"
      : `the server reset the stream (RST_STREAM ${name}) before it sent a status`;
  return transportError(new TransportFailure("stream-reset", message), code);
}

/** The ConnectError that carries a transport failure, with the table's code unless `code` is given. @internal */
export function transportError(failure: TransportFailure, code?: Code, metadata?: IncomingHttpHeaders): ConnectError {
  return new ConnectError(
    failure.message,
    code ?? classifyTransportFailure(failure.kind).code,
    metadata === undefined ? undefined : toHeaders(metadata),
    undefined,
    failure,
  );
}

/** Node's header object as a Headers, without the HTTP/2 pseudo-headers. @internal */
export function toHeaders(metadata: IncomingHttpHeaders | undefined): Headers {
  const headers = new Headers();
  if (metadata === undefined) return headers;
  for (const name in metadata) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = metadata[name];
    // A value Headers refuses (a peer may send anything) is left out rather than failing the call.
    try {
      if (typeof value === "string") headers.append(name, value);
      else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    } catch {}
  }
  return headers;
}
