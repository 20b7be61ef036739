import { setMaxListeners } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, createConnectRouter, createContextValues } from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { BatchJobService } from "../../gen/clavata/gateway/v1/batch_pb.js";
import { GatewayService } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { LabelsService } from "../../gen/clavata/gateway/v1/labels_pb.js";
import { PolicyEngine } from "./engine.js";
import { EMULATOR_METHODS, type EmulatorMethod, type FaultInjector, type FaultRule, FaultState } from "./faults.js";
import {
  faultInterceptor,
  type KeyCheck,
  kHttp2Stream,
  requireApiKeyInterceptor,
  streamsResetByEmulator,
} from "./interceptors.js";
import { JobStore } from "./jobs.js";
import { EMULATOR_LOCAL_API_KEY } from "./local-api-key.js";
import { didYouMean } from "./nearest-word.js";
import { loadPolicyFile, type Policy } from "./policy.js";
import { type RateLimit, RateLimiter } from "./rate-limit.js";
import { clampDeadlineHeaders, limitDecompressedSize, limitRequestBody } from "./request-limits.js";
import { BatchJobStore, type BatchUpload, type BatchWebhookDelivery } from "./rest/batch-jobs.js";
import { type RestServer, startRestServer } from "./rest/rest-server.js";
import { SAMPLE_POLICIES } from "./sample-policies.js";
import { gatewayService, labelsService, runJob } from "./service.js";
import { STREAM_RESET_BURST, STREAM_RESET_RATE, streamResetFloodMessage, watchStreamResets } from "./stream-resets.js";
import { type WebhookDelivery, WebhookDispatcher, type WebhookDispatcherOptions } from "./webhook-dispatcher.js";

/** How to start the emulator. Every option has a default that suits tests. */
export interface EmulatorOptions {
  /** The address to listen on. Default "127.0.0.1". */
  host?: string;
  /** The port; 0 (the default) picks a free ephemeral port. */
  port?: number;
  /**
   * Also serve the gateway's REST/JSON surface (HTTP/1.1, plaintext) on this port, beside gRPC; 0 picks a free
   * port. Default: no REST server.
   */
  restPort?: number;
  /** The format of batch jobs' output files (REST only). Default "jsonl"; the gateway's format is not documented. */
  batchOutputFormat?: "jsonl" | "csv";
  /** How long each state of a batch job lasts before the next, in ms. Default 5. */
  batchStepDelayMs?: number;
  /** Serve HTTP/2 over TLS with this certificate and key (PEM) instead of plain HTTP/2 (h2c). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The accepted API keys. Default: any non-empty key is accepted ("open mode", logged at start). */
  apiKeys?: readonly string[];
  /** The policies to serve, or the path of a policy file. Default: the built-in sample policies. */
  policies?: readonly Policy[] | string;
  /** Content hashes ("fnv1a128::…") that are refused as CSAM matches (PRECHECK_FAILURE_TYPE_NCMEC). */
  blockedHashes?: readonly string[];
  /** How long a new job stays PENDING, then RUNNING, in milliseconds. Default 50. */
  jobDelayMs?: number;
  /** The most an Evaluate answer is held back, so answers arrive out of input order. Default 5 ms; 0 keeps input order. */
  evaluateJitterMs?: number;
  /** The largest request accepted, in bytes of content. Default 32 MiB; larger requests get INVALID_ARGUMENT. */
  maxMessageBytes?: number;
  /** A per-API-key rate limit. Default: none. */
  rateLimit?: RateLimit;
  /** Faults armed at start. */
  faults?: readonly FaultRule[];
  /** Count how many times Evaluate evaluates each content hash, in `evaluations`. Default false (it grows). */
  recordEvaluations?: boolean;
  /** Webhook delivery: attempts, backoff and timeout. */
  webhooks?: Omit<WebhookDispatcherOptions, "logger">;
  /** Where log lines go. Default: standard error, prefixed "[emulator]". `false` silences the emulator. */
  logger?: ((line: string) => void) | false;
  /**
   * How long a connection may stay silent while no call is open before the emulator closes it, in ms. Default
   * 120 000. Connections that break the HTTP/2 protocol are closed at once, whatever this says.
   */
  sessionTimeoutMs?: number;
}

