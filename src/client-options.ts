// The options of a ClavataClient, their defaults, and their resolution from
// the options object and the environment into one checked configuration.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { MAX_TIMER_MS } from "./deadlines.js";
import { AuthenticationError, type InvalidRequestError } from "./errors.js";
import { isHeaderValue, MAX_HEADER_VALUE_LENGTH, reservedHeaderProblem } from "./http-headers.js";
import { type ClavataLogger, type LogLevel, MIN_REDACTED_KEY_LENGTH } from "./logging.js";
import { isLoopbackHost } from "./loopback.js";
import { generatedCodecsFromEnv } from "./message-codec.js";
import { DEFAULT_RETRY_OPTIONS, type ResolvedRetryOptions } from "./retry.js";
import { describeType, invalidField, isPlainObject } from "./validation/invalid.js";
import { type RequestLimits, type ResolvedRequestLimits, resolveRequestLimits } from "./validation/limits.js";

/** The gateway's host, used unless `host` or `baseUrl` says otherwise. */
export const DEFAULT_HOST = "gateway.app.clavata.ai";
/** The gateway's port, used unless `port` or `baseUrl` says otherwise. */
export const DEFAULT_PORT = 443;
/** The REST gateway's port (`protocol: "rest"`), used unless `port` or `baseUrl` says otherwise. */
export const DEFAULT_REST_PORT = 8443;
/** The environment variable that holds the API key when `apiKey` is not given. */
export const API_KEY_ENV = "CLAVATA_API_KEY";
/** A call's default overall time limit, in ms. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** TLS settings for the connection to the gateway (PEM strings or Buffers). */
export interface ClavataTlsOptions {
  /** Trusted CA certificates, replacing Node.js's default list; for a gateway behind a private CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** A client certificate, for mutual TLS; needs `key`. */
  cert?: string | Buffer;
  /** The client certificate's private key; needs `cert`. */
  key?: string | Buffer;
  /** The name to verify the server certificate against, when it differs from the host. */
  servername?: string;
}

/**
 * HTTP/2 keepalive of the client's connections. PINGs are sent every `pingIntervalMs` only while calls are open
 * (unless `pingIdleConnection`); a connection that does not answer one within `pingTimeoutMs` is closed and its
 * calls fail with ConnectionError. (The "connect-node" transport also restarts the interval whenever data arrives.)
 */
export interface ClavataKeepaliveOptions {
  /**
   * How often to PING a connection with open calls and no incoming data, in ms. Default 300 000 (5 minutes), the
   * shortest interval that common gRPC servers accept without answering "too many pings". At most 2 147 483 647
   * (about 24.8 days, the longest timer); `Infinity` never PINGs.
   */
  pingIntervalMs?: number;
  /**
   * How long to wait for a PING answer before the connection counts as dead, in ms. Default 20 000; at most
   * 2 147 483 647.
   */
  pingTimeoutMs?: number;
  /** Whether to PING an idle connection too. Default false. */
  pingIdleConnection?: boolean;
  /**
   * Close the connection after this long without calls, in ms; the next call reconnects. Default 900 000; at most
   * 2 147 483 647, or `Infinity` to keep it open.
   */
  idleConnectionTimeoutMs?: number;
}

/** Backoff between retries. */
export interface ClavataRetryBackoffOptions {
  /**
   * The backoff cap of the first retry, in ms; each further retry doubles it ("full jitter"). Default 250; at most
   * 2 147 483 647.
   */
  initialDelayMs?: number;
  /**
   * The largest backoff cap, in ms. Default 10 000; at most 2 147 483 647. A gateway's retry delay hint is honoured
   * even when longer.
   */
  maxDelayMs?: number;
}

