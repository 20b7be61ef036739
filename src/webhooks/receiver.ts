// What every way of receiving a webhook shares: the checks of a request, in the order that costs the sender least to
// fail (method, secret, content type, declared size, then the body), and the answers the adapters give.

import type { Job } from "../../gen/clavata/shared/v1/public_pb.js";
import { checkWebhookContentType, DEFAULT_MAX_BODY_BYTES, parseWebhookJob } from "./payload.js";
import { SecretCheck } from "./secret.js";
import { WebhookVerificationError } from "./verification-error.js";

// TextEncoder, not Buffer: apart from the secret check (node:crypto), receiving needs no Node globals.
const utf8 = new TextEncoder();

/** One header's value in a Map or a plain object: text, a list of values (a repeated header), or a number. */
export type WebhookHeaderValue = string | readonly string[] | number | undefined;

/**
 * Request headers as `Headers`, a `Map`, or a plain object such as Node's `req.headers`. Names are matched in any
 * letter case, as HTTP does; a name given several times in different cases counts as a repeated header.
 */
export type WebhookHeaders =
  | Headers
  | ReadonlyMap<string, WebhookHeaderValue>
  | { readonly [name: string]: WebhookHeaderValue };

/** How a webhook request is checked. */
export interface WebhookVerifyOptions {
  /**
   * The secret the job was created with (see `webhookWithSecret`), or several: while rotating, pass the old and the
   * new secret, and any of them is accepted. Required.
   */
  secret: string | readonly string[];
  /** The extra header name the secret was sent under, without the `X-Webhook-` prefix. Default "Secret". */
  header?: string;
  /** The largest body accepted, in bytes. Default 4 MiB ({@link DEFAULT_MAX_BODY_BYTES}). */
  maxBodyBytes?: number;
}

/** A received webhook request: its method (optional), headers and raw, unparsed body. */
export interface WebhookRequestParts {
  /** The HTTP method; when given, anything but POST is rejected. */
  method?: string;
  /** The request headers. */
  headers: WebhookHeaders;
  /** The raw body exactly as received: bytes (Buffer, Uint8Array, ArrayBuffer) or text. A parsed object is rejected. */
  body: unknown;
}

/** What the adapters do with a verified job, and with failures. */
export interface WebhookHandlerOptions<Req> extends WebhookVerifyOptions {
  /**
   * Called with each verified job (and the framework's request object, to read more headers). The adapters answer
   * 2xx only after it resolves; if it throws or rejects they answer 500, so the gateway can deliver the job again.
   */
  onJob: (job: Job, request: Req) => void | Promise<void>;
  /**
   * Called for every request not answered 2xx: with a {@link WebhookVerificationError} for a rejected request, or
   * with what `onJob` threw (status 500). Default: logs 5xx failures with console.error and ignores 4xx ones.
   * Nothing it receives contains a secret. What it throws is ignored.
   */
  onError?: (error: unknown, status: number) => void;
}

/**
 * Verifies and parses a webhook request whose body you already have as raw bytes or text, for servers the adapters do
 * not cover. Checks, in order: the method (when given), the secret header, the Content-Type, the size, and that the
 * body is a proto3 JSON Job (bare or `{"job": Job}`; unknown fields are ignored).
 *
 * @returns the job.
 * @throws WebhookVerificationError with a `reason` and the HTTP `status` to answer with.
 * @throws TypeError when the options are invalid (no secret, a secret that cannot travel in a header, a bad limit), or
 *   the request is not `{ method?, headers, body }` with headers as Headers, a Map or an object.
 */
export function verifyWebhook(request: WebhookRequestParts, options: WebhookVerifyOptions): Job {
  const receiver = new WebhookReceiver(options);
  checkRequestParts(request);
  receiver.checkRequest(request.method, request.headers);
  return receiver.parse(receiver.rawBody(request.body));
}

/**
 * Checks only the secret header of a webhook request, in constant time, accepting any of several secrets.
 *
 * @throws WebhookVerificationError "missing_secret" or "wrong_secret" (status 401).
 * @throws TypeError when no secret is given, or a secret or the header name cannot travel in a header, or `headers`
 *   is not Headers, a Map or an object.
 */
export function verifyWebhookSecret(
  headers: WebhookHeaders,
  options: Pick<WebhookVerifyOptions, "secret" | "header">,
): void {
  const check = new SecretCheck(options.secret, options.header);
  checkHeaders(headers, "verifyWebhookSecret: headers");
  check.verify(headerOf(headers, check.headerName));
}

/** What the value is, for a message: "null", "undefined", "an array", "a string". */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

const HEADERS_FIX =
  "pass the request's headers as a Headers object, a Map, or an object of header names to values such as Node's req.headers";

