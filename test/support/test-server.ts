// A small Connect server for client tests that need to see or shape the exact
// wire behaviour: the headers a client sends, how many attempts arrive, a
// stream that fails before or after its first message, raw trailers. It
// speaks gRPC over plaintext HTTP/2 (h2c) on 127.0.0.1, on an ephemeral port,
// or over TLS with the test certificate.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { LabelsService } from "../../gen/clavata/gateway/v1/labels_pb.js";
import { RetryInfoSchema } from "../../src/index.js";

/** One request as the server received it. */
export interface RecordedRequest {
  /** The method name, such as "GetJob". */
  readonly method: string;
  /** The request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Answers a request by hand, below Connect (for exact trailers); return false to let Connect answer. */
export type RawHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => boolean;

/** What the test server implements. Methods left out answer UNIMPLEMENTED. */
export interface TestServerOptions {
  gateway?: Partial<ServiceImpl<typeof GatewayService>>;
  labels?: Partial<ServiceImpl<typeof LabelsService>>;
  raw?: RawHandler;
  /** Serve TLS with this certificate and key instead of h2c. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Listen on this port (default 0, an ephemeral port). */
  port?: number;
}

/** A running test server. */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** How many requests of `method` arrived. */
  count(method: string): number;
  /** HTTP/2 sessions open now. */
  openSessions(): number;
  /** HTTP/2 streams that the client reset (RST_STREAM) before the server finished them, by method. */
  readonly resets: readonly string[];
  /** HTTP/2 PING frames received from clients (keepalive). */
  pings(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a test server on 127.0.0.1. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const resets: string[] = [];
  const sessions = new Set<http2.Http2Session>();
  let pings = 0;
  const connect = connectNodeAdapter({
    routes(router) {
      router.service(GatewayService, options.gateway ?? {});
      router.service(LabelsService, options.labels ?? {});
    },
  });
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const method = req.url.split("/").pop() ?? "";
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string") headers[k.toLowerCase()] = v;
      else if (Array.isArray(v)) headers[k.toLowerCase()] = v.join(", ");
    }
    requests.push({ method, headers });
    req.stream.on("close", () => {
      // A stream the client cancelled closes with a non-zero code before the server ended it.
      if (req.stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !res.writableEnded) resets.push(method);
    });
    if (options.raw?.(req, res)) return;
    connect(req, res);
  };
  const server = options.tls
    ? http2.createSecureServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : http2.createServer(handler);
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("ping", () => void pings++);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    });
    return closed;
  };
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${String(port)}`,
    port,
    requests,
    resets,
    count: (method) => requests.filter((r) => r.method === method).length,
    openSessions: () => sessions.size,
    pings: () => pings,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = http2.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A unary handler for the test server that throws `error()` on each of its first `times` calls (default: every call),
 * then answers `afterwards()`. `calls()` says how many calls it has had.
 */
export function failing<T>(
  error: () => ConnectError,
  { times = Number.POSITIVE_INFINITY, afterwards }: { times?: number; afterwards?: () => T } = {},
): (() => T) & { calls(): number } {
  let calls = 0;
  const handler = () => {
    if (++calls <= times || afterwards === undefined) throw error();
    return afterwards();
  };
  return Object.assign(handler, { calls: () => calls });
}

/** RESOURCE_EXHAUSTED with a RetryInfo that asks the client to wait `retryDelayMs` before trying again. */
export function rateLimited(retryDelayMs: number, message = "slow down"): ConnectError {
  return new ConnectError(message, Code.ResourceExhausted, undefined, [
    { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(retryDelayMs) } },
  ]);
}