/** How to build a ClavataClient. Every option is optional when CLAVATA_API_KEY is set. */
export interface ClavataClientOptions {
  /**
   * How to talk to the gateway: "grpc" (the default; gRPC over one HTTP/2 connection, port 443) or "rest" (the
   * gateway's REST/JSON surface over fetch, port 8443: runs in edge runtimes without HTTP/2, and has batch jobs).
   * With "rest", `tls` and `keepalive` do not apply.
   */
  protocol?: "grpc" | "rest";
  /** The API key. Default: the CLAVATA_API_KEY environment variable. Never logged or put in an error. */
  apiKey?: string;
  /** The gateway host. Default "gateway.app.clavata.ai". Ignored when `baseUrl` is given. */
  host?: string;
  /** The gateway port. Default 443 (8443 with `protocol: "rest"`). Ignored when `baseUrl` is given. */
  port?: number;
  /**
   * The gateway's URL, such as "https://gateway.example.com:8443" or "http://127.0.0.1:50051"; overrides `host` and
   * `port`. An http:// URL needs `insecure: true`.
   */
  baseUrl?: string;
  /**
   * Speak plaintext HTTP/2 (h2c) instead of TLS. Default false. Allowed only for a loopback host (localhost,
   * 127.0.0.0/8, ::1) unless `allowInsecureRemote` is also true.
   */
  insecure?: boolean;
  /** Allow `insecure` for a host that is not loopback, sending the API key in the clear. Default false. */
  allowInsecureRemote?: boolean;
  /** TLS settings: CA, client certificate and key. */
  tls?: ClavataTlsOptions;
  /**
   * A call's overall time limit in ms, including every retry and the waits between them; for `evaluate`, the
   * whole stream. Default 60 000. `Infinity` removes the limit. Per call: `{ timeoutMs }`.
   */
  timeoutMs?: number;
  /**
   * The time limit of each attempt in ms, within `timeoutMs`; an attempt that runs out of it is retried like an
   * UNAVAILABLE answer (CreateJob excepted). Default: none (an attempt may use all the time left).
   */
  attemptTimeoutMs?: number;
  /** How many times to retry RESOURCE_EXHAUSTED and UNAVAILABLE after the first attempt. Default 2; 0 disables. */
  maxRetries?: number;
  /** Backoff between retries. */
  retryBackoff?: ClavataRetryBackoffOptions;
  /** HTTP/2 keepalive of the pooled connection. */
  keepalive?: ClavataKeepaliveOptions;
  /** Where to log. Default: nowhere. */
  logger?: ClavataLogger;
  /** The least severe level to log. Default "info" (retries and warnings; "debug" adds every call). */
  logLevel?: LogLevel;
  /** Headers to send with every call. `authorization` and protocol headers are the client's own. */
  headers?: Record<string, string>;
  /** Connect interceptors to run on every attempt, after the client's own (auth, identification, logging). */
  interceptors?: Interceptor[];
  /**
   * How calls travel. Default `"grpc"`: the client's own gRPC transport on `node:http2` (the fastest, with a
   * connection pool, keepalive and proxy support). `"connect-node"`: Connect-node's gRPC transport
   * (`createGrpcTransport` from @connectrpc/connect-node) over one HTTP/2 connection, the alternative if you
   * depend on its behaviour. Or your own Connect transport: the connection options above are then ignored, and
   * `close()` leaves it alone. The client adds its auth, identification, retries and logging in every case.
   */
  transport?: Transport | "grpc" | "connect-node";
  /**
   * An HTTP CONNECT proxy for the gRPC transport, such as "http://proxy.internal:3128" (credentials in the URL
   * are sent as Proxy-Authorization), or false for none. Default: grpc_proxy, https_proxy or HTTPS_PROXY from the
   * environment (http_proxy / HTTP_PROXY for a plaintext gateway), unless NO_PROXY lists the host; a loopback
   * gateway is never proxied by the environment. Not used by the "connect-node" transport, nor by protocol
   * "rest" (whose requests go through `fetch`: pass one that uses the proxy as the `fetch` option); a proxy URL
   * given with either is refused.
   */
  proxy?: string | false;
  /**
   * The fetch that protocol "rest" sends its calls and batch-job transfers through, such as one whose dispatcher
   * goes through an egress proxy, or one that instruments requests. Default: the global fetch. Refused with
   * protocol "grpc".
   */
  fetch?: typeof globalThis.fetch;
  /**
   * The largest response message the client accepts, in bytes (over REST: one answer body, or one line of a
   * streamed answer); a larger one fails the call (ServerError) before it is buffered. Default 4 MiB (4 194 304),
   * gRPC's usual limit.
   */
  maxReceiveMessageBytes?: number;
  /**
   * What a request is checked against before it is sent: its size (default 16 MiB) and items per call (default
   * 10 000), and the gateway's own rules (10 label ids per call, page size up to 1000, UUID job ids), which you can
   * relax here if the gateway changes them.
   */
  limits?: RequestLimits;
  /**
   * Decode and encode the gateway's messages with the generated codecs, which give exactly what protobuf-es gives,
   * faster.
   * Default true, unless the CLAVATA_GENERATED_CODECS environment variable is "0" (or "false", "off", "no");
   * false falls back to protobuf-es (please report the difference that made you need it). Used by the client's own
   * gRPC transport; a custom `transport` serialises as it likes.
   */
  generatedCodecs?: boolean;
}

