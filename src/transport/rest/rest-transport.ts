// The REST/JSON transport: a Connect Transport that calls the gateway's
// grpc-gateway surface with fetch, transcoding each call by its method's
// google.api.http rule. It uses only fetch, AbortSignal, TextDecoder and web
// streams, so it runs wherever those exist (Node.js, Workers, browsers).

import {
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  fromJson,
  type JsonValue,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { causeCodes } from "../../cause-chain.js";
import { interceptedTransport } from "../intercepted.js";
import { httpBindingOf, transcodeRequest } from "./http-rule.js";
import { ndjsonLines } from "./ndjson.js";
import { restFailure, tooLargeFailure } from "./rest-failure.js";
import { connectErrorFromStatusJson } from "./status-body.js";

/** How to make a REST transport. */
export interface RestTransportOptions {
  /** The REST gateway's base URL, such as "https://gateway.app.clavata.ai:8443". */
  baseUrl: string;
  /** Interceptors to run on every call, outermost first. */
  interceptors?: Interceptor[];
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /**
   * The largest answer the transport reads, in bytes: a unary body, or one line of a streamed answer. A longer one
   * fails the call (a ServerError, never retried) before more than this much of it is buffered, and an error body
   * longer than this is classified by its HTTP status alone. Default 4 MiB (4 194 304), as `maxReceiveMessageBytes`.
   */
  maxReceiveMessageBytes?: number;
}

/** The default of `maxReceiveMessageBytes`: 4 MiB, as the gRPC transport's. */
const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

// Headers that belong to gRPC and mean nothing to a REST gateway; grpc-timeout is kept (grpc-gateway reads it).
const droppedHeaders = ["te", "grpc-accept-encoding", "grpc-encoding", "content-type", "connect-protocol-version"];

/**
 * Turns anything fetch or a body read throws into the ConnectError it stands for. An answer that arrived but cannot
 * be read (its Content-Encoding does not decode, its headers are over fetch's limit) is a malformed answer: the
 * request was sent and may have been processed, so it is not retried as a network failure would be.
 */
function wireError(error: unknown, signal: AbortSignal): ConnectError {
  // An aborted fetch may reject with a generic AbortError: the signal's own reason says why (a deadline, a close).
  if (signal.aborted) return ConnectError.from(signal.reason);
  if (error instanceof ConnectError) return error;
  const codes = causeCodes(error);
  if (codes.some((code) => /^Z_|BROTLI|ZSTD/.test(code))) {
    return restFailure("malformed-response", "the gateway's answer could not be decompressed (its Content-Encoding)");
  }
  if (codes.includes("UND_ERR_HEADERS_OVERFLOW") || codes.includes("HPE_HEADER_OVERFLOW")) {
    return restFailure("malformed-response", "the gateway's answer has headers larger than fetch accepts");
  }
  // fetch rejects with TypeError("fetch failed") and the socket error as cause; keep it for provablyNeverSent.
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(message, Code.Unavailable, undefined, undefined, error);
}

/**
 * The whole body, or undefined when it is longer than `maxBytes`: then reading stops there and the rest of the body
 * is cancelled, so that no more than `maxBytes` of it is ever buffered.
 */
async function bodyWithin(response: Response, maxBytes: number): Promise<Uint8Array | undefined> {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        done = true;
        break;
      }
      size += chunk.value.length;
      if (size > maxBytes) return undefined;
      chunks.push(chunk.value);
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

async function errorFromResponse(response: Response, maxBytes: number): Promise<ConnectError> {
  let body: unknown;
  try {
    // An error body over the read limit is not read further: the HTTP status alone classifies the error.
    const bytes = await bodyWithin(response, maxBytes);
    body = bytes === undefined ? undefined : JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    body = undefined;
  }
  return connectErrorFromStatusJson(body, { status: response.status, headers: response.headers });
}

/** A stream line that is not what the REST surface sends: a malformed answer (a ServerError, never retried). */
function lineError(line: string, expected: string, headers: Headers): ConnectError {
  return restFailure(
    "malformed-response",
    `the gateway sent a stream line that is not ${expected}: ${line.length > 80 ? `${line.slice(0, 80)}…` : line}`,
    headers,
  );
}

/** Decodes the proto3 JSON of an answer; JSON that is not the method's message is a malformed answer. */
function decodeAnswer<O extends DescMessage>(
  schema: O,
  json: JsonValue,
  what: string,
  headers: Headers,
): ReturnType<typeof fromJson<O>> {
  try {
    return fromJson(schema, json, { ignoreUnknownFields: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw restFailure("malformed-response", `the gateway sent ${what} that cannot be decoded (${reason})`, headers);
  }
}

/**
 * Makes a Connect Transport that speaks the gateway's REST/JSON surface. Every method must have a
 * `google.api.http` rule; a call of one without throws UNIMPLEMENTED. Unary answers are proto3 JSON; a
 * server-streaming answer is NDJSON, read line by line as it arrives (`{"result": …}` or `{"error": Status}`). An
 * HTTP error status with a google.rpc.Status body becomes the ConnectError gRPC would have given (details,
 * Retry-After as RetryInfo), and unknown JSON fields are ignored.
 */
export function createRestTransport(options: RestTransportOptions): Transport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const interceptors = options.interceptors ?? [];
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const maxReceiveBytes = options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_BYTES;

  async function send(
    method: DescMethodUnary | DescMethodStreaming,
    message: MessageInitShape<DescMessage>,
    header: Headers,
    signal: AbortSignal,
  ): Promise<Response> {
    const binding = httpBindingOf(method);
    if (binding === undefined) {
      throw new ConnectError(`${method.name} has no REST binding; use the gRPC protocol for it`, Code.Unimplemented);
    }
    let parts: ReturnType<typeof transcodeRequest>;
    try {
      parts = transcodeRequest(binding, method.input, message);
    } catch (error) {
      throw new ConnectError(error instanceof Error ? error.message : String(error), Code.InvalidArgument);
    }
    const headers = new Headers(header);
    for (const name of droppedHeaders) headers.delete(name);
    headers.set("accept", "application/json");
    if (parts.body !== undefined) headers.set("content-type", "application/json");
    let response: Response;
    try {
      response = await fetchFn(`${baseUrl}${parts.pathAndQuery}`, {
        method: parts.verb,
        headers,
        body: parts.body === undefined ? undefined : JSON.stringify(parts.body),
        signal,
        // Never follow a redirect with the API key. Edge runtimes lack redirect: "error", so redirects are refused by hand.
        redirect: "manual",
      });
    } catch (error) {
      throw wireError(error, signal);
    }
    if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
      await response.body?.cancel();
      throw new ConnectError(
        `the gateway answered with a redirect (HTTP ${response.status}); pass the gateway's own URL as baseUrl`,
        Code.FailedPrecondition,
      );
    }
    if (!response.ok) throw await errorFromResponse(response, maxReceiveBytes);
    return response;
  }

  return interceptedTransport(interceptors, {
    target: (method) => {
      const binding = httpBindingOf(method as DescMethodUnary);
      return { requestMethod: binding?.verb ?? "POST", url: `${baseUrl}${binding?.template ?? ""}` };
    },
    refuse: (method) =>
      method.methodKind === "server_streaming"
        ? undefined
        : new ConnectError(`${method.name}: the REST protocol has only server-streaming calls`, Code.Unimplemented),
    async unary<I extends DescMessage, O extends DescMessage>(req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>> {
      const method = req.method;
      const response = await send(method, req.message, req.header, req.signal);
      let bytes: Uint8Array | undefined;
      try {
        bytes = await bodyWithin(response, maxReceiveBytes);
      } catch (error) {
        throw wireError(error, req.signal);
      }
      if (bytes === undefined) throw tooLargeFailure("an answer", maxReceiveBytes, response.headers);
      let json: JsonValue;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes)) as JsonValue;
      } catch {
        throw restFailure("malformed-response", "the gateway answered with a body that is not JSON", response.headers);
      }
      return {
        stream: false,
        service: method.parent,
        method,
        header: response.headers,
        trailer: new Headers(),
        message: decodeAnswer(method.output, json, "an answer", response.headers),
      };
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      req: StreamRequest<I, O>,
    ): Promise<StreamResponse<I, O>> {
      const method = req.method as DescMethodStreaming<I, O>;
      let request: MessageInitShape<I> | undefined;
      for await (const m of req.message) {
        if (request !== undefined) throw new ConnectError("a server-streaming call takes one request", Code.Internal);
        request = m;
      }
      if (request === undefined) throw new ConnectError("a server-streaming call needs a request", Code.Internal);
      const response = await send(method, request, req.header, req.signal);
      return {
        stream: true,
        service: method.parent,
        method,
        header: response.headers,
        trailer: new Headers(),
        message: readStream(method, response, req.signal, maxReceiveBytes),
      };
    },
  });
}

