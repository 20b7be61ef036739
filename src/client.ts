// ClavataClient: what a backend imports. It owns the options, the HTTP/2
// session, the interceptors and the mapping of every failure to a ClavataError;
// its methods take plain objects and return the generated message types.

import type { DescMessage, DescMethodUnary, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  type BatchJob,
  BatchJobErrorCode,
  BatchJobService,
  type CancelBatchJobResponse,
  type CreateBatchJobResponse,
} from "../gen/clavata/gateway/v1/batch_pb.js";
import { type EvaluateResponse, GatewayService, type ListJobsResponse } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { type EvaluateLabelsResponse, LabelsService } from "../gen/clavata/gateway/v1/labels_pb.js";
import { type Job, JobStatus } from "../gen/clavata/shared/v1/public_pb.js";
import type { BatchItems } from "./batch/batch-input.js";
import type { EvaluateBatchOptions } from "./batch/batch-options.js";
import { BatchEvaluation } from "./batch/evaluate-batch.js";
import {
  type BatchJobFilter,
  buildCancelBatchJobRequest,
  buildCreateBatchJobRequest,
  buildGetBatchJobsRequest,
  type CreateBatchJobInit,
  checkBatchJobId,
  pollBatchJob,
  type WaitForBatchJobOptions,
} from "./batch-jobs.js";
import {
  type BatchInputFile,
  type BatchInputItem,
  type BatchOutputRow,
  type ReadBatchOutputOptions,
  readBatchOutput,
  type UploadBatchInputOptions,
  type UploadResult,
  uploadBatchInput,
} from "./batch-transfer.js";
import { ClientCall } from "./call-control.js";
import {
  type CallOptions,
  type ClavataClientOptions,
  checkCallOptions,
  checkReadBatchOutputOptions,
  checkUploadOptions,
  checkWaitForBatchJobOptions,
  checkWaitOptions,
  type ResolvedClientOptions,
  resolveClientOptions,
  shortKeyWarning,
} from "./client-options.js";
import { ConnectPath } from "./connect-path.js";
import { Deadlines } from "./deadlines.js";
import {
  type ClavataError,
  ConnectionError,
  InvalidRequestError,
  ServerError,
  TimeoutError,
  toClavataError,
} from "./errors.js";
import type { CallRunner } from "./fast-path.js";
import {
  bearerAuthInterceptor,
  type CallSettings,
  identifyInterceptor,
  loggingInterceptor,
  retryInterceptor,
} from "./interceptors.js";
import type { JobQueryBuilder, JobQueryInit } from "./job-query.js";
import { createLog, createRedactor, type Log, silentLog } from "./logging.js";
import { isLoopbackHost } from "./loopback.js";
import {
  buildCheckedEvaluateRequest,
  buildCreateJobRequest,
  buildEvaluateLabelsRequest,
  buildEvaluateOneRequest,
  buildEvaluateRequest,
  buildGetJobRequest,
  buildListJobsRequest,
  type CheckedEvaluateRequest,
  type CreateJobRequestInit,
  checkJobUuid,
  checkPageSize,
  type EvaluateLabelsRequestInit,
  type EvaluateOneRequestInit,
  type EvaluateRequestInit,
  type ListJobsRequestInit,
} from "./requests.js";
import { ResponseStream, type StreamCall } from "./response-stream.js";
import { sleep } from "./retry.js";
import { createGrpcRunner } from "./transport/grpc-runner.js";
import { createRestTransport } from "./transport/rest/rest-transport.js";
import { withInterceptors } from "./transport/with-interceptors.js";
import { describeType } from "./validation/invalid.js";

// Node.js's util.inspect.custom, without importing node:util (edge runtimes have none).
const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

