// The emulator's REST/JSON face: an HTTP/1.1 server beside the gRPC one that
// transcodes each request by the methods' google.api.http rules (the same
// rules the client's REST transport reads) and runs it through the same
// service handlers and interceptors, in process. Answers carry the gateway's
// shapes: proto3 JSON, NDJSON streams, google.rpc.Status error bodies with
// grpc-gateway's HTTP statuses, 499 for refusals.

import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { DescMethodStreaming, DescMethodUnary, DescService, JsonValue } from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { retryDelayHintMs } from "../../retry.js";
import { createRouteTable, requestFromHttp } from "../../transport/rest/http-rule.js";
import { httpStatusForCode } from "../../transport/rest/http-status.js";
import { statusJsonOf } from "../../transport/rest/status-body.js";

/** grpc-gateway's default marshaler writes every field, set or not (EmitUnpopulated), as the reference shows. */
const GATEWAY_JSON = { alwaysEmitImplicit: true } as const;

/** A request the REST server answers itself rather than through a service (the batch-job file URLs). @private */
export type RawHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;

/** How to start the REST face. @private */
export interface RestServerOptions {
  host: string;
  port: number;
  /** The services to serve; each method is reachable by its google.api.http rule. */
  services: readonly DescService[];
  /** Registers the service implementations, as for the gRPC server. */
  routes: (router: ConnectRouter) => void;
  /** The gRPC server's interceptors (authentication, rate limit, faults), run the same way here. */
  interceptors: Interceptor[];
  /** The largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Handlers tried before the service routes, such as the presigned upload URL. */
  raw?: RawHandler;
  log: (line: string) => void;
}

/** A running REST face. @private */
export interface RestServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
  }
}

/** Starts the REST face; resolves once it listens. @private */
export async function startRestServer(options: RestServerOptions): Promise<RestServer> {
  const route = createRouteTable(options.services);
  // Answers go through the Connect protocol in memory, so every interceptor and handler runs exactly as over gRPC.
  const transport = createRouterTransport(options.routes, { router: { interceptors: options.interceptors } });
  const shutdown = new AbortController();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log(`REST handler error: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendError(res, new ConnectError("internal error", Code.Internal));
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    if (options.raw && (await options.raw(req, res, url))) return;
    const match = route(req.method ?? "GET", url.pathname);
    if (match === undefined) {
      sendError(res, new ConnectError(`no REST route for ${req.method} ${url.pathname}`, Code.NotFound));
      return;
    }
    const { binding, pathParams } = match;
    const method = binding.method;
    // The call ends when the client goes away or the emulator stops.
    const controller = new AbortController();
    const onGone = () => {
      if (!res.writableFinished) controller.abort(new ConnectError("the client went away", Code.Canceled));
    };
    res.once("close", onGone);
    const onShutdown = () => controller.abort(new ConnectError("the emulator is stopping", Code.Unavailable));
    shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    try {
      let message: ReturnType<typeof requestFromHttp>;
      try {
        const body = binding.body === "" ? undefined : await readJsonBody(req, options.maxBodyBytes);
        message = requestFromHttp(binding, method.input, pathParams, url.searchParams, body);
      } catch (error) {
        if (error instanceof HttpError) throw new ConnectError(error.message, error.code);
        throw new ConnectError(
          `bad request: ${error instanceof Error ? error.message : String(error)}`,
          Code.InvalidArgument,
        );
      }
      const headers = forwardedHeaders(req);
      const timeoutMs = grpcTimeoutMs(req.headers["grpc-timeout"]);
      if (method.methodKind === "server_streaming") {
        await answerStream(res, method as DescMethodStreaming, message, headers, timeoutMs, controller.signal);
      } else if (method.methodKind === "unary") {
        const answer = await transport.unary(method as DescMethodUnary, controller.signal, timeoutMs, headers, message);
        sendJson(res, 200, toJson(method.output, answer.message, GATEWAY_JSON));
      } else {
        throw new ConnectError(`${method.name} is not served over REST`, Code.Unimplemented);
      }
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, ConnectError.from(error));
    } finally {
      res.off("close", onGone);
      shutdown.signal.removeEventListener("abort", onShutdown);
    }
  }

  /**
   * Streams an answer as NDJSON. An error before the first result is an HTTP status with a Status body; after it,
   * an `{"error": …}` line under the 200 already sent. Each line waits for the socket to drain, so a slow reader
   * holds the handler back.
   */
  async function answerStream(
    res: http.ServerResponse,
    method: DescMethodStreaming,
    message: ReturnType<typeof requestFromHttp>,
    headers: Headers,
    timeoutMs: number | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const answer = await transport.stream(method, signal, timeoutMs, headers, createAsyncIterable([message]));
    const it = answer.message[Symbol.asyncIterator]();
    const first = await it.next();
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    let next = first;
    try {
      while (next.done !== true) {
        const line = `${JSON.stringify({ result: toJson(method.output, next.value, GATEWAY_JSON) })}\n`;
        if (!res.write(line)) await once(res, "drain", { signal });
        next = await it.next();
      }
    } catch (error) {
      if (signal.aborted) {
        res.destroy();
        return;
      }
      res.write(`${JSON.stringify({ error: statusJsonOf(ConnectError.from(error)) })}\n`);
    } finally {
      await it.return?.();
    }
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  options.log(`REST/JSON on ${url} (HTTP/1.1, plaintext)`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Streams still open get a moment to end, then are cut.
        const grace = setTimeout(() => server.closeAllConnections(), 1000);
        await closed;
        clearTimeout(grace);
      })();
      return closing;
    },
  };
}

/** The request headers a handler or interceptor reads: authorization and the client's identification. */
function forwardedHeaders(req: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const name of ["authorization", "x-clavata-client", "user-agent"]) {
    const value = req.headers[name];
    if (typeof value === "string") headers.set(name, value);
  }
  return headers;
}

/** A `grpc-timeout` header (grpc-gateway honours it) in ms. */
function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"];
  return Math.max(1, Math.ceil(Number(m[1]) * unit));
}

async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<JsonValue | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new HttpError(Code.InvalidArgument, `the request body is over ${String(maxBytes)} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new HttpError(Code.InvalidArgument, "the request body is not JSON");
  }
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  body: JsonValue,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Answers an error as the gateway does: grpc-gateway's HTTP status for the code and a google.rpc.Status body (for a
 * refusal, 499 and PrecheckFailure details). A 429 or 503 with a RetryInfo hint also gets a Retry-After header.
 * @private
 */
export function sendError(res: http.ServerResponse, error: ConnectError): void {
  const status = httpStatusForCode(error.code);
  const headers: Record<string, string> = {};
  const hintMs = error.findDetails(RetryInfoSchema).length > 0 ? retryDelayHintMs(error) : undefined;
  if ((status === 429 || status === 503) && hintMs !== undefined) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(hintMs / 1000)));
  }
  sendJson(res, status, statusJsonOf(error), headers);
}