/** A running emulator. */
export interface Emulator {
  /** The base URL to point a client at, such as "http://127.0.0.1:40123" ("https://…" with TLS). */
  readonly url: string;
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on. */
  readonly port: number;
  /** The REST/JSON base URL, such as "http://127.0.0.1:40124", when `restPort` was given. */
  readonly restUrl: string | undefined;
  /** The REST/JSON port, when `restPort` was given. */
  readonly restPort: number | undefined;
  /** Every webhook call of a completed batch job so far (REST only). */
  readonly batchDeliveries: readonly BatchWebhookDelivery[];
  /** Every upload to a batch job's presigned URL so far, with the header names it carried (REST only). */
  readonly batchUploads: readonly BatchUpload[];
  /** Resolves with the webhook call of a completed batch job; rejects after `timeoutMs` (default 5000). */
  waitForBatchDelivery(batchJobId: string, timeoutMs?: number): Promise<BatchWebhookDelivery>;
  /** Faults to arm at run time. */
  readonly faults: FaultInjector;
  /** Calls received per method, counted after authentication and rate limiting. */
  readonly calls: Readonly<Record<EmulatorMethod, number>>;
  /**
   * With `recordEvaluations`: how many times Evaluate evaluated each content hash (what the gateway would bill).
   * Items of a refused call, or of a call failed before it reached the policy engine, are not counted; every item
   * of a stream cut after some results is. Empty without the option.
   */
  readonly evaluations: ReadonlyMap<string, number>;
  /** Every webhook delivery attempt so far. */
  readonly deliveries: readonly WebhookDelivery[];
  /** The policy engine, for adding blocked hashes at run time. */
  readonly engine: PolicyEngine;
  /** How many HTTP/2 sessions (client connections) are open now. */
  openSessions(): number;
  /** Sets or removes (undefined) the per-key rate limit. */
  setRateLimit(limit: RateLimit | undefined): void;
  /** Resolves with the final delivery of a job's webhook; rejects after `timeoutMs` (default 5000). */
  waitForDelivery(jobUuid: string, timeoutMs?: number): Promise<WebhookDelivery>;
  /** Stops the server: ends every session and background job. Idempotent. */
  close(): Promise<void>;
  /** The same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const MiB = 1024 * 1024;
/** How often an idle connection is probed with a PING, at most, in ms. */
const PROBE_INTERVAL_MS = 5000;

/**
 * The largest request header block accepted, in RFC 9113's measure (section 6.5.2: each field's name and value
 * octets, plus 32), advertised as SETTINGS_MAX_HEADER_LIST_SIZE. Without it a server advertises no limit, yet Node
 * still had two: 128 fields (maxHeaderListPairs), past which it resets the stream with ENHANCE_YOUR_CALM, which gRPC
 * clients report as RESOURCE_EXHAUSTED (the rate-limit code, which they retry); and nghttp2's HPACK decoder takes no
 * name or value longer than 64 KiB, and fails the whole connection (COMPRESSION_ERROR) on a longer one, killing every
 * call on it (RFC 9113 makes a field block that cannot be decoded a connection error). 64 KiB is the most that keeps
 * every field under that ceiling (grpc-go advertises 16 MiB, grpc-java 8 KiB). A client that honours the setting
 * (grpc-go) refuses an oversized call itself, with a clear message; one that does not (grpcio 1.51, grpc-js) gets
 * only its stream reset (ENHANCE_YOUR_CALM: Node resets it before the application sees it, so no status can be
 * sent), unless one field alone is over 64 KiB as sent, which no server setting can save.
 * @internal
 */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;
/** Every field counts at least 32 octets, so this many never fit in MAX_HEADER_LIST_SIZE: the size is the limit. */
const MAX_HEADER_LIST_PAIRS = MAX_HEADER_LIST_SIZE / 32;

/** The request encodings accepted, for grpc-accept-encoding. */
const ACCEPT_COMPRESSION = [compressionGzip, compressionBrotli];

/**
 * Starts a local stand-in for the Clavata gateway: GatewayService and LabelsService over HTTP/2, speaking the gRPC,
 * gRPC-Web and Connect protocols, with a deterministic policy engine, background jobs, webhooks, a rate limit and
 * fault injection. It never contacts an address outside the loopback range.
 *
 * @throws Error when the policy file cannot be read or is invalid, or the port cannot be bound.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? "127.0.0.1";
  const log =
    options.logger === false ? () => {} : (options.logger ?? ((line: string) => console.error(`[emulator] ${line}`)));
  const policies =
    typeof options.policies === "string"
      ? await loadPolicyFile(options.policies)
      : (options.policies ?? SAMPLE_POLICIES);
  const maxMessageBytes = options.maxMessageBytes ?? 32 * MiB;

  const engine = new PolicyEngine({ policies, blockedHashes: options.blockedHashes ?? [] });
  const webhooks = new WebhookDispatcher({ ...options.webhooks, logger: log });
  const jobs = new JobStore({
    delayMs: options.jobDelayMs ?? 50,
    run: (job) => runJob(engine, job),
    onFinished: (job, webhook, reason) => {
      if (reason !== undefined) log(`job ${job.jobUuid} failed: ${reason}`);
      if (webhook) void webhooks.deliver(job, webhook);
    },
  });

  const keys: KeyCheck =
    options.apiKeys === undefined
      ? { open: true }
      : { open: false, keys: new Set(options.apiKeys.filter((k) => k !== "")) };
  let limiter = options.rateLimit ? new RateLimiter(options.rateLimit) : undefined;
  const calls = Object.fromEntries(EMULATOR_METHODS.map((m) => [m, 0])) as Record<EmulatorMethod, number>;
  const sessions = new Set<http2.ServerHttp2Session>();
  const faults = new FaultState(() => {
    for (const session of sessions) {
      session.goaway(http2.constants.NGHTTP2_NO_ERROR);
      session.close();
    }
  });
  const shutdown = new AbortController();
  // Every call in flight listens for shutdown; many concurrent calls are normal here, not a leak.
  setMaxListeners(Number.POSITIVE_INFINITY, shutdown.signal);
  const evaluations = new Map<string, number>();
  const deps = {
    engine,
    jobs,
    maxMessageBytes,
    evaluateJitterMs: options.evaluateJitterMs ?? 5,
    onEvaluated: options.recordEvaluations
      ? (hashes: readonly string[]) => {
          for (const hash of hashes) evaluations.set(hash, (evaluations.get(hash) ?? 0) + 1);
        }
      : undefined,
  };

  const routes = (router: ConnectRouter) => {
    router.service(GatewayService, gatewayService(deps));
    router.service(LabelsService, labelsService(deps));
  };
  // Interceptors run last-to-first: authentication first, then rate limit and faults.
  const interceptors = [requireApiKeyInterceptor(keys), faultInterceptor(faults, () => limiter, calls)];
  // The content check in the handlers gives the clear INVALID_ARGUMENT; this is only a hard ceiling on a message
  // (room for the encoding: JSON, base64), and a request over it gets INVALID_ARGUMENT too (request-limits.ts).
  const readMaxBytes = maxMessageBytes * 2 + MiB;
  // What connectNodeAdapter does, plus the request checks it has no hook for: a deadline clamped to what a timer
  // can take, and an oversize message refused as INVALID_ARGUMENT before Connect reads it.
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: true,
    connect: true,
    readMaxBytes,
    acceptCompression: ACCEPT_COMPRESSION.map((c) => limitDecompressedSize(c, maxMessageBytes)),
    shutdownSignal: shutdown.signal,
    interceptors,
  });
  routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));

  const serve = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    writeGrpcMessagesAsWritten(res);
    // The answer ends with its trailers, which Node's compatibility layer sends when the stream asks for them. The
    // reset waits a turn of the event loop: submitted in the same turn it went out first, and the trailers were lost.
    if ("stream" in req) req.stream.once("wantTrailers", () => setImmediate(endUnreadRequest, req));
    const path = req.url.split("?", 1)[0] ?? "";
    const grpc = isGrpcContentType(req.headers["content-type"]);
    // The gRPC compression spec: a server says which request encodings it takes, at the least when it refuses one
    // with UNIMPLEMENTED. Connect puts it only in that error's metadata, which it then drops (a protocol header is
    // not copied into trailers); here it goes on every gRPC and gRPC-Web answer, as grpc-go and grpc-java send it.
    if (grpc) res.setHeader("grpc-accept-encoding", ACCEPT_COMPRESSION.map((c) => c.name).join(","));
    const handler = handlers.get(path);
    if (handler === undefined) {
      // A gRPC server answers an unknown method with status UNIMPLEMENTED (HTTP 200, trailers only); a bare 404
      // reaches gRPC clients as a transport error, with nothing from the server to say what was wrong.
      if (grpc) unknownGrpcMethod(req, res, path, handlers.keys());
      else res.writeHead(404).end();
      return;
    }
    const contextValues = createContextValues().set(kHttp2Stream, "stream" in req ? req.stream : undefined);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
    clampDeadlineHeaders(uReq.header);
    limitRequestBody(uReq, readMaxBytes, maxMessageBytes);
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // Aborted: the client went away while the answer was being written.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        log(`the ${handler.method.name} handler failed: ${reason instanceof Error ? reason.message : String(reason)}`);
      });
  };
  // nghttp2's rapid-reset protection (CVE-2023-44487) at its own defaults, given here so that the emulator's count
  // of resets (watchStreamResets) uses the same numbers. Raising them would weaken the protection.
  // The request header limits (see MAX_HEADER_LIST_SIZE) are the same for both.
  const limits = {
    streamResetBurst: STREAM_RESET_BURST,
    streamResetRate: STREAM_RESET_RATE,
    maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    settings: { maxHeaderListSize: MAX_HEADER_LIST_SIZE },
  };
  const server = options.tls
    ? http2.createSecureServer(
        { cert: options.tls.cert, key: options.tls.key, allowHTTP1: true, ...limits } as http2.SecureServerOptions,
        serve,
      )
    : http2.createServer(limits as http2.ServerOptions, serve);
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 120_000;
  /** Sessions that nghttp2 ended for resetting too many streams, already logged as such. */
  const resetFloods = new WeakSet<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    let openStreams = 0;
    session.on("stream", (stream) => {
      openStreams++;
      stream.once("close", () => openStreams--);
    });
    session.on("close", () => sessions.delete(session));
    // Many cancelled calls in a short time make nghttp2 end the connection as a rapid-reset attack; say so, rather
    // than the "Protocol error" that Node reports for it (logged below as a broken protocol).
    watchStreamResets(
      session,
      (stream) => streamsResetByEmulator.has(stream),
      (resets) => {
        resetFloods.add(session);
        log(streamResetFloodMessage(resets));
      },
    );
    // A session must end with its socket: a peer that breaks the protocol or vanishes would otherwise keep the
    // session, and its file descriptor, forever.
    session.socket?.once("close", () => session.destroy());
    // A client that misbehaves at the HTTP/2 level must not crash the emulator, and must not keep its connection.
    // (The server's "sessionError" event logs it.)
    session.on("error", () => session.destroy());
    session.on("frameError", () => session.destroy());
    // A connection that broke the protocol gets a GOAWAY from nghttp2, which then stops reading it: no event ever
    // fires, not even when the peer hangs up. So an idle connection is probed with a PING; no answer within the
    // probe interval means it is dead, and it is destroyed. A live one that stays idle past sessionTimeoutMs is
    // closed gracefully. A call may be long and quiet (wait_for_completion), so a connection with calls is left be.
    const probeMs = Math.min(PROBE_INTERVAL_MS, sessionTimeoutMs);
    let idleSince = Date.now();
    session.on("stream", (stream) => stream.once("close", () => (idleSince = Date.now())));
    session.setTimeout(probeMs, () => {
      if (openStreams > 0 || session.destroyed) return;
      if (Date.now() - idleSince >= sessionTimeoutMs) {
        session.close();
        return;
      }
      const dead = setTimeout(() => session.destroy(), probeMs);
      dead.unref();
      try {
        session.ping((err) => {
          clearTimeout(dead);
          if (err) session.destroy();
        });
      } catch {
        clearTimeout(dead);
        session.destroy();
      }
    });
  });
  server.on("sessionError", (err: Error & { code?: string }, session?: http2.ServerHttp2Session) => {
    if (session !== undefined && resetFloods.has(session)) return; // said above, truthfully
    if (!isNormalDisconnect(err)) log(`closed a connection that broke the HTTP/2 protocol: ${err.message}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log(`server error: ${err.message}`));
  for (const rule of options.faults ?? []) faults.arm(rule);

  let rest: RestServer | undefined;
  let restUrl = "";
  // Batch jobs exist on the REST surface only, as on the gateway.
  const batchJobs = new BatchJobStore({
    engine,
    baseUrl: () => restUrl,
    stepDelayMs: options.batchStepDelayMs ?? 5,
    outputFormat: options.batchOutputFormat ?? "jsonl",
    log,
  });
  if (options.restPort !== undefined) {
    try {
      rest = await startRestServer({
        host,
        port: options.restPort,
        services: [GatewayService, LabelsService, BatchJobService],
        routes: (router) => {
          routes(router);
          router.service(BatchJobService, batchJobs.service());
        },
        raw: (req, res, url) => batchJobs.handleRaw(req, res, url),
        interceptors,
        maxBodyBytes: maxMessageBytes * 2 + MiB,
        log,
      });
    } catch (error) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw error;
    }
    restUrl = rest.url;
  }

  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  log(`listening on ${url} (gRPC, gRPC-Web and Connect over HTTP/2${options.tls ? " with TLS" : ", plaintext h2c"})`);
  log(
    keys.open
      ? `open mode: any non-empty API key is accepted (local tools send ${EMULATOR_LOCAL_API_KEY})`
      : `${keys.keys.size} API key(s) accepted`,
  );
  log(`policies: ${policies.map((p) => p.id).join(", ")}`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shutdown.abort(new ConnectError("the emulator is stopping", Code.Unavailable));
      jobs.close();
      webhooks.close();
      batchJobs.close();
      const restClosed = rest?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const sessionsClosed = [...sessions].map((session) => new Promise((resolve) => session.once("close", resolve)));
      for (const session of sessions) session.close();
      // Sessions with calls still open get a moment to finish, then are cut.
      const grace = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, 1000);
      await Promise.all([closed, restClosed, ...sessionsClosed]);
      clearTimeout(grace);
      log("stopped");
    })();
    return closing;
  };

  return {
    url,
    host,
    port,
    restUrl: rest?.url,
    restPort: rest?.port,
    batchDeliveries: batchJobs.deliveries,
    batchUploads: batchJobs.uploads,
    waitForBatchDelivery: (batchJobId, timeoutMs) => batchJobs.waitForDelivery(batchJobId, timeoutMs),
    faults,
    calls,
    evaluations,
    get deliveries() {
      return webhooks.deliveries;
    },
    engine,
    openSessions: () => sessions.size,
    setRateLimit(limit) {
      limiter = limit ? new RateLimiter(limit) : undefined;
    },
    waitForDelivery: (jobUuid, timeoutMs) => webhooks.waitForDelivery(jobUuid, timeoutMs),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Whether a session error is only a client going away: it closed the connection with NO_ERROR or CANCEL (as
 * Connect's session manager and grpc-js do), or the socket was reset. Not worth a log line.
 */
function isNormalDisconnect(err: Error & { code?: string }): boolean {
  if (err.code === "ECONNRESET" || err.code === "EPIPE") return true;
  if (err.code !== "ERR_HTTP2_SESSION_ERROR") return false;
  const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;
  return (
    err.message.endsWith(`code ${String(NGHTTP2_CANCEL)}`) || err.message.endsWith(`code ${String(NGHTTP2_NO_ERROR)}`)
  );
}

/**
 * Re-encodes `grpc-message` as the gRPC spec asks: percent-encode only "%" and bytes outside printable ASCII.
 * Connect encodes it with encodeURIComponent, which also encodes ";", ":" and ","; grpc-js decodes with decodeURI,
 * which leaves those escaped, so its users would read "not found%3B this emulator has%3A …". Connect clients
 * decode either form. Done on the response object, so Connect itself is not patched.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const char of message) {
    const code = char.codePointAt(0)!;
    out += code >= 0x20 && code <= 0x7e && char !== "%" ? char : encodeURIComponent(char);
  }
  return out;
}

function reencodeGrpcMessage(headers: unknown): void {
  if (headers === null || typeof headers !== "object") return;
  const record = headers as Record<string, unknown>;
  const value = record["grpc-message"];
  if (typeof value !== "string") return;
  try {
    record["grpc-message"] = encodeGrpcMessage(decodeURIComponent(value));
  } catch {
    // Not valid percent-encoding: leave it as Connect wrote it.
  }
}

/** Whether a request's content type is gRPC's or gRPC-Web's ("application/grpc", "application/grpc-web+proto", …). */
function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(?:-web(?:-text)?)?(?:[+;]|$)/i.test(contentType);
}

/** BatchJobService's methods: the gateway serves them on its REST surface only. */
const BATCH_SERVICE_PREFIX = `/${BatchJobService.typeName}/`;

/**
 * Answers a gRPC (or gRPC-Web) request for a method the emulator does not serve as a gRPC server does: HTTP 200,
 * trailers only, grpc-status UNIMPLEMENTED (12) and a message that says what is served.
 */
function unknownGrpcMethod(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  path: string,
  served: Iterable<string>,
): void {
  const known = [...served];
  // The path is the client's: shown shortened, and compared with the served ones only when it is short enough.
  const shown = path.length > 200 ? `${path.slice(0, 197)}...` : path;
  const hint = path.length > 200 ? "" : didYouMean(path, known);
  const message = path.startsWith(BATCH_SERVICE_PREFIX)
    ? `${shown}: ${BatchJobService.typeName} exists only on the gateway's REST surface (/v1/batch-jobs), not over gRPC; start the emulator with restPort and call it there`
    : `unknown method ${shown}${hint}; this emulator serves ${known.join(", ")}`;
  const headers = {
    "content-type": req.headers["content-type"] ?? "application/grpc",
    "grpc-accept-encoding": res.getHeader("grpc-accept-encoding") ?? "",
    "grpc-status": String(Code.Unimplemented),
    "grpc-message": encodeGrpcMessage(message),
  };
  if ("stream" in req) {
    // Trailers-Only, as the gRPC spec has it: one HEADERS frame that ends the stream. Node's compatibility layer
    // would end the stream with an empty DATA frame instead, and grpcio takes a status in headers followed by that
    // for a broken stream ("Stream removed", UNKNOWN). The body, unread, is cut off as in endUnreadRequest.
    if (!req.stream.destroyed) req.stream.respond({ ":status": 200, ...headers }, { endStream: true });
    setImmediate(endUnreadRequest, req);
    return;
  }
  // gRPC-Web over HTTP/1.1 (with TLS): a status in the headers and no body is its trailers-only answer.
  res.writeHead(200, headers).end();
}

/**
 * Ends the stream of a request whose answer is complete but whose body the client is still sending, such as a
 * message refused by the length in its prefix: RST_STREAM with NO_ERROR, which RFC 9113 (section 8.1) gives a server
 * for exactly this, so the client stops sending and keeps the answer. Without it a client that writes its whole body
 * before it reads would wait forever on a flow-control window that nobody opens.
 */
function endUnreadRequest(req: http2.Http2ServerRequest): void {
  if (!("stream" in req) || req.complete) return;
  const stream = req.stream;
  if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** Wraps the two calls through which Connect writes a status (headers for trailers-only answers, then trailers). */
function writeGrpcMessagesAsWritten(res: http2.Http2ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http2.Http2ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    for (const arg of args) reencodeGrpcMessage(arg);
    return writeHead(...args);
  }) as typeof res.writeHead;
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (trailers) => {
    reencodeGrpcMessage(trailers);
    addTrailers(trailers);
  };
}
