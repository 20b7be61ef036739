// Calls a job's webhook when the job ends, as the gateway does: POST the job as proto3 JSON, with the caller's extra
// headers prefixed `X-Webhook-`. The emulator only ever contacts the local machine.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CreateJobRequest_Webhook } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { type Job, JobSchema } from "../../gen/clavata/shared/v1/public_pb.js";
import { isHeaderName, isHeaderValue, WEBHOOK_HEADER_PREFIX } from "../http-headers.js";
import { isLoopbackHost, loopbackConnectAddress } from "../loopback.js";
import { timerDelay } from "./timers.js";

/** One attempt to call a webhook, as recorded in the emulator's `deliveries` log. */
export interface WebhookDelivery {
  /** The job that was delivered. */
  jobUuid: string;
  /** The webhook URL, as given. */
  url: string;
  /** Which attempt this was, from 1. */
  attempt: number;
  /**
   * "delivered": the receiver answered 2xx. "failed": a network error, a timeout or a non-2xx answer. "not-contacted":
   * the host is not loopback, so the emulator did not call it.
   */
  outcome: "delivered" | "failed" | "not-contacted";
  /** Whether this is the job's last attempt: delivered, not-contacted, the last allowed attempt, or cut off by close(). */
  final: boolean;
  /** The HTTP status of the answer, when there was one. */
  status?: number;
  /** What went wrong, for a failed attempt without an answer (or an invalid webhook). */
  error?: string;
  /** When the attempt ended. */
  at: Date;
  /** The headers sent (or, for not-contacted, that would have been sent), with lower-case names. */
  headers: Record<string, string>;
  /** The JSON body sent: the job as proto3 JSON. */
  body: string;
}

/** How the emulator delivers webhooks: attempts, backoff and time limits. */
export interface WebhookDispatcherOptions {
  /** How many times to try a delivery in all. Default 3. */
  maxAttempts?: number;
  /** The delay before the first retry (ms), doubled before each further one. Default 100. */
  backoffMs?: number;
  /** How long one attempt may take, connecting and answering (ms). Default 5000. */
  timeoutMs?: number;
  /** Receives one line per attempt (URL host and path, attempt, status; never header values or the query string). */
  logger?: (line: string) => void;
}

interface DeliveryWaiter {
  jobUuid: string;
  resolve: (delivery: WebhookDelivery) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Answer {
  status?: number;
  error?: string;
  canceled?: boolean;
}

const USER_AGENT = "clavata-emulator";

/** The one loopback rule (src/loopback.ts), re-exported for the emulator's own modules. */
export { isLoopbackHost };

/**
 * Delivers ended jobs to their webhooks, with retries, and keeps a log of every attempt for tests and for the
 * emulator's users to inspect. Only loopback hosts are ever contacted: any other URL is recorded as "not-contacted".
 */
export class WebhookDispatcher {
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;
  readonly #logger: ((line: string) => void) | undefined;
  readonly #deliveries: WebhookDelivery[] = [];
  readonly #waiters = new Set<DeliveryWaiter>();
  readonly #backoffs = new Map<NodeJS.Timeout, () => void>();
  readonly #inFlight = new Set<http.ClientRequest>();
  #closed = false;

  /**
   * Makes a dispatcher with an empty delivery log.
   *
   * @throws RangeError when maxAttempts is not a whole number >= 1, or backoffMs or timeoutMs is negative (or
   *   timeoutMs is 0).
   */
  constructor(options: WebhookDispatcherOptions = {}) {
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#backoffMs = options.backoffMs ?? 100;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#logger = options.logger;
    if (!Number.isInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new RangeError(`WebhookDispatcher: maxAttempts must be a whole number >= 1; got ${this.#maxAttempts}`);
    }
    if (!Number.isFinite(this.#backoffMs) || this.#backoffMs < 0) {
      throw new RangeError(
        `WebhookDispatcher: backoffMs must be a number of milliseconds >= 0; got ${this.#backoffMs}`,
      );
    }
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new RangeError(`WebhookDispatcher: timeoutMs must be a number of milliseconds > 0; got ${this.#timeoutMs}`);
    }
  }

