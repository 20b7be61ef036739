// ClavataClient: what a backend imports. It owns the options, the HTTP/2
// session, the interceptors and the mapping of every failure to a ClavataError;
// its methods take plain objects and return the generated message types.

import { inspect } from "node:util";
import {
  type Client,
  Code,
  type CallOptions as ConnectCallOptions,
  ConnectError,
  createClient,
  createContextValues,
  type Transport,
} from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { type EvaluateResponse, GatewayService, type ListJobsResponse } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { type EvaluateLabelsResponse, LabelsService } from "../gen/clavata/gateway/v1/labels_pb.js";
import { type Job, JobStatus } from "../gen/clavata/shared/v1/public_pb.js";
import type { BatchItems } from "./batch/batch-input.js";
import type { EvaluateBatchOptions } from "./batch/batch-options.js";
import { BatchEvaluation } from "./batch/evaluate-batch.js";
import {
  type CallOptions,
  type ClavataClientOptions,
  checkHeaders,
  checkNumber,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./client-options.js";
import { Deadlines } from "./deadlines.js";
import {
  type ClavataError,
  ConnectionError,
  InvalidRequestError,
  ServerError,
  TimeoutError,
  toClavataError,
} from "./errors.js";
import {
  bearerAuthInterceptor,
  type CallSettings,
  identifyInterceptor,
  kCallSettings,
  loggingInterceptor,
  retryInterceptor,
} from "./interceptors.js";
import type { JobQueryBuilder, JobQueryInit } from "./job-query.js";
import { createLog, createRedactor, type Log, silentLog } from "./logging.js";
import { isLoopbackHost } from "./loopback.js";
import {
  buildCreateJobRequest,
  buildEvaluateLabelsRequest,
  buildEvaluateOneRequest,
  buildEvaluateRequest,
  buildGetJobRequest,
  buildListJobsRequest,
  type CreateJobRequestInit,
  type EvaluateLabelsRequestInit,
  type EvaluateOneRequestInit,
  type EvaluateRequestInit,
  type ListJobsRequestInit,
} from "./requests.js";
import { sleep } from "./retry.js";
import { createOwnedTransport, withInterceptors } from "./transport.js";

/** Options of `waitForJob`. */
export interface WaitForJobOptions {
  /** How long to wait between GetJob polls, in ms. Default 1000. */
  pollIntervalMs?: number;
  /** How long to wait for the job to finish, in ms, before throwing TimeoutError. Default 300 000 (5 minutes). */
  timeoutMs?: number;
  /** Stops waiting at once; the call throws AbortedError. */
  signal?: AbortSignal;
}

/** Options of `listAllJobs`: a call's options (applied to each page) and the page size. */
export interface ListAllJobsOptions extends CallOptions {
  /** Jobs per page, 1 to 1000. Default 100. */
  pageSize?: number;
}

/** The abort reason of a call that is over; one shared instance, since it is never thrown to the caller. */
const CALL_OVER = new ConnectError("the call is over", Code.Canceled);

/** The job statuses after which a job does not change any more. */
const finalStatuses: ReadonlySet<JobStatus> = new Set([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED]);

/** A call in flight: what Connect needs, what error mapping needs, and how to end it. */
interface PreparedCall {
  readonly connect: ConnectCallOptions;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** Ends the call's signal (cancelling it on the wire if it still runs) and forgets it. */
  dispose(): void;
}

/**
 * The Clavata gateway client: evaluate content against policies as a stream, run and list background jobs, and
 * evaluate labels. One client holds one pooled HTTP/2 connection; share it, and `close()` it (or use
 * `await using`) when done.
 *
 * ```ts
 * const client = new ClavataClient(); // reads CLAVATA_API_KEY
 * const result = await client.evaluateOne({ policyId: "…", contentData: textContent("hello") });
 * ```
 *
 * Every method throws a ClavataError subclass on failure (never yields one), and throws InvalidRequestError before
 * sending anything when the input is bad.
 */
export class ClavataClient implements AsyncDisposable {
  readonly #options: ResolvedClientOptions;
  readonly #sessionManager: Http2SessionManager | undefined;
  readonly #gateway: Client<typeof GatewayService>;
  readonly #labels: Client<typeof LabelsService>;
  readonly #log: Log;
  readonly #redact: (text: string) => string;
  readonly #calls = new Set<AbortController>();
  readonly #deadlines = new Deadlines();
  #closed = false;

  /**
   * Makes a client; see ClavataClientOptions for every option and its default. Nothing connects until the first
   * call. Throws AuthenticationError when there is no API key (neither `apiKey` nor CLAVATA_API_KEY), and
   * InvalidRequestError for any other bad option, such as plaintext to a non-loopback host.
   */
  constructor(options: ClavataClientOptions = {}) {
    const { resolved, apiKey } = resolveClientOptions(options);
    this.#options = resolved;
    this.#redact = createRedactor(apiKey);
    this.#log = createLog(options.logger, resolved.logLevel, this.#redact);
    const interceptors = [
      retryInterceptor(this.#log),
      // Per-attempt logging only costs when someone reads it.
      ...(this.#log !== silentLog && resolved.logLevel === "debug" ? [loggingInterceptor(this.#log)] : []),
      identifyInterceptor(),
      bearerAuthInterceptor(apiKey!),
      ...(options.interceptors ?? []),
    ];
    let transport: Transport;
    if (options.transport !== undefined) {
      transport = withInterceptors(options.transport, interceptors, resolved.baseUrl);
    } else {
      const owned = createOwnedTransport(resolved, interceptors);
      transport = owned.transport;
      this.#sessionManager = owned.sessionManager;
    }
    this.#gateway = createClient(GatewayService, transport);
    this.#labels = createClient(LabelsService, transport);
    if (resolved.insecure && !isLoopbackHost(new URL(resolved.baseUrl).hostname)) {
      this.#log.warn(
        `plaintext connection to ${resolved.baseUrl}: the API key travels unencrypted (allowInsecureRemote)`,
      );
    }
  }

  /** Makes a client, like `new ClavataClient(options)`. Throws as the constructor does. */
  static create(options: ClavataClientOptions = {}): ClavataClient {
    return new ClavataClient(options);
  }

  /** The gateway URL this client calls, such as "https://gateway.app.clavata.ai". */
  get baseUrl(): string {
    return this.#options.baseUrl;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Evaluates every content item against a policy and yields one EvaluateResponse per item as soon as it is ready,
   * in no guaranteed order (match them to inputs through your metadata or the content hash). The call starts when
   * you start iterating; breaking out of the loop or aborting the signal cancels the stream on the wire.
   * Retried only if it fails before the first response. Throws InvalidRequestError at once for bad input;
   * throws EvaluationRefusedError (while iterating) if the gateway refuses any item, and the other ClavataErrors
   * for other failures.
   */
  evaluate(request: EvaluateRequestInit, options?: CallOptions): AsyncGenerator<EvaluateResponse, void, undefined> {
    const message = buildEvaluateRequest(request);
    this.#checkCallOptions(options);
    return this.#evaluateStream(message, options);
  }

  async *#evaluateStream(
    message: ReturnType<typeof buildEvaluateRequest>,
    options: CallOptions | undefined,
  ): AsyncGenerator<EvaluateResponse, void, undefined> {
    const call = this.#begin("Evaluate", options, true);
    try {
      for await (const response of this.#gateway.evaluate(message, call.connect)) yield response;
    } catch (error) {
      throw this.#fail(error, "Evaluate", call);
    } finally {
      call.dispose();
    }
  }

  /**
   * Evaluates many items (an array, a generator, any Iterable or AsyncIterable of content items, read lazily) and
   * yields exactly one BatchOutcome per item: `result`, `refused` (with the reason and content hash) or `failed`
   * (with its ClavataError). Items go in chunks over up to `concurrency` streams; refused items are picked out and
   * the rest sent again, and after a failure only unanswered items are resent, up to `maxAttempts` sends each (a
   * resent item may be evaluated, and billed, twice: `resend: false` turns that off). See EvaluateBatchOptions.
   * Read `.summary` for the counts. Throws InvalidRequestError at once for a bad option; while iterating, throws
   * only AbortedError (your signal) or an error that dooms every item (authentication, unknown policy).
   */
  evaluateBatch(items: BatchItems, options: EvaluateBatchOptions): BatchEvaluation {
    return new BatchEvaluation(this, items, options);
  }

  /**
   * Evaluates one content item (`contentData`, a single item) and returns its one result. Throws
   * InvalidRequestError for bad input, EvaluationRefusedError if the gateway refuses the item, ServerError if the
   * gateway does not answer with exactly one result.
   */
  async evaluateOne(request: EvaluateOneRequestInit, options?: CallOptions): Promise<EvaluateResponse> {
    const message = buildEvaluateOneRequest(request);
    this.#checkCallOptions(options);
    const responses: EvaluateResponse[] = [];
    for await (const response of this.#evaluateStream(message, options)) responses.push(response);
    if (responses.length !== 1) {
      throw new ServerError(
        `Evaluate failed: the gateway sent ${String(responses.length)} results for one content item`,
        {
          code: Code.Internal,
        },
      );
    }
    return responses[0]!;
  }

  /**
   * Creates a background job that evaluates the content, and returns it at once (PENDING or RUNNING); see
   * `waitForJob` and webhooks (`addWebhook`). Retried only when the request provably never left this process,
   * since a repeated CreateJob would create a second job. Throws InvalidRequestError for bad input (including a
   * bad webhook), EvaluationRefusedError if the gateway refuses content, and the other ClavataErrors.
   */
  async createJob(request: CreateJobRequestInit, options?: CallOptions): Promise<Job> {
    const message = buildCreateJobRequest(request);
    const response = await this.#unary("CreateJob", options, false, (o) => this.#gateway.createJob(message, o));
    return this.#job(response.job, "CreateJob");
  }

  /** Returns a job, with its results once it has completed. Throws NotFoundError for an unknown job. */
  async getJob(jobUuid: string, options?: CallOptions): Promise<Job> {
    const message = buildGetJobRequest(jobUuid);
    const response = await this.#unary("GetJob", options, true, (o) => this.#gateway.getJob(message, o));
    return this.#job(response.job, "GetJob");
  }

  /**
   * Polls a job until it is COMPLETED, FAILED or CANCELED, and returns it in that state (check `status`). Throws
   * TimeoutError when it has not finished within `timeoutMs` (default 5 minutes), AbortedError when the signal
   * fires, and whatever GetJob throws.
   */
  async waitForJob(jobUuid: string, options: WaitForJobOptions = {}): Promise<Job> {
    buildGetJobRequest(jobUuid);
    checkNumber(options.pollIntervalMs, "pollIntervalMs", { min: 1 });
    checkNumber(options.timeoutMs, "timeoutMs", { min: 1, infinite: true });
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const timeoutMs = options.timeoutMs ?? 300_000;
    const deadlineAt = Date.now() + timeoutMs;
    const wait = this.#begin("waitForJob", { signal: options.signal }, true);
    try {
      for (;;) {
        // Each poll has the client's usual time limit; the wait's own limit is checked between polls.
        const job = await this.getJob(jobUuid, { signal: wait.connect.signal! });
        if (finalStatuses.has(job.status)) return job;
        const remaining = deadlineAt - Date.now();
        if (remaining <= 0) {
          throw new TimeoutError(
            `waitForJob: job ${jobUuid} was still ${JobStatus[job.status]} after ${String(timeoutMs)} ms; ` +
              "raise timeoutMs, or have the gateway call a webhook when the job completes",
            { code: Code.DeadlineExceeded },
          );
        }
        await sleep(Math.min(pollIntervalMs, remaining), wait.connect.signal!);
      }
    } catch (error) {
      throw this.#fail(error, "waitForJob", wait);
    } finally {
      wait.dispose();
    }
  }

  /**
   * Returns one page of jobs that match the query, in the order the gateway keeps them; pass the page's
   * `nextPageToken` as `pageToken` for the next page (empty means it was the last). `query` may be a
   * JobQueryBuilder. Throws InvalidRequestError for a bad query or page size.
   */
  async listJobs(request: ListJobsRequestInit = {}, options?: CallOptions): Promise<ListJobsResponse> {
    const message = buildListJobsRequest(request);
    return this.#unary("ListJobs", options, true, (o) => this.#gateway.listJobs(message, o));
  }

  /**
   * Yields every job that matches the query, across all pages, fetching each page when the previous one is used
   * up. Each page is its own call, with the call options' timeout and retries; the signal covers the whole
   * listing. Throws InvalidRequestError at once for a bad query, ServerError if the gateway repeats a page token.
   */
  listAllJobs(
    query: JobQueryInit | JobQueryBuilder = {},
    options: ListAllJobsOptions = {},
  ): AsyncGenerator<Job, void, undefined> {
    const { pageSize = 100, ...callOptions } = options;
    const first = buildListJobsRequest({ query, pageSize });
    this.#checkCallOptions(callOptions);
    return this.#allJobs(first.query === undefined ? {} : first.query, pageSize, callOptions);
  }

  async *#allJobs(query: JobQueryInit, pageSize: number, options: CallOptions): AsyncGenerator<Job, void, undefined> {
    const seen = new Set<string>();
    let pageToken = "";
    for (;;) {
      const page = await this.listJobs({ query, pageSize, pageToken }, options);
      yield* page.jobs;
      if (page.nextPageToken === "") return;
      if (seen.has(page.nextPageToken)) {
        throw new ServerError(
          "ListJobs failed: the gateway returned a page token it had already returned, so the listing would never end",
          {
            code: Code.Internal,
          },
        );
      }
      seen.add(page.nextPageToken);
      pageToken = page.nextPageToken;
    }
  }

  /**
   * Evaluates one content item against up to 10 label versions and returns one result per id, in request order;
   * an unknown id gets a result with `error` set. Throws InvalidRequestError for bad input (no item, no ids, more
   * than 10 ids, a threshold outside [0, 1]).
   */
  async evaluateLabels(request: EvaluateLabelsRequestInit, options?: CallOptions): Promise<EvaluateLabelsResponse> {
    const message = buildEvaluateLabelsRequest(request);
    return this.#unary("EvaluateLabels", options, true, (o) => this.#labels.evaluateLabels(message, o));
  }

  /**
   * Closes the client: ends every call in flight (they throw AbortedError) and the HTTP/2 connection, so no socket
   * stays open. Later calls throw ConnectionError. A transport passed in the options is left open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const controller of this.#calls) {
      controller.abort(new ConnectError("the client was closed", Code.Canceled));
    }
    this.#calls.clear();
    this.#deadlines.clear();
    this.#sessionManager?.abort(new ConnectError("the client was closed", Code.Canceled));
    // Let the session's close events run, so the socket is gone when the promise resolves.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The same as `close()`, for `await using client = new ClavataClient()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A description without secrets, for JSON.stringify. */
  toJSON(): { baseUrl: string; closed: boolean } {
    return { baseUrl: this.#options.baseUrl, closed: this.#closed };
  }

  /** A description without secrets, for console.log and util.inspect. */
  [inspect.custom](): string {
    return `ClavataClient { baseUrl: ${JSON.stringify(this.#options.baseUrl)}, closed: ${String(this.#closed)} }`;
  }

  #checkCallOptions(options: CallOptions | undefined): void {
    if (options === undefined) return;
    if (options === null || typeof options !== "object") {
      throw new InvalidRequestError("call options must be an object such as { timeoutMs, signal }", {
        code: Code.InvalidArgument,
      });
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidRequestError("signal must be an AbortSignal, such as AbortController's signal", {
        code: Code.InvalidArgument,
        field: "options.signal",
      });
    }
    checkNumber(options.timeoutMs, "timeoutMs", { min: 1, infinite: true });
    checkNumber(options.attemptTimeoutMs, "attemptTimeoutMs", { min: 1, infinite: true });
    checkNumber(options.maxRetries, "maxRetries", { integer: true });
    checkHeaders(options.headers, "headers");
  }

  /** Starts a call: checks that the client is open, links the caller's signal, and fills in the call settings. */
  #begin(method: string, options: CallOptions | undefined, idempotent: boolean): PreparedCall {
    this.#checkCallOptions(options);
    if (this.#closed) {
      throw new ConnectionError(`${method} failed: the client is closed; make a new ClavataClient`, {
        code: Code.Unavailable,
      });
    }
    const timeoutMs = options?.timeoutMs ?? this.#options.timeoutMs;
    const controller = new AbortController();
    const signal = options?.signal;
    const onAbort = () => controller.abort(signal!.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener("abort", onAbort, { once: true });
    // The client owns the call's deadline (Connect is given none), so that it always ends with the call, also when
    // a stream is abandoned half-read.
    const forgetDeadline = Number.isFinite(timeoutMs)
      ? this.#deadlines.add(Date.now() + timeoutMs, () =>
          controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
        )
      : undefined;
    this.#calls.add(controller);
    const settings: CallSettings = {
      retry: { ...this.#options.retry, maxRetries: options?.maxRetries ?? this.#options.retry.maxRetries },
      attemptTimeoutMs: options?.attemptTimeoutMs ?? this.#options.attemptTimeoutMs,
      deadlineAt: Date.now() + timeoutMs,
      idempotent,
      attempt: 1,
    };
    const headers = { ...this.#options.headers, ...(options?.headers ?? {}) };
    return {
      connect: {
        signal: controller.signal,
        headers,
        contextValues: createContextValues().set(kCallSettings, settings),
      },
      timeoutMs,
      signal,
      dispose: () => {
        forgetDeadline?.();
        signal?.removeEventListener("abort", onAbort);
        this.#calls.delete(controller);
        // Cancels a stream left half-read on the wire; after a finished call it only releases listeners.
        if (!controller.signal.aborted) controller.abort(CALL_OVER);
      },
    };
  }

  async #unary<R>(
    method: string,
    options: CallOptions | undefined,
    idempotent: boolean,
    run: (connect: ConnectCallOptions) => Promise<R>,
  ): Promise<R> {
    const call = this.#begin(method, options, idempotent);
    try {
      return await run(call.connect);
    } catch (error) {
      throw this.#fail(error, method, call);
    } finally {
      call.dispose();
    }
  }

  #fail(error: unknown, method: string, call: PreparedCall): ClavataError {
    const mapped = toClavataError(error, {
      method,
      signal: call.signal,
      clientClosed: this.#closed,
      timeoutMs: Number.isFinite(call.timeoutMs) ? call.timeoutMs : undefined,
      redact: this.#redact,
    });
    this.#log.debug(`${method}: throwing ${mapped.name}: ${mapped.message}`);
    return mapped;
  }

  #job(job: Job | undefined, method: string): Job {
    if (job === undefined) {
      throw new ServerError(`${method} failed: the gateway answered without a job`, { code: Code.Internal });
    }
    return job;
  }
}