/** A call's options. */
export interface CallOptions {
  /** Aborts the call at once, also during a wait between retries; the call throws AbortedError. */
  signal?: AbortSignal;
  /** This call's overall time limit in ms, including retries. Default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /** This call's per-attempt time limit in ms. Default: the client's `attemptTimeoutMs`. */
  attemptTimeoutMs?: number;
  /** This call's retries. Default: the client's `maxRetries`. */
  maxRetries?: number;
  /** Extra headers for this call. */
  headers?: Record<string, string>;
}

/** The client's configuration after defaults and checks; holds no secret. @internal */
export interface ResolvedClientOptions {
  readonly protocol: "grpc" | "rest";
  readonly baseUrl: string;
  readonly insecure: boolean;
  readonly tls: ClavataTlsOptions | undefined;
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number | undefined;
  readonly retry: ResolvedRetryOptions;
  readonly keepalive: Required<ClavataKeepaliveOptions>;
  readonly logLevel: LogLevel;
  readonly headers: Readonly<Record<string, string>>;
  readonly customTransport: boolean;
  readonly limits: ResolvedRequestLimits;
  /** Which transport the client makes for itself ("custom" when the caller passed one). */
  readonly transport: "grpc" | "connect-node" | "custom";
  /** The proxy option as given (resolved against the environment by the transport). */
  readonly proxy: string | false | undefined;
  /** The fetch of protocol "rest"; undefined for the global one. */
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly maxReceiveMessageBytes: number;
  readonly generatedCodecs: boolean;
}

/** The options object's field path: "options.timeoutMs". */
function invalidOption(message: string, field: string): InvalidRequestError {
  return invalidField(message, field === "" ? "options" : `options.${field}`);
}

/** How a bad option value reads in a message: its type, and the value itself only for numbers and short strings. */
function shown(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string" && value.length <= 40 && /^[\x20-\x7e]*$/.test(value)) {
    return `a string (${JSON.stringify(value)})`;
  }
  return describeType(value);
}

/**
 * Checks a count or duration option: a finite number from min to max (or Infinity when allowed, whatever max is).
 * `field` is the path below the options object ("timeoutMs", "keepalive.pingTimeoutMs"). Throws
 * InvalidRequestError naming the type.
 * @internal
 */
export function checkNumber(
  value: unknown,
  field: string,
  {
    min = 0,
    max = Number.POSITIVE_INFINITY,
    integer = false,
    infinite = false,
  }: { min?: number; max?: number; integer?: boolean; infinite?: boolean } = {},
): void {
  if (value === undefined) return;
  const ok =
    typeof value === "number" &&
    !Number.isNaN(value) &&
    value >= min &&
    (Number.isFinite(value) ? value <= max && (!integer || Number.isInteger(value)) : infinite && value > 0);
  if (!ok) {
    const kind = integer ? "a whole number" : "a number";
    const range = Number.isFinite(max) ? `from ${String(min)} to ${String(max)}` : `of at least ${String(min)}`;
    throw invalidOption(
      `${field} is ${shown(value)}; pass ${kind} ${range}${infinite ? " (or Infinity for no limit)" : ""}`,
      field,
    );
  }
}

function checkBoolean(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw invalidOption(`${field} is ${shown(value)}; pass true or false`, field);
  }
}

function checkString(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== "string") {
    throw invalidOption(`${field} is ${describeType(value)}; pass a string`, field);
  }
}