  /**
   * Checks a CreateJob webhook before the job is accepted.
   *
   * @throws ConnectError(Code.InvalidArgument) saying what to fix when the URL is not absolute, is neither https nor
   *   http on a loopback host (see src/loopback.ts), or carries a user name or password; or when an extra header's
   *   name is not an HTTP token, or its value is not tab, space and visible ASCII (the client's rule, src/http-headers.ts).
   */
  static validate(webhook: CreateJobRequest_Webhook): void {
    parseWebhookUrl(webhook.url);
    for (const [name, value] of Object.entries(webhook.extraHeaders)) {
      if (!isHeaderName(name)) {
        throw invalid(
          `webhook.extra_headers: ${JSON.stringify(name)} is not a valid header name; use letters, digits and ! # $ % & ' * + - . ^ _ \` | ~ only (it is sent as X-Webhook-<name>)`,
        );
      }
      // Values may be secrets, so the message names the header but never quotes its value.
      if (/[\r\n\0]/.test(value)) {
        throw invalid(
          `webhook.extra_headers: the value of ${JSON.stringify(name)} contains CR, LF or NUL; remove them`,
        );
      }
      if (!isHeaderValue(value)) {
        throw invalid(
          `webhook.extra_headers: the value of ${JSON.stringify(name)} contains a control character or non-ASCII text, which HTTP headers cannot carry reliably; encode it (for example as base64)`,
        );
      }
    }
  }

  /** Every attempt so far, in order (a copy). */
  get deliveries(): readonly WebhookDelivery[] {
    return [...this.#deliveries];
  }

  /**
   * Delivers the job: POST with body `toJsonString(JobSchema, job)` (proto3 JSON, a bare Job), headers
   * `Content-Type: application/json`, `User-Agent: clavata-emulator`, and each extra header as `X-Webhook-<Name>`.
   * Retries a failed attempt (network error, timeout or non-2xx answer) up to maxAttempts in all, waiting backoffMs
   * before the first retry and twice as long before each further one. Only loopback hosts are ever contacted: for any
   * other host it records one delivery with outcome "not-contacted" and returns. An invalid webhook is recorded as one
   * final failed delivery. Never rejects; after {@link WebhookDispatcher.close} it does nothing.
   */
  async deliver(job: Job, webhook: CreateJobRequest_Webhook): Promise<void> {
    if (this.#closed) return;
    const body = toJsonString(JobSchema, job);
    const base = { jobUuid: job.jobUuid, url: webhook.url, body };
    let url: URL;
    try {
      WebhookDispatcher.validate(webhook);
      url = new URL(webhook.url);
    } catch (error) {
      const message = error instanceof ConnectError ? error.rawMessage : String(error);
      this.#record({ ...base, attempt: 1, outcome: "failed", final: true, error: message, headers: {} });
      this.#log(`webhook for job ${job.jobUuid} not sent: ${message}`);
      return;
    }
    const headers = webhookHeaders(url, webhook, body);
    const recorded = lowerCaseNames(headers);
    const where = `${url.host}${url.pathname}`;

    if (!isLoopbackHost(url.hostname)) {
      this.#record({ ...base, attempt: 1, outcome: "not-contacted", final: true, headers: recorded });
      this.#log(`webhook for job ${job.jobUuid} to ${where} not contacted: the emulator only calls loopback hosts`);
      return;
    }

    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const answer = await this.#send(url, headers, body);
      if (answer.canceled) {
        this.#record({ ...base, attempt, outcome: "failed", final: true, error: answer.error, headers: recorded });
        this.#log(`webhook for job ${job.jobUuid} to ${where}: attempt ${attempt}/${this.#maxAttempts} canceled`);
        return;
      }
      const delivered = answer.status !== undefined && answer.status >= 200 && answer.status <= 299;
      const final = delivered || attempt === this.#maxAttempts;
      this.#record({
        ...base,
        attempt,
        outcome: delivered ? "delivered" : "failed",
        final,
        ...(answer.status !== undefined ? { status: answer.status } : {}),
        ...(answer.error !== undefined ? { error: answer.error } : {}),
        headers: recorded,
      });
      const result = answer.status !== undefined ? `HTTP ${answer.status}` : `error: ${answer.error}`;
      this.#log(
        `webhook for job ${job.jobUuid} to ${where}: attempt ${attempt}/${this.#maxAttempts} ${delivered ? "delivered" : "failed"} (${result})${final && !delivered ? "; giving up" : ""}`,
      );
      if (final) return;
      if (!(await this.#pause(this.#backoffMs * 2 ** (attempt - 1)))) return;
    }
  }

  /**
   * Resolves with the first delivery of this job whose outcome is final (delivered, not-contacted, or the last failed
   * attempt), at once if there already is one.
   *
   * @param timeoutMs default 5000.
   * @throws (rejects) Error on timeout, or when the dispatcher is closed first.
   */
  waitForDelivery(jobUuid: string, timeoutMs = 5000): Promise<WebhookDelivery> {
    const done = this.#deliveries.find((delivery) => delivery.jobUuid === jobUuid && delivery.final);
    if (done !== undefined) return Promise.resolve(done);
    if (this.#closed)
      return Promise.reject(new Error(`no webhook delivery for job ${jobUuid}: the dispatcher is closed`));
    return new Promise<WebhookDelivery>((resolve, reject) => {
      const waiter: DeliveryWaiter = {
        jobUuid,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`the webhook delivery of job ${jobUuid} did not end within ${timeoutMs} ms`));
        }, timerDelay(timeoutMs)),
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Cancels pending retries and in-flight requests (an in-flight attempt is recorded as a final failed delivery), and
   * rejects pending {@link WebhookDispatcher.waitForDelivery} calls. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [timer, wake] of this.#backoffs) {
      clearTimeout(timer);
      wake();
    }
    this.#backoffs.clear();
    for (const request of this.#inFlight) request.destroy(new CanceledError());
    this.#inFlight.clear();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`the webhook delivery of job ${waiter.jobUuid} did not end: the dispatcher was closed`));
    }
    this.#waiters.clear();
  }

