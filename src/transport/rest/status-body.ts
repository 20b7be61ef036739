// The REST surface's error bodies: a google.rpc.Status as JSON
// (`{"code", "message", "details": [{"@type", …}]}`), sent as the body of an
// HTTP error or as the `error` of an NDJSON line. Reading turns one into the
// ConnectError that the gRPC transport would have produced, so that
// toClavataError() maps both protocols alike; writing is the emulator's side.

import {
  create,
  createRegistry,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PrecheckFailureSchema } from "../../../gen/clavata/gateway/v1/errs_pb.js";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { codeForHttpStatus, isErrorCode } from "./http-status.js";

/** The detail types the SDK reads; others are kept undecoded (their `@type` only). */
const detailRegistry = createRegistry(PrecheckFailureSchema, RetryInfoSchema);

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** A ConnectError detail, as ConnectError keeps one that arrived on the wire. */
interface IncomingDetail {
  type: string;
  value: Uint8Array;
  debug?: JsonValue;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Turns one JSON detail into the binary form ConnectError keeps. A detail without `@type` in a CANCELLED status is
 * a PrecheckFailure (the 499 body may be a PrecheckFailureResponse, whose details carry no type); any other detail
 * without a known type is skipped.
 */
function detailOf(json: JsonValue, code: Code): IncomingDetail | undefined {
  if (!isObject(json)) return undefined;
  const { "@type": typeUrl, ...fields } = json;
  let schema: DescMessage | undefined;
  if (typeof typeUrl === "string") {
    schema = detailRegistry.getMessage(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
    if (schema === undefined) return undefined;
  } else if (code === Code.Canceled || code === Code.FailedPrecondition) {
    schema = PrecheckFailureSchema;
  } else {
    return undefined;
  }
  try {
    const message = fromJson(schema, fields, { ignoreUnknownFields: true });
    return { type: schema.typeName, value: toBinary(schema, message), debug: json };
  } catch {
    // A detail the SDK cannot read must not hide the status itself.
    return undefined;
  }
}

/** The HTTP date formats of RFC 9110 (5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms. */
const HTTP_DATE = [
  /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

/** The longest Retry-After read, in ms: about 285 years, so that any delay stays a finite, exact number. */
const MAX_RETRY_AFTER_MS = 9e15;

/**
 * Seconds (or an HTTP date) in a Retry-After header, in ms; undefined when absent or unreadable. Anything else, such
 * as two headers joined into "1, 2", is no hint at all (Date.parse would read that as a date in 2001).
 */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.min(Math.round(Number(trimmed) * 1000), MAX_RETRY_AFTER_MS);
  const form = HTTP_DATE.findIndex((f) => f.test(trimmed));
  if (form < 0) return undefined;
  // asctime has no zone; HTTP dates are all in GMT.
  const at = Date.parse(form === 2 ? `${trimmed} GMT` : trimmed);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/** What an HTTP status with no message of its own means, for the statuses a proxy in front of the gateway sends. */
const STATUS_WITHOUT_MESSAGE: Record<number, string> = {
  413: "HTTP 413 Content Too Large: the request is larger than the gateway, or a proxy in front of it, accepts; send fewer or smaller items per call",
  414: "HTTP 414 URI Too Long: the request's query is longer than the gateway, or a proxy in front of it, accepts",
  431: "HTTP 431 Request Header Fields Too Large: the request's headers are larger than the gateway, or a proxy in front of it, accepts; send fewer or shorter extra headers",
  504: "HTTP 504 Gateway Timeout without an error message",
};

/** What an HTTP error answer carried, besides its body. */
export interface HttpFailure {
  /** The HTTP status; 200 for an error line inside a stream. */
  status: number;
  /** The response headers. */
  headers?: Headers;
}

/**
 * Makes the ConnectError that a REST error stands for: the code from the body (or else from the HTTP status), the
 * body's message, the details with a known `@type` (and PrecheckFailures without one), and the response headers
 * as metadata. A 429 or 503 with a Retry-After header and no RetryInfo detail gets one, so that the retry policy
 * and RateLimitError see the same hint as over gRPC.
 */
export function connectErrorFromStatusJson(body: unknown, failure: HttpFailure): ConnectError {
  const json = isObject(body) ? body : {};
  // grpc-gateway v1 streams sent grpc_code/http_code; take whichever is there.
  const bodyCode = json.code ?? json.grpcCode ?? json.grpc_code;
  const code = isErrorCode(bodyCode) ? bodyCode : codeForHttpStatus(failure.status);
  const message =
    typeof json.message === "string" && json.message !== ""
      ? json.message
      : typeof body === "string" && body !== ""
        ? body
        : (STATUS_WITHOUT_MESSAGE[failure.status] ?? `HTTP ${String(failure.status)} without an error message`);
  const details: ConnectError["details"] = [];
  if (Array.isArray(json.details)) {
    for (const d of json.details) {
      const detail = detailOf(d, code);
      if (detail !== undefined) details.push(detail);
    }
  }
  const error = new ConnectError(message, code, failure.headers);
  error.details = details;
  const hintMs = retryAfterMs(failure.headers?.get("retry-after") ?? null);
  const retryable = failure.status === 429 || failure.status === 503;
  if (retryable && hintMs !== undefined && error.findDetails(RetryInfoSchema).length === 0) {
    error.details.push({
      desc: RetryInfoSchema,
      value: { retryDelay: { seconds: BigInt(Math.floor(hintMs / 1000)), nanos: (hintMs % 1000) * 1_000_000 } },
    });
  }
  return error;
}

/**
 * The google.rpc.Status JSON of an error, as the REST gateway sends it: `{code, message, details}`, each detail
 * with its `@type`. Details of a type this SDK does not know are left out. @private
 */
export function statusJsonOf(error: ConnectError): JsonObject {
  const details: JsonValue[] = [];
  for (const detail of error.details) {
    let schema: DescMessage | undefined;
    let json: JsonValue;
    if ("desc" in detail) {
      schema = detail.desc;
      json = toJson(schema, create(schema, detail.value));
    } else {
      schema = detailRegistry.getMessage(detail.type);
      if (schema === undefined) continue;
      json = toJson(schema, fromBinary(schema, detail.value));
    }
    details.push({ "@type": `${TYPE_URL_PREFIX}${schema.typeName}`, ...(json as JsonObject) });
  }
  return { code: error.code, message: error.rawMessage, details };
}