/** An object option (tls, keepalive, …): undefined, or a plain object whose keys are all known. */
function checkObjectOption(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    throw invalidOption(
      `${field === "" ? "the options are" : `${field} is`} ${describeType(value)}; pass a plain object with ${keys.join(", ")}`,
      field,
    );
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      const at = field === "" ? key : `${field}.${key}`;
      throw invalidOption(`${at} is not an option; the options are ${keys.join(", ")}`, at);
    }
  }
  return value as Record<string, unknown>;
}

function isPem(value: unknown): boolean {
  return typeof value === "string" || value instanceof Uint8Array; // a Buffer is a Uint8Array
}

/**
 * Checks caller headers (client-wide or per call): legal names, none that the transport or the client owns
 * (pseudo and hop-by-hop headers, authorization, content-type, te, grpc-*), string values without CR, LF or
 * non-ASCII, at most 8 KiB each. `field` is the path below the options object. Throws InvalidRequestError; the
 * message never repeats a header value.
 * @internal
 */
export function checkHeaders(headers: unknown, field: string): void {
  if (headers === undefined) return;
  if (!isPlainObject(headers)) {
    throw invalidOption(
      `${field} is ${describeType(headers)}; pass a plain object of header names to string values`,
      field,
    );
  }
  for (const [name, value] of Object.entries(headers)) {
    const at = `${field}[${JSON.stringify(name)}]`;
    const problem = reservedHeaderProblem(name);
    if (problem !== undefined) throw invalidOption(`${field}: ${problem}`, at);
    if (typeof value !== "string") {
      throw invalidOption(`${at} is ${describeType(value)}; header values are strings`, at);
    }
    if (value.length > MAX_HEADER_VALUE_LENGTH) {
      throw invalidOption(
        `${at} is longer than ${String(MAX_HEADER_VALUE_LENGTH)} characters; proxies and the gateway refuse headers that large`,
        at,
      );
    }
    if (!isHeaderValue(value)) {
      throw invalidOption(
        `${at} holds a line break, a control character or non-ASCII text; encode it (for example with encodeURIComponent)`,
        at,
      );
    }
  }
}

/**
 * The range of an option that is a timer's delay: no timer takes more than MAX_TIMER_MS (about 24.8 days). Time
 * limits (timeoutMs) have no such cap, since the client's deadline timer re-arms for a longer one.
 */
const timerDelay = { min: 1, max: MAX_TIMER_MS };

const callOptionKeys = ["signal", "timeoutMs", "attemptTimeoutMs", "maxRetries", "headers"];

/**
 * Checks a call's options, once per call: an object (or undefined) with known keys, an AbortSignal, positive time
 * limits, a whole number of retries and legal headers. `extraKeys` are further keys the method takes (such as
 * listAllJobs' pageSize), checked by the method. Throws InvalidRequestError with `field` "options.<name>".
 * @private
 */
export function checkCallOptions(options: unknown, extraKeys: readonly string[] = []): void {
  checkCallOptionsOf(options, [...callOptionKeys, ...extraKeys]);
}

/**
 * Checks waitForJob's options: an object (or undefined) with an AbortSignal, a positive pollIntervalMs and a
 * positive timeoutMs (or Infinity). Throws InvalidRequestError with `field` "options.<name>".
 * @private
 */
export function checkWaitOptions(options: unknown): void {
  checkCallOptionsOf(options, ["signal", "timeoutMs", "pollIntervalMs"]);
  checkNumber((options as { pollIntervalMs?: unknown } | undefined)?.pollIntervalMs, "pollIntervalMs", timerDelay);
}

/**
 * Checks options that take only an AbortSignal (`readBatchOutput`): an object (or undefined) with at most `signal`.
 * @throws InvalidRequestError naming the option.
 * @internal
 */
export function checkSignalOptions(options: unknown): void {
  checkCallOptionsOf(options, ["signal"]);
}

/** The range of a transfer's idle limit (`idleTimeoutMs`): a timer's delay, or Infinity for none. */
const transferIdle = { ...timerDelay, infinite: true };

/**
 * Checks the options of `uploadBatchInput`: `signal`, `idleTimeoutMs`, and `onProgress`, a function.
 * @throws InvalidRequestError naming the option.
 * @internal
 */
