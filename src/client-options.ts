// The options of a ClavataClient, their defaults, and their resolution from
// the options object and the environment into one checked configuration.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { AuthenticationError, InvalidRequestError } from "./errors.js";
import type { ClavataLogger, LogLevel } from "./logging.js";
import { isLoopbackHost } from "./loopback.js";
import { DEFAULT_RETRY_OPTIONS, type ResolvedRetryOptions } from "./retry.js";

/** The gateway's host, used unless `host` or `baseUrl` says otherwise. */
export const DEFAULT_HOST = "gateway.app.clavata.ai";
/** The gateway's port, used unless `port` or `baseUrl` says otherwise. */
export const DEFAULT_PORT = 443;
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
 * HTTP/2 keepalive for the client's one pooled connection. PINGs are sent only while calls are open (unless
 * `pingIdleConnection`), and reset whenever data arrives.
 */
export interface ClavataKeepaliveOptions {
  /**
   * How often to PING a connection with open calls and no incoming data, in ms. Default 300 000 (5 minutes), the
   * shortest interval that common gRPC servers accept without answering "too many pings".
   */
  pingIntervalMs?: number;
  /** How long to wait for a PING answer before the connection counts as dead, in ms. Default 20 000. */
  pingTimeoutMs?: number;
  /** Whether to PING an idle connection too. Default false. */
  pingIdleConnection?: boolean;
  /** Close the connection after this long without calls, in ms; the next call reconnects. Default 900 000. */
  idleConnectionTimeoutMs?: number;
}

/** Backoff between retries. */
export interface ClavataRetryBackoffOptions {
  /** The backoff cap of the first retry, in ms; each further retry doubles it ("full jitter"). Default 250. */
  initialDelayMs?: number;
  /** The largest backoff cap, in ms. Default 10 000. A gateway's retry delay hint is honoured even when longer. */
  maxDelayMs?: number;
}

/** How to build a ClavataClient. Every option is optional when CLAVATA_API_KEY is set. */
export interface ClavataClientOptions {
  /** The API key. Default: the CLAVATA_API_KEY environment variable. Never logged or put in an error. */
  apiKey?: string;
  /** The gateway host. Default "gateway.app.clavata.ai". Ignored when `baseUrl` is given. */
  host?: string;
  /** The gateway port. Default 443. Ignored when `baseUrl` is given. */
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
   * Your own Connect transport, instead of the client's HTTP/2 connection: the connection options above are then
   * ignored, and `close()` leaves the transport alone. The client still adds its auth, identification, retries
   * and logging.
   */
  transport?: Transport;
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
}

function invalidOption(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field: `options.${field}` });
}

/** Checks a count or duration option: a finite number ≥ min (or Infinity when allowed). @internal */
export function checkNumber(
  value: unknown,
  field: string,
  { min = 0, integer = false, infinite = false }: { min?: number; integer?: boolean; infinite?: boolean } = {},
): void {
  if (value === undefined) return;
  const ok =
    typeof value === "number" &&
    !Number.isNaN(value) &&
    value >= min &&
    (Number.isFinite(value) ? !integer || Number.isInteger(value) : infinite && value > 0);
  if (!ok) {
    const kind = integer ? "a whole number" : "a number";
    throw invalidOption(
      `${field} is ${String(value)}; pass ${kind} of at least ${String(min)}${infinite ? " (or Infinity for no limit)" : ""}`,
      field,
    );
  }
}

// Protocol headers the transport owns; a caller's value would corrupt the call.
const reservedHeaders = new Set(["authorization", "content-type", "te", "host", "connection", "x-clavata-client"]);

/**
 * Checks caller headers (client-wide or per call): legal names and values, and none that the client owns.
 * Throws InvalidRequestError; the message never repeats a header value.
 * @internal
 */
export function checkHeaders(headers: unknown, field: string): void {
  if (headers === undefined) return;
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
    throw invalidOption(`${field} must be an object of header names to string values`, field);
  }
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw invalidOption(`${field}: "${name}" is not a legal header name`, field);
    }
    if (reservedHeaders.has(lower) || lower.startsWith("grpc-")) {
      throw invalidOption(
        `${field}: "${name}" is set by the client itself${lower === "authorization" ? "; pass the key as the apiKey option" : ""}`,
        field,
      );
    }
    if (typeof value !== "string" || !/^[\t\x20-\x7e]*$/.test(value)) {
      throw invalidOption(`${field}["${name}"] must be a string of printable ASCII without line breaks`, field);
    }
  }
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
  env: Record<string, string | undefined> = process.env,
): { resolved: ResolvedClientOptions; apiKey: string | undefined } {
  if (options === null || typeof options !== "object") {
    throw invalidOption("the ClavataClient options must be an object", "");
  }
  const customTransport = options.transport !== undefined;

  let apiKey = options.apiKey ?? env[API_KEY_ENV];
  if (typeof apiKey === "string") apiKey = apiKey.trim();
  if (apiKey === undefined || apiKey === "") {
    throw new AuthenticationError(
      `no API key: pass the apiKey option to ClavataClient, or set the ${API_KEY_ENV} environment variable`,
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

  checkNumber(options.port, "port", { min: 1, integer: true });
  if (options.port !== undefined && options.port > 65535)
    throw invalidOption(`port ${String(options.port)} is above 65535`, "port");
  checkNumber(options.timeoutMs, "timeoutMs", { min: 1, infinite: true });
  checkNumber(options.attemptTimeoutMs, "attemptTimeoutMs", { min: 1, infinite: true });
  checkNumber(options.maxRetries, "maxRetries", { integer: true });
  checkNumber(options.retryBackoff?.initialDelayMs, "retryBackoff.initialDelayMs");
  checkNumber(options.retryBackoff?.maxDelayMs, "retryBackoff.maxDelayMs");
  checkNumber(options.keepalive?.pingIntervalMs, "keepalive.pingIntervalMs", { min: 1, infinite: true });
  checkNumber(options.keepalive?.pingTimeoutMs, "keepalive.pingTimeoutMs", { min: 1 });
  checkNumber(options.keepalive?.idleConnectionTimeoutMs, "keepalive.idleConnectionTimeoutMs", {
    min: 1,
    infinite: true,
  });
  checkHeaders(options.headers, "headers");
  if (options.logLevel !== undefined && !["debug", "info", "warn", "error", "off"].includes(options.logLevel)) {
    throw invalidOption(
      `logLevel "${String(options.logLevel)}" is not one of debug, info, warn, error, off`,
      "logLevel",
    );
  }

  const insecure = options.insecure === true;
  let url: URL;
  if (options.baseUrl !== undefined) {
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw invalidOption(`baseUrl "${options.baseUrl}" is not an absolute URL such as https://host:443`, "baseUrl");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw invalidOption(`baseUrl must start with https:// (or http:// with insecure: true)`, "baseUrl");
    }
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
      throw invalidOption(
        "baseUrl must not carry credentials, a query or a fragment; pass the key as apiKey",
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
    if (typeof host !== "string" || host.trim() === "" || /[/\s?#@]/.test(host)) {
      throw invalidOption(
        `host must be a host name or IP address without scheme or path (got "${String(host)}")`,
        "host",
      );
    }
    try {
      url = new URL(`${insecure ? "http" : "https"}://${bracketed(host)}:${String(options.port ?? DEFAULT_PORT)}`);
    } catch {
      throw invalidOption(`host "${host}" is not a valid host name or IP address`, "host");
    }
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
  };
  return { resolved, apiKey };
}
