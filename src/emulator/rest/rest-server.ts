// The emulator's REST/JSON face: an HTTP/1.1 server beside the gRPC one that
// transcodes each request by the methods' google.api.http rules (the same
// rules the client's REST transport reads) and runs it through the same
// service handlers and interceptors, in process. Answers carry the gateway's
// shapes: proto3 JSON, NDJSON streams, google.rpc.Status error bodies with
// grpc-gateway's HTTP statuses, 499 for refusals.

import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type {
  DescField,
  DescMessage,
  DescMethodStreaming,
  DescMethodUnary,
  DescService,
  JsonValue,
} from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { retryDelayHintMs } from "../../retry.js";
import { createRouteTable, requestFromHttp } from "../../transport/rest/http-rule.js";
import { httpStatusForCode } from "../../transport/rest/http-status.js";
import { statusJsonOf } from "../../transport/rest/status-body.js";
import { grpcTimeoutMs } from "../request-limits.js";
import { timerDelay } from "../timers.js";

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
    let match: ReturnType<typeof route>;
    try {
      match = route(req.method ?? "GET", url.pathname);
    } catch (error) {
      // A path variable is percent-decoded, and "%zz", a lone "%" or an escape that is not UTF-8 cannot be.
      if (!(error instanceof URIError)) throw error;
      sendError(
        res,
        new ConnectError(
          `the path ${JSON.stringify(url.pathname.slice(0, 200))} has a malformed percent-escape: each "%" must be followed by two hex digits, and the bytes they spell must be UTF-8`,
          Code.InvalidArgument,
        ),
      );
      return;
    }
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
        if (binding.body !== "*") checkEnumParameters(method.input, url.searchParams);
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
      const timeoutMs = restTimeoutMs(req.headers["grpc-timeout"]);
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

/**
 * A `grpc-timeout` header (grpc-gateway honours it) in ms: at least 1, and at most what a timer can take (about 24.8
 * days; a deadline that far out is as good as none, and a longer one would fire at once).
 */
function restTimeoutMs(value: string | string[] | undefined): number | undefined {
  const ms = grpcTimeoutMs(typeof value === "string" ? value : undefined);
  return ms === undefined ? undefined : Math.max(1, Math.ceil(timerDelay(ms)));
}

/**
 * Refuses a query parameter of an enum field whose value is neither a name nor a number of the enum, as grpc-gateway
 * does (400, INVALID_ARGUMENT). requestFromHttp reads the message ignoring unknown values, as grpc-gateway reads a
 * JSON body; in a query it would drop such a value without a word, and `?query.status=COMPLETED` (not
 * JOB_STATUS_COMPLETED) would list every job.
 */
function checkEnumParameters(schema: DescMessage, query: URLSearchParams): void {
  for (const key of new Set(query.keys())) {
    const field = queryField(schema, key);
    const desc =
      field?.fieldKind === "enum"
        ? field.enum
        : field?.fieldKind === "list" && field.listKind === "enum"
          ? field.enum
          : undefined;
    if (desc === undefined) continue;
    for (const value of query.getAll(key)) {
      const known = /^-?\d+$/.test(value)
        ? desc.values.some((v) => v.number === Number(value))
        : desc.values.some((v) => v.name === value);
      if (!known) {
        throw new HttpError(
          Code.InvalidArgument,
          `query parameter ${key}: ${JSON.stringify(value.slice(0, 64))} is not a ${desc.name}; use one of ${desc.values.map((v) => v.name).join(", ")}, or its number`,
        );
      }
    }
  }
}

/** The field a dotted query parameter names (by proto or JSON names, as requestFromHttp reads them), if any. */
function queryField(schema: DescMessage, path: string): DescField | undefined {
  let message: DescMessage | undefined = schema;
  let field: DescField | undefined;
  for (const part of path.split(".")) {
    if (message === undefined) return undefined;
    field = message.fields.find((f) => f.name === part || f.jsonName === part);
    if (field === undefined) return undefined;
    message = field.fieldKind === "message" ? field.message : undefined;
  }
  return field;
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