/** @throws TypeError naming `what` when the headers are not Headers, a Map or an object. */
function checkHeaders(headers: unknown, what: string): void {
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
    throw new TypeError(`${what} is ${kindOf(headers)}; ${HEADERS_FIX}`);
  }
}

/** @throws TypeError when the request is not `{ method?, headers, body }`. */
function checkRequestParts(request: unknown): void {
  if (request === null || typeof request !== "object") {
    throw new TypeError(
      `verifyWebhook: the request is ${kindOf(request)}; pass { method, headers, body } with the raw body`,
    );
  }
  const { method, headers } = request as { method?: unknown; headers?: unknown };
  if (method !== undefined && typeof method !== "string") {
    throw new TypeError(
      `verifyWebhook: request.method is ${kindOf(method)}; pass the HTTP method as a string such as "POST", or leave it out`,
    );
  }
  checkHeaders(headers, "verifyWebhook: request.headers");
}

/**
 * The checks of one receiver, with its secrets digested once.
 * @internal
 */
export class WebhookReceiver {
  readonly maxBodyBytes: number;
  readonly #secret: SecretCheck;

  /** @throws TypeError when the options are invalid. */
  constructor(options: WebhookVerifyOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("webhook receiver: pass options { secret, header?, maxBodyBytes? }");
    }
    this.#secret = new SecretCheck(options.secret, options.header);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (!Number.isSafeInteger(this.maxBodyBytes) || this.maxBodyBytes < 1) {
      throw new TypeError(
        `webhook receiver: maxBodyBytes must be a whole number of bytes >= 1; got ${String(options.maxBodyBytes)}`,
      );
    }
  }

  /**
   * Everything that can be checked before the body is read, so that a forged or oversized call costs no reading.
   *
   * @throws WebhookVerificationError "method_not_allowed", "missing_secret", "wrong_secret", "wrong_content_type", or
   *   "too_large" for a declared Content-Length over the limit.
   */
  checkRequest(method: string | undefined, headers: WebhookHeaders): void {
    if (method !== undefined && method.toUpperCase() !== "POST") {
      throw new WebhookVerificationError(
        "method_not_allowed",
        `a webhook is called with POST, not ${method}; this endpoint only receives Clavata webhook calls`,
      );
    }
    this.#secret.verify(headerOf(headers, this.#secret.headerName));
    checkWebhookContentType(headerOf(headers, "content-type"));
    const declared = Number(headerOf(headers, "content-length") ?? "0");
    if (declared > this.maxBodyBytes) this.#tooLarge(` (Content-Length: ${declared})`);
  }

  /**
   * The raw body from what a framework left on the request.
   *
   * @throws WebhookVerificationError "parsed_body" when it is anything but bytes or text; `fix` says how to get the
   *   raw body in the caller's framework.
   */
  rawBody(body: unknown, fix = GENERIC_RAW_BODY_FIX): Uint8Array | string {
    if (typeof body === "string" || body instanceof Uint8Array) return body;
    if (body instanceof ArrayBuffer) return new Uint8Array(body);
    if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    throw parsedBodyError(body, fix);
  }

  /**
   * Parses a complete raw body.
   *
   * @throws WebhookVerificationError "too_large", "bad_json" or "not_a_job".
   */
  parse(body: Uint8Array | string): Job {
    const size = typeof body === "string" ? utf8.encode(body).byteLength : body.byteLength;
    if (size > this.maxBodyBytes) this.#tooLarge(` (${size} bytes)`);
    return parseWebhookJob(body);
  }

  /** @throws WebhookVerificationError "too_large". */
  tooLarge(): never {
    this.#tooLarge("");
  }

  #tooLarge(what: string): never {
    throw new WebhookVerificationError(
      "too_large",
      `the body${what} is over the limit of ${this.maxBodyBytes} bytes; if jobs this large are expected, raise maxBodyBytes`,
    );
  }
}

/**
 * How to get the raw body in the common frameworks.
 * @internal
 */
export const GENERIC_RAW_BODY_FIX =
  'in Express, give the route express.raw({ type: "application/json" }) and register it before app.use(express.json()); ' +
  'in Fastify, parse application/json as a buffer for this route (addContentTypeParser("application/json", { parseAs: "buffer" }, ' +
  "(req, body, done) => done(null, body))) or use the rawBody of the fastify-raw-body plugin; elsewhere, pass the body before anything parses it";

/**
 * The error for a body that is not raw bytes or text; `fix` says how to get the raw body.
 * @internal
 */
export function parsedBodyError(body: unknown, fix: string): WebhookVerificationError {
  if (body === undefined) {
    return new WebhookVerificationError(
      "parsed_body",
      `no request body was given; pass the raw body as bytes or text: ${fix}`,
    );
  }
  const type = typeof body;
  const kind = body === null ? "null" : Array.isArray(body) ? "an array" : `${type === "object" ? "an" : "a"} ${type}`;
  return new WebhookVerificationError(
    "parsed_body",
    `the request body is ${kind}, not the raw bytes: a body parser ran before the webhook receiver, and the job cannot ` +
      `be checked from a re-serialised copy. Pass the raw body: ${fix}`,
  );
}