/**
 * The results of an NDJSON answer, one per line as it arrives. An `{"error": …}` line ends the stream with that
 * error; a line that is not a result (not JSON, not the method's message) or longer than `maxLineBytes` ends it with
 * a malformed-answer failure, never retried; a body that ends while the signal is aborted ends with the abort's
 * reason.
 */
async function* readStream<O extends DescMessage>(
  method: DescMethodStreaming<DescMessage, O>,
  response: Response,
  signal: AbortSignal,
  maxLineBytes: number,
): AsyncGenerator<ReturnType<typeof fromJson<O>>, void, undefined> {
  if (response.body === null) return;
  const headers = response.headers;
  try {
    for await (const line of ndjsonLines(response.body, maxLineBytes)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw lineError(line, "JSON", headers);
      }
      if (typeof parsed !== "object" || parsed === null) throw lineError(line, "a JSON object", headers);
      const { result, error } = parsed as { result?: JsonValue; error?: unknown };
      if (error !== undefined && error !== null) {
        throw connectErrorFromStatusJson(error, { status: 200, headers });
      }
      if (result === undefined) throw lineError(line, '{"result": …} or {"error": …}', headers);
      yield decodeAnswer(method.output, result, "a stream result", headers);
    }
  } catch (error) {
    if (error instanceof ConnectError && !signal.aborted) throw error;
    throw wireError(error, signal);
  }
}