export function checkUploadOptions(options: unknown): void {
  checkCallOptionsOf(options, ["signal", "onProgress", "idleTimeoutMs"]);
  checkNumber((options as { idleTimeoutMs?: unknown } | undefined)?.idleTimeoutMs, "idleTimeoutMs", transferIdle);
  const onProgress = (options as { onProgress?: unknown } | undefined)?.onProgress;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw invalidOption(
      `onProgress is ${describeType(onProgress)}; pass a function that takes { sentBytes, totalBytes }`,
      "onProgress",
    );
  }
}

/**
 * Checks the options of `readBatchOutput`: `signal` and `idleTimeoutMs`.
 * @throws InvalidRequestError naming the option.
 * @internal
 */
export function checkReadBatchOutputOptions(options: unknown): void {
  checkCallOptionsOf(options, ["signal", "idleTimeoutMs"]);
  checkNumber((options as { idleTimeoutMs?: unknown } | undefined)?.idleTimeoutMs, "idleTimeoutMs", transferIdle);
}

/**
 * Checks the options of `waitForBatchJob`: those of `waitForJob`, plus `onStateChange`.
 * @throws InvalidRequestError naming the option.
 * @internal
 */
export function checkWaitForBatchJobOptions(options: unknown): void {
  checkCallOptionsOf(options, ["signal", "timeoutMs", "pollIntervalMs", "onStateChange"]);
  const given = options as { pollIntervalMs?: unknown; onStateChange?: unknown } | undefined;
  checkNumber(given?.pollIntervalMs, "pollIntervalMs", timerDelay);
  if (given?.onStateChange !== undefined && typeof given.onStateChange !== "function") {
    throw invalidOption(
      `onStateChange is ${describeType(given.onStateChange)}; pass a function that takes the batch job`,
      "onStateChange",
    );
  }
}

function checkCallOptionsOf(options: unknown, keys: readonly string[]): void {
  if (options === undefined) return;
  const given = checkObjectOption(options, "", keys);
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) {
    throw invalidOption(
      `signal is ${describeType(given.signal)}; pass an AbortSignal, such as AbortController's signal`,
      "signal",
    );
  }
  checkNumber(given.timeoutMs, "timeoutMs", { min: 1, infinite: true });
  checkNumber(given.attemptTimeoutMs, "attemptTimeoutMs", { min: 1, infinite: true });
  checkNumber(given.maxRetries, "maxRetries", { integer: true });
  checkHeaders(given.headers, "headers");
}

/**
 * The warning for a key too short to be redacted safely, or undefined for a key of realistic length: redacting a
 * short key would mangle ordinary words ("API key not accepted" with the key "key"), so keys under 16 characters are
 * not redacted. The client logs it at warn level. @private
 */
export function shortKeyWarning(apiKey: string): string | undefined {
  if (apiKey.length >= MIN_REDACTED_KEY_LENGTH) return undefined;
  return `the API key is shorter than ${String(MIN_REDACTED_KEY_LENGTH)} characters, so it is not redacted from errors and logs (a short key would mangle ordinary words); real Clavata keys are longer, so check that it is the right key`;
}

const clientOptionKeys = [
  "apiKey",
  "host",
  "port",
  "baseUrl",
  "insecure",
  "allowInsecureRemote",
  "tls",
  "timeoutMs",
  "attemptTimeoutMs",
  "maxRetries",
  "retryBackoff",
  "keepalive",
  "logger",
  "logLevel",
  "headers",
  "interceptors",
  "transport",
  "limits",
  "protocol",
  "proxy",
  "fetch",
  "maxReceiveMessageBytes",
  "generatedCodecs",
];