  #record(delivery: Omit<WebhookDelivery, "at">): void {
    const entry: WebhookDelivery = { ...delivery, at: new Date() };
    this.#deliveries.push(entry);
    if (!entry.final) return;
    for (const waiter of this.#waiters) {
      if (waiter.jobUuid !== entry.jobUuid) continue;
      this.#waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(entry);
    }
  }

  #log(line: string): void {
    this.#logger?.(line);
  }

  /** Waits before a retry; resolves false when close() cut the wait short. */
  #pause(ms: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      // Not unref'd: a retry is work the caller of deliver() is waiting for; close() is how to stop it.
      const timer = setTimeout(() => {
        this.#backoffs.delete(timer);
        resolve(!this.#closed);
      }, timerDelay(ms));
      this.#backoffs.set(timer, () => resolve(false));
    });
  }

  /** One POST; resolves with the answer's status or what went wrong, never rejects. */
  #send(url: URL, headers: Record<string, string>, body: string): Promise<Answer> {
    if (this.#closed) return Promise.resolve({ error: new CanceledError().message, canceled: true });
    return new Promise<Answer>((resolve) => {
      let settled = false;
      const settle = (answer: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const secure = url.protocol === "https:";
      const options: https.RequestOptions = {
        // The host is a literal address, so Node makes no DNS query: `localhost` is pinned to 127.0.0.1 rather than
        // resolved, so that a tampered hosts file or resolver can never send a job off the machine.
        host: loopbackConnectAddress(url.hostname),
        port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers,
        // A fresh connection per attempt, closed after the answer, so that no socket outlives the delivery.
        agent: false,
      };
      let request: http.ClientRequest;
      if (secure) {
        request = https.request({
          ...options,
          // Only ever reached for loopback hosts (checked above): local test receivers use self-signed certificates,
          // and the traffic never leaves this machine, so there is no network peer to authenticate.
          rejectUnauthorized: false,
          // SNI takes a name, never an address.
          ...(isIP(url.hostname.replace(/^\[|\]$/g, "")) === 0 ? { servername: url.hostname.replace(/\.$/, "") } : {}),
        });
      } else {
        request = http.request(options);
      }
      this.#inFlight.add(request);
      request.on("response", (response) => {
        settle({ status: response.statusCode ?? 0 });
        // The answer's body is not needed, but it must be read for the connection to finish and close.
        response.on("error", () => {});
        response.on("close", () => this.#inFlight.delete(request));
        response.resume();
      });
      request.on("error", (error) => {
        this.#inFlight.delete(request);
        settle(error instanceof CanceledError ? { error: error.message, canceled: true } : { error: error.message });
      });
      const timer = setTimeout(() => {
        request.destroy(new Error(`no answer within ${this.#timeoutMs} ms`));
      }, timerDelay(this.#timeoutMs));
      request.end(body);
    });
  }
}

/** Why an in-flight attempt ended: close() was called. */
class CanceledError extends Error {
  constructor() {
    super("canceled: the webhook dispatcher was closed");
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The URL is not quoted: it may hold a token in its query string.
    throw invalid("webhook.url must be an absolute URL such as https://example.com/clavata-webhook");
  }
  if (url.username !== "" || url.password !== "") {
    throw invalid(
      "webhook.url must not contain a user name or password; send credentials in webhook.extra_headers instead",
    );
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:") {
    if (isLoopbackHost(url.hostname)) return url;
    throw invalid(
      `webhook.url must use https; plain http is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost and *.localhost), not ${url.hostname}`,
    );
  }
  throw invalid(`webhook.url must use https (or http on a loopback host), not ${url.protocol.replace(/:$/, "")}`);
}

function webhookHeaders(url: URL, webhook: CreateJobRequest_Webhook, body: string): Record<string, string> {
  const headers: Record<string, string> = {
    // Set explicitly because the connection goes to an address, not to the URL's host name.
    Host: url.host,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(body)),
    "User-Agent": USER_AGENT,
  };
  for (const [name, value] of Object.entries(webhook.extraHeaders)) headers[`${WEBHOOK_HEADER_PREFIX}${name}`] = value;
  return headers;
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