/** Options of `waitForJob`. */
export interface WaitForJobOptions {
  /** How long to wait between GetJob polls, in ms. Default 1000; at most 2 147 483 647 (about 24.8 days). */
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
/** The abort reason of a call whose deadline passed. */
const TIMED_OUT = new ConnectError("the operation timed out", Code.DeadlineExceeded);

/** Empty pages in a row, each with a new token, after which listAllJobs gives up on a listing that never ends. */
const MAX_EMPTY_PAGES = 100;

/** The job statuses after which a job does not change any more. */
const finalStatuses: ReadonlySet<JobStatus> = new Set([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED]);

/** A call in flight: the call itself, what error mapping needs, and how to end it. */
interface PreparedCall {
  readonly call: ClientCall;
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
  /** Closes the client's own gRPC connections; undefined for REST and for a transport of the caller's. */
  readonly #closeConnections: ((reason: ConnectError) => void) | undefined;
  readonly #runner: CallRunner;
  readonly #log: Log;
  readonly #redact: (text: string) => string;
  readonly #calls = new Set<ClientCall>();
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
    const shortKey = shortKeyWarning(apiKey!);
    if (shortKey !== undefined) this.#log.warn(shortKey);
    // Per-attempt logging only costs when someone reads it.
    const logEveryCall = this.#log !== silentLog && resolved.logLevel === "debug";
    const interceptors = [
      retryInterceptor(this.#log, this.#deadlines),
      ...(logEveryCall ? [loggingInterceptor(this.#log)] : []),
      identifyInterceptor(),
      bearerAuthInterceptor(apiKey!),
      ...(options.interceptors ?? []),
    ];
    if (resolved.transport === "custom") {
      this.#runner = new ConnectPath(withInterceptors(options.transport as Transport, interceptors, resolved.baseUrl));
    } else if (resolved.protocol === "rest") {
      this.#runner = new ConnectPath(
        createRestTransport({
          baseUrl: resolved.baseUrl,
          interceptors,
          maxReceiveMessageBytes: resolved.maxReceiveMessageBytes,
          fetch: resolved.fetch,
        }),
      );
    } else {
      // The caller's own interceptors (and per-call logging) need Connect's chain; the client's own work does not.
      const fastPath =
        (options.interceptors?.length ?? 0) > 0 || logEveryCall
          ? undefined
          : { apiKey: apiKey!, log: this.#log, deadlines: this.#deadlines };
      const grpc = createGrpcRunner(resolved, interceptors, fastPath);
      this.#runner = grpc.runner;
      this.#closeConnections = grpc.close;
    }
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
    checkCallOptions(options);
    const message = buildEvaluateRequest(request, this.#options.limits);
    const count = message.contentData.length;
    // The gateway sends one result per item: a stream that ends OK with fewer has lost some, and must not look
    // complete; one with more is not answering this request. (evaluateBatch, through evaluateChecked, matches the
    // results to its items itself and reports each item.)
    return this.#evaluateStream(message, options, {
      count,
      wrong: (received) =>
        new ServerError(
          received < count
            ? `Evaluate failed: the gateway ended the stream after ${String(received)} of ${String(count)} results ` +
                "(it sends one per item); the items without a result have no verdict"
            : `Evaluate failed: the gateway sent more results than the ${String(count)} items sent (it sends one per ` +
                "item); the stream was cancelled",
          { code: Code.Internal },
        ),
    });
  }

  /**
   * evaluate() for items that evaluateBatch checked one by one as it read them: checks only what depends on the
   * request as a whole (count, size, policy id, threshold). Not for direct use.
   * @internal
   */
  evaluateChecked(
    request: CheckedEvaluateRequest,
    options?: CallOptions,
  ): AsyncGenerator<EvaluateResponse, void, undefined> {
    checkCallOptions(options);
    return this.#evaluateStream(buildCheckedEvaluateRequest(request, this.#options.limits), options);
  }

  #evaluateStream(
    message: ReturnType<typeof buildEvaluateRequest>,
    options: CallOptions | undefined,
    expected?: StreamCall<EvaluateResponse>["expected"],
  ): AsyncGenerator<EvaluateResponse, void, undefined> {
    let prepared: PreparedCall | undefined;
    return new ResponseStream<EvaluateResponse>({
      expected,
      start: () => {
        prepared = this.#begin("Evaluate", options, true);
        return this.#runner.stream(GatewayService.method.evaluate, message, prepared.call);
      },
      fail: (error) => (prepared === undefined ? error : this.#fail(error, "Evaluate", prepared)),
      dispose: () => prepared?.dispose(),
    });
  }

  /**
   * Evaluates many items (an array, a generator, any Iterable or AsyncIterable of content items, read lazily) and
   * yields exactly one BatchOutcome per item: `result`, `refused` (with the reason and content hash) or `failed`
   * (with its ClavataError). Items go in chunks over up to `concurrency` streams; refused items are picked out and
   * the rest sent again, and after a failure only unanswered items are resent, up to `maxAttempts` sends each (a
   * resent item may be evaluated, and billed, twice: `resend: false` turns that off). See EvaluateBatchOptions.
   * Read `.summary` for the counts. Throws InvalidRequestError at once for a bad option; while iterating, throws
   * only AbortedError (your signal, or close(); TimeoutError for `AbortSignal.timeout`) or an error that dooms every
   * item (authentication, unknown policy).
   */
  evaluateBatch(items: BatchItems, options: EvaluateBatchOptions): BatchEvaluation {
    // While the batch runs, a call of its own stands in #calls, so that close() ends it also when no stream runs.
    const watchClose = () => {
      const watch = this.#begin("evaluateBatch", { timeoutMs: Infinity }, true);
      return { signal: watch.call.signal, dispose: watch.dispose };
    };
    return new BatchEvaluation(this, items, options, { watchClose });
  }

  /**
   * Evaluates one content item (`contentData`, a single item) and returns its one result. Throws
   * InvalidRequestError for bad input, EvaluationRefusedError if the gateway refuses the item, ServerError if the
   * gateway does not answer with exactly one result.
   */
  async evaluateOne(request: EvaluateOneRequestInit, options?: CallOptions): Promise<EvaluateResponse> {
    checkCallOptions(options);
    const message = buildEvaluateOneRequest(request, this.#options.limits);
    let result: EvaluateResponse | undefined;
    // One result, and the stream is cancelled at a second: an endless stream must not be collected until it ends.
    const wrong = (received: number) =>
      new ServerError(
        received === 0
          ? "Evaluate failed: the gateway sent no result for the content item"
          : "Evaluate failed: the gateway sent more than one result for one content item; the stream was cancelled",
        { code: Code.Internal },
      );
    for await (const response of this.#evaluateStream(message, options, { count: 1, wrong })) result = response;
    return result!;
  }

  /**
   * Creates a background job that evaluates the content, and returns it at once (PENDING or RUNNING); see
   * `waitForJob` and webhooks (`addWebhook`). Retried only when the request provably never left this process,
   * since a repeated CreateJob would create a second job. Throws InvalidRequestError for bad input (including a
   * bad webhook), EvaluationRefusedError if the gateway refuses content, and the other ClavataErrors.
   */
  async createJob(request: CreateJobRequestInit, options?: CallOptions): Promise<Job> {
    checkCallOptions(options);
    const message = buildCreateJobRequest(request, this.#options.limits);
    const response = await this.#unary(GatewayService.method.createJob, message, options, false);
    return this.#job(response.job, "CreateJob");
  }

  /** Returns a job, with its results once it has completed. Throws NotFoundError for an unknown job. */
  async getJob(jobUuid: string, options?: CallOptions): Promise<Job> {
    checkCallOptions(options);
    const message = buildGetJobRequest(jobUuid, this.#options.limits);
    const response = await this.#unary(GatewayService.method.getJob, message, options, true);
    const job = this.#job(response.job, "GetJob");
    // A gateway (or a cache or proxy in front of it) that answers with another job must not pass for this one.
    if (job.jobUuid.toLowerCase() !== jobUuid.toLowerCase()) {
      throw new ServerError(
        `GetJob failed: the gateway answered for job ${JSON.stringify(job.jobUuid)} when asked for ${jobUuid}`,
        { code: Code.Internal },
      );
    }
    return job;
  }

  /**
   * Polls a job until it is COMPLETED, FAILED or CANCELED, and returns it in that state (check `status`). Throws
   * TimeoutError when it has not finished within `timeoutMs` (default 5 minutes), AbortedError when the signal
   * fires, and whatever GetJob throws.
   */
  async waitForJob(jobUuid: string, options: WaitForJobOptions = {}): Promise<Job> {
    checkJobUuid(jobUuid, this.#options.limits);
    checkWaitOptions(options);
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const timeoutMs = options.timeoutMs ?? 300_000;
    const deadlineAt = Date.now() + timeoutMs;
    // The wait has its own time limit, not the client's timeoutMs (which limits each poll).
    const wait = this.#begin("waitForJob", { signal: options.signal, timeoutMs: Infinity }, true);
    let status: JobStatus | undefined;
    const timedOut = () =>
      new TimeoutError(
        `waitForJob: job ${jobUuid} was ${status === undefined ? "not yet read" : `still ${JobStatus[status] ?? `in status ${String(status)}`}`} ` +
          `after ${String(timeoutMs)} ms; raise timeoutMs, or have the gateway call a webhook when the job completes`,
        { code: Code.DeadlineExceeded },
      );
    try {
      for (;;) {
        const remaining = deadlineAt - Date.now();
        if (remaining <= 0) throw timedOut();
        // Each poll has the client's usual time limit, cut to what is left of the wait's.
        let job: Job;
        try {
          job = await this.getJob(jobUuid, {
            signal: wait.call.signal,
            timeoutMs: Math.min(this.#options.timeoutMs, remaining),
          });
        } catch (error) {
          if (error instanceof TimeoutError && Date.now() >= deadlineAt) throw timedOut();
          throw error;
        }
        status = job.status;
        if (finalStatuses.has(job.status)) return job;
        const left = deadlineAt - Date.now();
        if (left <= 0) throw timedOut();
        await sleep(Math.min(pollIntervalMs, left), wait.call.signal);
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
    checkCallOptions(options);
    const message = buildListJobsRequest(request, this.#options.limits);
    return this.#unary(GatewayService.method.listJobs, message, options, true);
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
    checkCallOptions(options, ["pageSize"]);
    const { pageSize = 100, ...callOptions } = options;
    checkPageSize(pageSize, this.#options.limits, "options.pageSize");
    const first = buildListJobsRequest({ query, pageSize }, this.#options.limits);
    return this.#allJobs(first.query === undefined ? {} : first.query, pageSize, callOptions);
  }

  async *#allJobs(query: JobQueryInit, pageSize: number, options: CallOptions): AsyncGenerator<Job, void, undefined> {
    const seen = new Set<string>();
    let pageToken = "";
    let emptyPages = 0;
    for (;;) {
      const page = await this.listJobs({ query, pageSize, pageToken }, options);
      for (const job of page.jobs) {
        // The signal covers the whole listing, also the jobs of a page already fetched.
        const signal = options.signal;
        if (signal?.aborted) throw toClavataError(signal.reason, { method: "ListJobs", signal, redact: this.#redact });
        yield job;
      }
      if (page.nextPageToken === "") return;
      // A gateway may return an empty page before the end, but not page after page of them: a listing that yields
      // nothing while its tokens keep changing would never end (and its tokens would pile up in `seen`).
      emptyPages = page.jobs.length === 0 ? emptyPages + 1 : 0;
      if (emptyPages >= MAX_EMPTY_PAGES) {
        throw new ServerError(
          `ListJobs failed: the gateway returned ${String(MAX_EMPTY_PAGES)} empty pages in a row, each with a new ` +
            "page token, so the listing would never end",
          { code: Code.Internal },
        );
      }
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
    checkCallOptions(options);
    const message = buildEvaluateLabelsRequest(request, this.#options.limits);
    const response = await this.#unary(LabelsService.method.evaluateLabels, message, options, true);
    // One result per label version asked for, in the same order (the contract): anything else would pin a verdict
    // on the wrong label, or leave a label silently unevaluated.
    const asked = message.labelVersionIds;
    const got = response.results.map((r) => r.labelVersionId);
    if (got.length !== asked.length || got.some((id, i) => id !== asked[i])) {
      throw new ServerError(
        `EvaluateLabels failed: the gateway answered for the label versions ${JSON.stringify(got)} when asked for ` +
          `${JSON.stringify(asked)} (one result per label version, in order)`,
        { code: Code.Internal },
      );
    }
    return response;
  }

  /**
   * Creates a batch job (REST only) and returns its id and the presigned URL to upload its input to (valid 4 hours);
   * then call `uploadBatchInput`. Not retried once it may have reached the gateway. Throws InvalidRequestError over
   * gRPC (batch jobs exist only on the REST surface) or when the gateway reports an error for the new batch job.
   */
  async createBatchJob(request: CreateBatchJobInit = {}, options?: CallOptions): Promise<CreateBatchJobResponse> {
    this.#requireRest("createBatchJob");
    checkCallOptions(options);
    const message = buildCreateBatchJobRequest(request);
    const response = await this.#unary(BatchJobService.method.createBatchJob, message, options, false);
    this.#checkBatchError(response.error, "CreateBatchJob");
    const missing = [
      ...(response.batchJobId === "" ? ["a batchJobId"] : []),
      ...(response.inputFileUploadUrl === "" ? ["an inputFileUploadUrl"] : []),
    ];
    if (missing.length > 0) {
      // Without them the batch job can be neither fed nor followed; the next call would blame the caller.
      throw new ServerError(`CreateBatchJob failed: the gateway answered without ${missing.join(" or ")}`, {
        code: Code.Internal,
      });
    }
    return response;
  }

  /**
   * Uploads a batch job's input (REST only): `items` become the CSV (ref_id,type,content; ref_id unique), or a CSV
   * file of known size is streamed as is. Nothing of the client's own goes along (no API key, no headers), and the
   * URL's signature never appears in an error or log. Throws InvalidRequestError for bad items or options and for
   * a stream whose length is not `size`, TimeoutError when no bytes move for `idleTimeoutMs` (default 60 s), and the
   * usual ClavataErrors when the upload fails (PermissionDeniedError for an expired URL).
   */
  async uploadBatchInput(
    uploadUrl: string,
    input: Iterable<BatchInputItem> | BatchInputFile,
    options: UploadBatchInputOptions = {},
  ): Promise<UploadResult> {
    this.#requireRest("uploadBatchInput");
    checkUploadOptions(options);
    const call = this.#begin("uploadBatchInput", { signal: options.signal, timeoutMs: Infinity }, true);
    try {
      return await uploadBatchInput(uploadUrl, input, {
        onProgress: options.onProgress,
        signal: call.call.signal,
        idleTimeoutMs: options.idleTimeoutMs,
        redact: this.#redact,
        fetch: this.#options.fetch,
      });
    } catch (error) {
      throw this.#fail(error, "uploadBatchInput", call);
    } finally {
      call.dispose();
    }
  }

  /** Returns the batch jobs that match the filter (REST only); no filter returns all. */
  async getBatchJobs(filter: BatchJobFilter = {}, options?: CallOptions): Promise<BatchJob[]> {
    this.#requireRest("getBatchJobs");
    checkCallOptions(options);
    const message = buildGetBatchJobsRequest(filter);
    const response = await this.#unary(BatchJobService.method.getBatchJobs, message, options, true);
    return response.batchJobs;
  }

  /**
   * Polls a batch job (REST only) until it is COMPLETED, ERROR or CANCELLED and returns it (check `state`). Throws
   * TimeoutError after `timeoutMs` (default 1 hour), AbortedError when the signal fires, NotFoundError for an
   * unknown id.
   */
  async waitForBatchJob(batchJobId: string, options: WaitForBatchJobOptions = {}): Promise<BatchJob> {
    this.#requireRest("waitForBatchJob");
    checkBatchJobId(batchJobId);
    checkWaitForBatchJobOptions(options);
    const wait = this.#begin("waitForBatchJob", { signal: options.signal, timeoutMs: Infinity }, true);
    try {
      return await pollBatchJob(
        batchJobId,
        options,
        // Each poll has the client's usual time limit, cut to what is left of the wait's.
        async (timeLeftMs) =>
          (
            await this.getBatchJobs(
              { batchJobIds: [batchJobId] },
              { signal: wait.call.signal, timeoutMs: Math.min(this.#options.timeoutMs, timeLeftMs) },
            )
          ).find((j) => j.batchJobId === batchJobId),
        (ms) => sleep(ms, wait.call.signal),
      );
    } catch (error) {
      throw this.#fail(error, "waitForBatchJob", wait);
    } finally {
      wait.dispose();
    }
  }

  /** Cancels a batch job that has not finished (REST only) and returns its state after the cancel. */
  async cancelBatchJob(batchJobId: string, options?: CallOptions): Promise<CancelBatchJobResponse> {
    this.#requireRest("cancelBatchJob");
    checkCallOptions(options);
    const message = buildCancelBatchJobRequest(batchJobId);
    const response = await this.#unary(BatchJobService.method.cancelBatchJob, message, options, true);
    this.#checkBatchError(response.error, "CancelBatchJob");
    return response;
  }

  /**
   * Yields the rows of a completed batch job's output file (REST only), downloading it as the rows are read; pass
   * the job (its `outputFileUrl`) or the URL. JSON lines and CSV are both read, and every column is kept. Sends no
   * API key; the URL is redacted from errors. Throws InvalidRequestError when the job has no output file yet;
   * TimeoutError when no bytes arrive for `idleTimeoutMs` (default 60 s) while a row is wanted; ServerError for a
   * line longer than `maxReceiveMessageBytes` or a file that is not CSV or JSON lines.
   */
  readBatchOutput(job: BatchJob | string, options: ReadBatchOutputOptions = {}): AsyncGenerator<BatchOutputRow> {
    this.#requireRest("readBatchOutput");
    const url = typeof job === "string" ? job : job !== null && typeof job === "object" ? job.outputFileUrl : undefined;
    if (typeof url !== "string") {
      throw new InvalidRequestError(
        `job is ${describeType(job)}; pass the BatchJob that waitForBatchJob returned, or its outputFileUrl`,
        { code: Code.InvalidArgument, field: "job" },
      );
    }
    checkReadBatchOutputOptions(options);
    if (url === "") {
      throw new InvalidRequestError("the batch job has no output file yet: wait until it is COMPLETED", {
        code: Code.FailedPrecondition,
        field: "job.outputFileUrl",
      });
    }
    return this.#readOutput(url, options);
  }

  async *#readOutput(url: string, options: ReadBatchOutputOptions): AsyncGenerator<BatchOutputRow> {
    const call = this.#begin("readBatchOutput", { signal: options.signal, timeoutMs: Infinity }, true);
    try {
      yield* readBatchOutput(url, {
        signal: call.call.signal,
        idleTimeoutMs: options.idleTimeoutMs,
        maxLineBytes: this.#options.maxReceiveMessageBytes,
        redact: this.#redact,
        fetch: this.#options.fetch,
      });
    } catch (error) {
      throw this.#fail(error, "readBatchOutput", call);
    } finally {
      call.dispose();
    }
  }

  #requireRest(method: string): void {
    if (this.#options.protocol !== "rest") {
      throw new InvalidRequestError(
        `${method}: batch jobs exist only on the gateway's REST surface; make the client with protocol: "rest"`,
        { code: Code.Unimplemented, field: "options.protocol" },
      );
    }
  }

  #checkBatchError(error: { errorCode: BatchJobErrorCode; errorMessage: string } | undefined, method: string): void {
    if (
      error === undefined ||
      (error.errorCode === BatchJobErrorCode.BATCH_JOB_ERROR_UNSPECIFIED && error.errorMessage === "")
    ) {
      return;
    }
    throw new InvalidRequestError(
      `${method} failed: ${BatchJobErrorCode[error.errorCode] ?? String(error.errorCode)}: ${error.errorMessage}`,
      { code: Code.FailedPrecondition, rawMessage: error.errorMessage },
    );
  }

  /**
   * Closes the client: ends every call in flight (they throw AbortedError) and the HTTP/2 connection, so no socket
   * stays open. Later calls throw ConnectionError. A transport passed in the options is left open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ConnectError("the client was closed", Code.Canceled);
    for (const call of this.#calls) call.abort(closed);
    this.#calls.clear();
    this.#deadlines.clear();
    if (this.#closeConnections !== undefined) {
      this.#closeConnections(closed);
      // Let the sessions' close events run, so the sockets are gone when the promise resolves (only where there are
      // sessions of ours: edge runtimes have no setImmediate).
      await new Promise((resolve) => setImmediate(resolve));
    }
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
  [inspectCustom](): string {
    return `ClavataClient { baseUrl: ${JSON.stringify(this.#options.baseUrl)}, closed: ${String(this.#closed)} }`;
  }

  /**
   * Starts a call whose options the public method has already checked (once, with checkCallOptions): checks that
   * the client is open, links the caller's signal, and fills in the call settings.
   */
  #begin(method: string, options: CallOptions | undefined, idempotent: boolean): PreparedCall {
    if (this.#closed) {
      throw new ConnectionError(`${method} failed: the client is closed; make a new ClavataClient`, {
        code: Code.Unavailable,
      });
    }
    const timeoutMs = options?.timeoutMs ?? this.#options.timeoutMs;
    const now = Date.now();
    const settings: CallSettings = {
      retry:
        options?.maxRetries === undefined
          ? this.#options.retry
          : { ...this.#options.retry, maxRetries: options.maxRetries },
      attemptTimeoutMs: options?.attemptTimeoutMs ?? this.#options.attemptTimeoutMs,
      deadlineAt: now + timeoutMs,
      idempotent,
      attempt: 1,
      transparentRetries: 0,
    };
    const clientHeaders = this.#options.headers;
    const callHeaders = options?.headers;
    const headers =
      callHeaders === undefined ? (this.#hasHeaders ? clientHeaders : undefined) : { ...clientHeaders, ...callHeaders };
    const call = new ClientCall(method, settings, headers);
    const signal = options?.signal;
    const onAbort = signal === undefined ? undefined : () => call.abort(signal.reason);
    if (signal?.aborted) call.abort(signal.reason);
    else if (onAbort !== undefined) signal!.addEventListener("abort", onAbort, { once: true });
    // The client owns the call's deadline (Connect is given none), so that it always ends with the call, also when
    // a stream is abandoned half-read.
    const forgetDeadline = Number.isFinite(timeoutMs)
      ? this.#deadlines.add(settings.deadlineAt, () => call.abort(TIMED_OUT))
      : undefined;
    this.#calls.add(call);
    return {
      call,
      timeoutMs,
      signal,
      dispose: () => {
        forgetDeadline?.();
        if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
        this.#calls.delete(call);
        // Cancels a stream left half-read on the wire; after a finished call it only releases listeners.
        call.abort(CALL_OVER);
      },
    };
  }

  get #hasHeaders(): boolean {
    for (const _ in this.#options.headers) return true;
    return false;
  }

  async #unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    message: MessageShape<I>,
    options: CallOptions | undefined,
    idempotent: boolean,
  ): Promise<MessageShape<O>> {
    const prepared = this.#begin(method.name, options, idempotent);
    try {
      return await this.#runner.unary(method, message, prepared.call);
    } catch (error) {
      throw this.#fail(error, method.name, prepared);
    } finally {
      prepared.dispose();
    }
  }

  #fail(error: unknown, method: string, call: PreparedCall): ClavataError {
    const mapped = toClavataError(error, {
      method,
      signal: call.signal,
      clientClosed: this.#closed,
      timeoutMs: Number.isFinite(call.timeoutMs) ? call.timeoutMs : undefined,
      deadlineAt: call.call.settings.deadlineAt,
      attemptTimeoutMs: call.call.settings.attemptTimeoutMs,
      idempotent: call.call.settings.idempotent,
      redact: this.#redact,
      protocol: this.#options.protocol,
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