/** Checks the type of every client option; the checks of meaning follow in resolveClientOptions. */
function checkOptionTypes(options: ClavataClientOptions): void {
  const given = checkObjectOption(options, "", clientOptionKeys);
  checkString(given.host, "host");
  checkBoolean(given.insecure, "insecure");
  checkBoolean(given.allowInsecureRemote, "allowInsecureRemote");
  if (given.baseUrl !== undefined && typeof given.baseUrl !== "string" && !(given.baseUrl instanceof URL)) {
    throw invalidOption(
      `baseUrl is ${describeType(given.baseUrl)}; pass a URL string such as https://host:443`,
      "baseUrl",
    );
  }
  const tls = checkObjectOption(given.tls, "tls", ["ca", "cert", "key", "servername"]);
  if (tls.ca !== undefined && !isPem(tls.ca) && !(Array.isArray(tls.ca) && tls.ca.every(isPem))) {
    throw invalidOption(`tls.ca is ${describeType(tls.ca)}; pass PEM text, a Buffer, or an array of them`, "tls.ca");
  }
  for (const key of ["cert", "key"]) {
    if (tls[key] !== undefined && !isPem(tls[key])) {
      throw invalidOption(`tls.${key} is ${describeType(tls[key])}; pass PEM text or a Buffer`, `tls.${key}`);
    }
  }
  checkString(tls.servername, "tls.servername");
  checkObjectOption(given.retryBackoff, "retryBackoff", ["initialDelayMs", "maxDelayMs"]);
  const keepalive = checkObjectOption(given.keepalive, "keepalive", [
    "pingIntervalMs",
    "pingTimeoutMs",
    "pingIdleConnection",
    "idleConnectionTimeoutMs",
  ]);
  checkBoolean(keepalive.pingIdleConnection, "keepalive.pingIdleConnection");
  if (given.logger !== undefined) {
    const logger = given.logger as Record<string, unknown> | null;
    const missing = ["debug", "info", "warn", "error"].filter((m) => typeof logger?.[m] !== "function");
    if (logger === null || typeof logger !== "object" || missing.length > 0) {
      throw invalidOption(
        `logger ${logger === null || typeof logger !== "object" ? `is ${describeType(logger)}` : `has no ${missing.join(", ")} method`}; pass console, or an object with debug, info, warn and error methods`,
        "logger",
      );
    }
  }
  if (given.interceptors !== undefined) {
    if (!Array.isArray(given.interceptors)) {
      throw invalidOption(
        `interceptors is ${describeType(given.interceptors)}; pass an array of Connect interceptors`,
        "interceptors",
      );
    }
    given.interceptors.forEach((interceptor: unknown, i) => {
      if (typeof interceptor !== "function") {
        throw invalidOption(
          `interceptors[${String(i)}] is ${describeType(interceptor)}; an interceptor is a function (next) => (req) => …`,
          `interceptors[${String(i)}]`,
        );
      }
    });
  }
  if (given.transport !== undefined && given.transport !== "grpc" && given.transport !== "connect-node") {
    const t = given.transport as Record<string, unknown> | null;
    if (t === null || typeof t !== "object" || typeof t.unary !== "function" || typeof t.stream !== "function") {
      throw invalidOption(
        `transport is ${describeType(t)}; pass "grpc" (the default), "connect-node", or a Connect Transport with unary and stream methods`,
        "transport",
      );
    }
  }
  checkNumber(given.maxReceiveMessageBytes, "maxReceiveMessageBytes", { min: 1, integer: true });
}

function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * Resolves options and environment into the client's configuration and its API key, checking every option.
 * Throws AuthenticationError when no API key is given (naming the option and the variable), InvalidRequestError
 * for any other bad option.
 * @internal
 */
