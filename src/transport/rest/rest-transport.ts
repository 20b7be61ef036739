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
import { interceptedTransport } from "../intercepted.js";
import { httpBindingOf, transcodeRequest } from "./http-rule.js";
import { ndjsonLines } from "./ndjson.js";
import { connectErrorFromStatusJson } from "./status-body.js";

/** How to make a REST transport. */
export interface RestTransportOptions {
  /** The REST gateway's base URL, such as "https://gateway.app.clavata.ai:8443". */
  baseUrl: string;
  /** Interceptors to run on every call, outermost first. */
  interceptors?: Interceptor[];
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
}

// Headers that belong to gRPC and mean nothing to a REST gateway; grpc-timeout is kept (grpc-gateway reads it).
const droppedHeaders = ["te", "grpc-accept-encoding", "grpc-encoding", "content-type", "connect-protocol-version"];

/** Turns anything fetch or a body read throws into the ConnectError it stands for. */
function wireError(error: unknown, signal: AbortSignal): ConnectError {
  // An aborted fetch may reject with a generic AbortError: the signal's own reason says why (a deadline, a close).
  if (signal.aborted) return ConnectError.from(signal.reason);
  if (error instanceof ConnectError) return error;
  // fetch rejects with TypeError("fetch failed") and the socket error as cause; keep it for provablyNeverSent.
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(message, Code.Unavailable, undefined, undefined, error);
}

async function errorFromResponse(response: Response): Promise<ConnectError> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = undefined;
  }
  return connectErrorFromStatusJson(body, { status: response.status, headers: response.headers });
}

function lineError(line: string, expected: string): ConnectError {
  return new ConnectError(
    `the gateway sent a stream line that is not ${expected}: ${line.slice(0, 80)}`,
    Code.Internal,
  );
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
    if (!response.ok) throw await errorFromResponse(response);
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
      let json: JsonValue;
      try {
        json = (await response.json()) as JsonValue;
      } catch (error) {
        if (req.signal.aborted) throw wireError(error, req.signal);
        throw new ConnectError("the gateway answered with a body that is not JSON", Code.Internal);
      }
      return {
        stream: false,
        service: method.parent,
        method,
        header: response.headers,
        trailer: new Headers(),
        message: fromJson(method.output, json, { ignoreUnknownFields: true }),
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
        message: readStream(method, response, req.signal),
      };
    },
  });
}

/**
 * The results of an NDJSON answer, one per line as it arrives. An `{"error": …}` line ends the stream with that
 * error; a body that ends while the signal is aborted ends with the abort's reason.
 */
async function* readStream<O extends DescMessage>(
  method: DescMethodStreaming<DescMessage, O>,
  response: Response,
  signal: AbortSignal,
): AsyncGenerator<ReturnType<typeof fromJson<O>>, void, undefined> {
  if (response.body === null) return;
  try {
    for await (const line of ndjsonLines(response.body)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw lineError(line, "JSON");
      }
      if (typeof parsed !== "object" || parsed === null) throw lineError(line, "a JSON object");
      const { result, error } = parsed as { result?: JsonValue; error?: unknown };
      if (error !== undefined && error !== null) {
        throw connectErrorFromStatusJson(error, { status: 200, headers: response.headers });
      }
      if (result === undefined) throw lineError(line, '{"result": …} or {"error": …}');
      yield fromJson(method.output, result, { ignoreUnknownFields: true });
    }
  } catch (error) {
    if (error instanceof ConnectError && !signal.aborted) throw error;
    throw wireError(error, signal);
  }
}