/**
 * One header's value from Headers, a Map or a plain object, by case-insensitive name; repeated values (a list, or the
 * same name in several letter cases) joined with ", " as HTTP does.
 * @throws TypeError when the headers are not one of those, or a value is not text, a number or a list.
 * @internal
 */
export function headerOf(headers: WebhookHeaders, name: string): string | undefined {
  checkHeaders(headers, "webhook receiver: the request headers");
  // A Map has get() too, but its keys are case-sensitive: it is read like a plain object.
  const entries: Iterable<[string, unknown]> | undefined =
    headers instanceof Map
      ? headers.entries()
      : typeof (headers as Headers).get === "function"
        ? undefined
        : Object.entries(headers);
  if (entries === undefined) return (headers as Headers).get(name) ?? undefined;
  const lower = name.toLowerCase();
  const values: string[] = [];
  for (const [key, value] of entries) {
    if (typeof key !== "string" || key.toLowerCase() !== lower || value === undefined || value === null) continue;
    if (typeof value === "string") values.push(value);
    else if (typeof value === "number") values.push(String(value));
    else if (Array.isArray(value)) values.push(...value.map(String));
    else {
      throw new TypeError(
        `webhook receiver: the ${JSON.stringify(key)} header is ${kindOf(value)}; header values must be text, or a list of text for a repeated header`,
      );
    }
  }
  return values.length === 0 ? undefined : values.join(", ");
}

/**
 * An answer an adapter sends.
 * @internal
 */
export interface WebhookAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The adapters' shared options, checked once.
 * @internal
 */
export interface WebhookHandlerSetup<Req> {
  receiver: WebhookReceiver;
  onJob: (job: Job, request: Req) => void | Promise<void>;
  onError: (error: unknown, status: number) => void;
}

/**
 * Checks handler options and builds the receiver.
 * @throws TypeError when the options are invalid.
 * @internal
 */
export function setUpHandler<Req>(options: WebhookHandlerOptions<Req>, adapter: string): WebhookHandlerSetup<Req> {
  if (options === null || typeof options !== "object" || typeof options.onJob !== "function") {
    throw new TypeError(
      `${adapter}: pass options { secret, onJob: async (job) => { … } }; onJob receives each verified job`,
    );
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(`${adapter}: onError must be a function (error, status) => void`);
  }
  return { receiver: new WebhookReceiver(options), onJob: options.onJob, onError: options.onError ?? logServerErrors };
}

/**
 * The sender went away before its body was read: there is no one to answer.
 * @internal
 */
export class RequestAbortedError extends Error {
  override readonly name: string = "RequestAbortedError";
}

/**
 * Runs `receive`, then the user's callback, and says what to answer: 200 once the callback resolved, the error's
 * status for a rejected request, 500 for a failed callback, nothing (undefined) when the sender went away. Never
 * rejects.
 * @internal
 */
export async function handleWebhook<Req>(
  setup: WebhookHandlerSetup<Req>,
  request: Req,
  receive: () => Promise<Job>,
): Promise<WebhookAnswer | undefined> {
  let job: Job;
  try {
    job = await receive();
  } catch (error) {
    if (error instanceof RequestAbortedError) return undefined;
    return failure(setup, error);
  }
  try {
    await setup.onJob(job, request);
  } catch (error) {
    return failure(setup, error);
  }
  return { status: 200, headers: { "content-type": "application/json" }, body: '{"received":true}' };
}

function failure(setup: Pick<WebhookHandlerSetup<unknown>, "onError">, error: unknown): WebhookAnswer {
  const verification = error instanceof WebhookVerificationError ? error : undefined;
  const status = verification?.status ?? 500;
  try {
    setup.onError(error, status);
  } catch {
    // A failing error reporter must not turn into a second failure of the request.
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (status === 405) headers.allow = "POST";
  // The callback's error may hold anything; the sender learns only that the receiver failed.
  const body = verification
    ? { error: verification.reason, message: verification.message }
    : { error: "handler_failed", message: "the webhook receiver failed to process the job; it can be delivered again" };
  return { status, headers, body: JSON.stringify(body) };
}

function logServerErrors(error: unknown, status: number): void {
  if (status < 500) return;
  console.error(
    error instanceof WebhookVerificationError
      ? `clavata-connect/webhooks: ${error.message}`
      : "clavata-connect/webhooks: the webhook onJob callback failed:",
    ...(error instanceof WebhookVerificationError ? [] : [error]),
  );
}