export function resolveClientOptions(
  options: ClavataClientOptions,
  // No `process` in edge runtimes: there the key must come from the options.
  env: Record<string, string | undefined> = typeof process === "undefined" ? {} : process.env,
): { resolved: ResolvedClientOptions; apiKey: string | undefined } {
  checkOptionTypes(options);
  const limits = resolveRequestLimits(options.limits, "options.limits");
  const protocol = options.protocol ?? "grpc";
  if (protocol !== "grpc" && protocol !== "rest") {
    throw invalidOption(`protocol "${String(protocol)}" is not "grpc" or "rest"`, "protocol");
  }
  if (protocol === "rest" && options.tls !== undefined) {
    throw invalidOption(
      'tls options apply to the gRPC connection only; with protocol "rest" the runtime\'s fetch owns TLS (in Node.js, set NODE_EXTRA_CA_CERTS for a private CA)',
      "tls",
    );
  }
  const customTransport = options.transport !== undefined && typeof options.transport === "object";
  if (
    options.transport !== undefined &&
    !customTransport &&
    options.transport !== "grpc" &&
    options.transport !== "connect-node"
  ) {
    throw invalidOption(
      `transport must be "grpc", "connect-node" or a Connect Transport (got ${JSON.stringify(options.transport)})`,
      "transport",
    );
  }
  if (options.proxy !== undefined && options.proxy !== false) {
    let ok = typeof options.proxy === "string";
    try {
      if (ok)
        ok = /^https?:$/.test(
          new URL(/:\/\//.test(options.proxy) ? options.proxy : `http://${options.proxy}`).protocol,
        );
    } catch {
      ok = false;
    }
    if (!ok) throw invalidOption("proxy must be an http:// or https:// URL of a CONNECT proxy, or false", "proxy");
    if (protocol === "rest") {
      throw invalidOption(
        'proxy applies to the gRPC transport only; with protocol "rest" the requests go through fetch: pass a fetch that uses your proxy as the fetch option',
        "proxy",
      );
    }
    if (options.transport === "connect-node") {
      throw invalidOption(
        'the "connect-node" transport has no proxy support; drop transport to use the default one, which tunnels through the proxy',
        "proxy",
      );
    }
  }
  if (options.fetch !== undefined) {
    if (typeof options.fetch !== "function") {
      throw invalidOption(`fetch is ${describeType(options.fetch)}; pass a function such as globalThis.fetch`, "fetch");
    }
    if (protocol !== "rest") throw invalidOption('fetch applies to protocol "rest" only', "fetch");
  }

  if (options.apiKey !== undefined && typeof options.apiKey !== "string") {
    throw invalidOption(`apiKey is ${describeType(options.apiKey)}; pass the API key as a string`, "apiKey");
  }
  let apiKey = options.apiKey ?? env[API_KEY_ENV];
  if (typeof apiKey === "string") apiKey = apiKey.trim();
  if (apiKey === undefined || apiKey === "") {
    throw new AuthenticationError(
      options.apiKey !== undefined
        ? `the apiKey option is empty; pass your API key (an empty apiKey is not replaced by ${API_KEY_ENV})`
        : `no API key: pass the apiKey option to ClavataClient, or set the ${API_KEY_ENV} environment variable`,
      { code: Code.Unauthenticated },
    );
  }
  if (typeof apiKey !== "string" || !/^[\x21-\x7e]+$/.test(apiKey)) {
    // Never echo the key: say what is wrong with it instead.
    throw new AuthenticationError(
      `the API key (from ${options.apiKey !== undefined ? "the apiKey option" : API_KEY_ENV}) contains spaces, line breaks or non-ASCII characters; copy it again without them`,
      { code: Code.Unauthenticated },
    );
  }

  checkNumber(options.port, "port", { min: 1, max: 65535, integer: true });
  checkNumber(options.timeoutMs, "timeoutMs", { min: 1, infinite: true });
  checkNumber(options.attemptTimeoutMs, "attemptTimeoutMs", { min: 1, infinite: true });
  checkNumber(options.maxRetries, "maxRetries", { integer: true });
  checkNumber(options.retryBackoff?.initialDelayMs, "retryBackoff.initialDelayMs", { max: MAX_TIMER_MS });
  checkNumber(options.retryBackoff?.maxDelayMs, "retryBackoff.maxDelayMs", { max: MAX_TIMER_MS });
  checkNumber(options.keepalive?.pingIntervalMs, "keepalive.pingIntervalMs", { ...timerDelay, infinite: true });
  checkNumber(options.keepalive?.pingTimeoutMs, "keepalive.pingTimeoutMs", timerDelay);
  checkNumber(options.keepalive?.idleConnectionTimeoutMs, "keepalive.idleConnectionTimeoutMs", {
    ...timerDelay,
    infinite: true,
  });
  checkNumber(options.maxReceiveMessageBytes, "maxReceiveMessageBytes", { min: 1, integer: true });
  checkHeaders(options.headers, "headers");
  if (options.generatedCodecs !== undefined && typeof options.generatedCodecs !== "boolean") {
    throw invalidOption("generatedCodecs must be true or false", "generatedCodecs");
  }
  if (options.logLevel !== undefined && !["debug", "info", "warn", "error", "off"].includes(options.logLevel)) {
    throw invalidOption(
      `logLevel "${String(options.logLevel)}" is not one of debug, info, warn, error, off`,
      "logLevel",
    );
  }

  const insecure = options.insecure === true;
  let url: URL;
  if (options.baseUrl !== undefined) {
    if (!URL.canParse(options.baseUrl)) {
      throw invalidOption("baseUrl is not an absolute URL such as https://host:443", "baseUrl");
    }
    url = new URL(options.baseUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw invalidOption(`baseUrl must start with https:// (or http:// with insecure: true)`, "baseUrl");
    }
    // A bare "?" or "#" leaves search and hash empty, yet would still end up in every request's URL.
    if (url.username !== "" || url.password !== "" || /[?#]/.test(url.href)) {
      throw invalidOption(
        "baseUrl must not carry credentials, a query or a fragment; pass the key as apiKey",
        "baseUrl",
      );
    }
    if (!customTransport && protocol === "grpc" && url.pathname !== "/") {
      throw invalidOption(
        `baseUrl has a path (${url.pathname}), which gRPC does not use: its calls go to /<service>/<method> at the root of the host; drop the path (with protocol "rest", a path is a prefix of every URL)`,
        "baseUrl",
      );
    }
    if (!customTransport && url.protocol === "http:" && !insecure) {
      throw invalidOption(
        "baseUrl is http://, which sends the API key unencrypted; use https://, or pass insecure: true for a local plaintext gateway",
        "baseUrl",
      );
    }
    if (!customTransport && url.protocol === "https:" && insecure) {
      throw invalidOption("insecure: true needs an http:// baseUrl; drop insecure for https://", "insecure");
    }
  } else {
    const host = options.host ?? DEFAULT_HOST;
    if (host.trim() === "" || /[/\s?#@]/.test(host)) {
      throw invalidOption(
        `host must be a host name or IP address without scheme, path or spaces (got ${JSON.stringify(host)})`,
        "host",
      );
    }
    const port = options.port ?? (protocol === "rest" ? DEFAULT_REST_PORT : DEFAULT_PORT);
    const text = `${insecure ? "http" : "https"}://${bracketed(host)}:${String(port)}`;
    if (!URL.canParse(text)) {
      throw invalidOption(`host ${JSON.stringify(host)} is not a valid host name or IP address`, "host");
    }
    url = new URL(text);
  }
  if (!customTransport && insecure && !isLoopbackHost(url.hostname) && options.allowInsecureRemote !== true) {
    throw invalidOption(
      `insecure: true would send the API key in plaintext to ${url.hostname}, which is not a loopback address; ` +
        "use TLS, or also pass allowInsecureRemote: true if the network path is private",
      "insecure",
    );
  }
  if (insecure && options.tls !== undefined) {
    throw invalidOption("tls options need a TLS connection; drop insecure: true or the tls options", "tls");
  }
  if (options.tls !== undefined && (options.tls.cert === undefined) !== (options.tls.key === undefined)) {
    throw invalidOption("tls.cert and tls.key go together: a client certificate needs its private key", "tls");
  }

  const baseUrl = url.href.replace(/\/$/, "");
  const resolved: ResolvedClientOptions = {
    protocol,
    baseUrl,
    insecure,
    tls: options.tls,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    attemptTimeoutMs: options.attemptTimeoutMs,
    retry: {
      maxRetries: options.maxRetries ?? DEFAULT_RETRY_OPTIONS.maxRetries,
      initialDelayMs: options.retryBackoff?.initialDelayMs ?? DEFAULT_RETRY_OPTIONS.initialDelayMs,
      maxDelayMs: options.retryBackoff?.maxDelayMs ?? DEFAULT_RETRY_OPTIONS.maxDelayMs,
    },
    keepalive: {
      pingIntervalMs: options.keepalive?.pingIntervalMs ?? 300_000,
      pingTimeoutMs: options.keepalive?.pingTimeoutMs ?? 20_000,
      pingIdleConnection: options.keepalive?.pingIdleConnection ?? false,
      idleConnectionTimeoutMs: options.keepalive?.idleConnectionTimeoutMs ?? 900_000,
    },
    logLevel: options.logLevel ?? "info",
    headers: { ...(options.headers ?? {}) },
    customTransport,
    limits,
    transport: customTransport ? "custom" : ((options.transport as "grpc" | "connect-node" | undefined) ?? "grpc"),
    proxy: options.proxy,
    fetch: options.fetch,
    maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
    generatedCodecs: options.generatedCodecs ?? generatedCodecsFromEnv(env),
  };
  return { resolved, apiKey };
}
