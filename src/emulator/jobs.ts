// The emulator's in-memory job store: CreateJob, GetJob and ListJobs data, and
// each job's life from PENDING through RUNNING to COMPLETED or FAILED.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type CreateJobRequest_Webhook,
  CreateJobRequest_WebhookSchema,
  type ListJobsRequest,
  type ListJobsRequest_Query,
  ListJobsRequest_QuerySchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import {
  type ContentData,
  ContentDataSchema,
  type Job,
  type JobResult,
  JobResultSchema,
  JobSchema,
  JobStatus,
  JobType,
  type TimeRange,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { timerDelay } from "./timers.js";

/** The page size ListJobs uses when the request's page_size is 0. */
export const DEFAULT_PAGE_SIZE = 10;
/** The largest page_size ListJobs accepts. */
export const MAX_PAGE_SIZE = 1000;

/** Options of a {@link JobStore}. */
export interface JobStoreOptions {
  /** How long a new job stays PENDING before it starts RUNNING, and then how long it runs at least (ms). Default 50. */
  delayMs?: number;
  /**
   * Evaluates a job's content: resolves with one JobResult per content item (in input order), or rejects, which makes
   * the job FAILED. Supplied by the server (it uses the policy engine). It gets a copy of the RUNNING job with its
   * content in `contentData` (the only Job the store hands out with its content). A result
   * count that differs from the number of content items also makes the job FAILED. The store sets each result's
   * job_uuid, and its created time when the result has none.
   */
  run: (job: Job) => Promise<JobResult[]>;
  /**
   * Called once when a job ends (COMPLETED or FAILED) with a copy of the final job and its webhook, if any. `reason`
   * says why a FAILED job failed (for the server's log; it is never put in the job). Exceptions it throws are ignored:
   * the job has already ended by then.
   */
  onFinished?: (job: Job, webhook: CreateJobRequest_Webhook | undefined, reason?: string) => void;
  /** Clock, for tests. Default () => new Date(). */
  now?: () => Date;
}

/** What the server passes to {@link JobStore.create}: a CreateJob request already checked and resolved. */
export interface NewJob {
  /** The customer (account) that owns the job. */
  customerId: string;
  /** The policy the job evaluates against. */
  policyId: string;
  /** The policy version the job evaluates against. */
  policyVersionId: string;
  /**
   * The content to evaluate, as sent in CreateJob; stored for the run, but never returned: the contract marks
   * Job.content_data input only, so every Job the store hands out has it empty.
   */
  contentData: ContentData[];
  /** The effective threshold, already resolved by the server. */
  threshold: number;
  /** Where to report the job when it ends. */
  webhook?: CreateJobRequest_Webhook;
}

/** The sort key and identity of the last job of a page, as a page token carries it. */
interface Position {
  createdNanos: bigint;
  jobUuid: string;
}

/** A time range of a ListJobs query, as nanoseconds since the epoch. */
interface Span {
  start: bigint | undefined;
  end: bigint | undefined;
  inclusive: boolean;
}

interface JobRecord {
  /** The stored job, without its content; never handed out, only copies of it. */
  job: Job;
  /** The job's content, kept apart from the job: it is input only, for the run (see NewJob.contentData). */
  content: ContentData[];
  webhook: CreateJobRequest_Webhook | undefined;
  /** `created` as nanoseconds, the primary sort key of ListJobs. */
  createdNanos: bigint;
  ended: boolean;
}

interface EndWaiter {
  resolve: (job: Job) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

// A page token is base64url(mac ‖ payload). The MAC (keyed per store) lets the store tell a token it made from a
// tampered or invented one, so a bad token is rejected instead of silently starting somewhere else.
const TOKEN_MAC_BYTES = 16;
const MAX_TOKEN_CHARS = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const NANOS_PER_SECOND = 1_000_000_000n;

/**
 * The emulator's in-memory store of jobs. A job is created PENDING; after `delayMs` it becomes RUNNING and `run`
 * evaluates it; once `run` has settled and it has run for at least `delayMs`, it becomes COMPLETED (with one result per
 * content item, and `completed` set) or FAILED (`run` rejected: no results, and `completed` is set to the time it
 * failed). Every status change sets `updated`. Each customer sees only its own jobs. Everything handed out is a copy,
 * and without the job's content (Job.content_data is input only, and echoing it made every answer as large as the
 * request: a job of 5 MiB could be created, but not read back by a client with gRPC's usual 4 MiB receive limit).
 */
export class JobStore {
  readonly #delayMs: number;
  readonly #run: (job: Job) => Promise<JobResult[]>;
  readonly #onFinished: JobStoreOptions["onFinished"];
  readonly #now: () => Date;
  readonly #jobs = new Map<string, JobRecord>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters = new Map<string, Set<EndWaiter>>();
  readonly #tokenKey = randomBytes(32);
  #closed = false;

  /**
   * Makes an empty store.
   *
   * @throws RangeError when `delayMs` is negative or not a finite number.
   */
  constructor(options: JobStoreOptions) {
    const delayMs = options.delayMs ?? 50;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`JobStore: delayMs must be a finite number of milliseconds >= 0; got ${delayMs}`);
    }
    this.#delayMs = delayMs;
    this.#run = options.run;
    this.#onFinished = options.onFinished;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Stores a new PENDING job (a fresh random UUID v4, created = updated = now, job_type STANDARD) and schedules
   * PENDING → RUNNING → COMPLETED/FAILED in the background. The content and webhook are copied; the content is kept
   * for the run only.
   *
   * @returns a copy of the new job.
   * @throws ConnectError(Code.Unavailable) after {@link JobStore.close}.
   */
  create(init: NewJob): Job {
    if (this.#closed) {
      throw new ConnectError(
        "the emulator is shutting down and accepts no new jobs; retry against a running emulator",
        Code.Unavailable,
      );
    }
    const now = this.#now();
    const job = clone(
      JobSchema,
      create(JobSchema, {
        jobUuid: randomUUID(),
        customerId: init.customerId,
        status: JobStatus.PENDING,
        created: timestampFromDate(now),
        updated: timestampFromDate(now),
        policyId: init.policyId,
        policyVersionId: init.policyVersionId,
        threshold: init.threshold,
        jobType: JobType.STANDARD,
      }),
    );
    const record: JobRecord = {
      job,
      content: init.contentData.map((item) => clone(ContentDataSchema, item)),
      webhook: init.webhook === undefined ? undefined : clone(CreateJobRequest_WebhookSchema, init.webhook),
      createdNanos: nanosOf(job.created),
      ended: false,
    };
    this.#jobs.set(job.jobUuid, record);
    this.#later(this.#delayMs, () => this.#start(record));
    return clone(JobSchema, job);
  }

  /** A copy of the job, or undefined when this customer has no job with this id. */
  get(customerId: string, jobUuid: string): Job | undefined {
    const record = this.#jobs.get(jobUuid);
    if (record === undefined || record.job.customerId !== customerId) return undefined;
    return clone(JobSchema, record.job);
  }

  /**
   * One page of the customer's jobs that match `request.query` (every filter that is set must hold, evaluated against
   * each job's state now). Jobs come newest first by `created`, ties broken by job_uuid in ascending order. The page
   * holds `page_size` jobs (0 means 10). `nextPageToken` is empty on the last page; otherwise pass it as page_token,
   * with the same query, to get the next page. The token records where the page ended (the created time and id of its
   * last job), so jobs created meanwhile neither shift later pages nor appear twice.
   *
   * @throws ConnectError(Code.InvalidArgument) for a page_size below 0 or above 1000, a page_token that is malformed,
   *   altered or was made for a different query (or customer), a time range whose start is after its end, or a
   *   timestamp whose nanos are outside 0..999,999,999.
   */
  list(customerId: string, request: ListJobsRequest): { jobs: Job[]; nextPageToken: string } {
    if (!Number.isInteger(request.pageSize) || request.pageSize < 0 || request.pageSize > MAX_PAGE_SIZE) {
      throw invalid(
        `page_size must be between 0 and ${MAX_PAGE_SIZE} (0 means the default, ${DEFAULT_PAGE_SIZE}); got ${request.pageSize}`,
      );
    }
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    const query = request.query ?? create(ListJobsRequest_QuerySchema);
    const created = spanOf("query.created_time_range", query.createdTimeRange);
    const updated = spanOf("query.updated_time_range", query.updatedTimeRange);
    const completed = spanOf("query.completed_time_range", query.completedTimeRange);
    const fingerprint = this.#fingerprint(customerId, query);
    const after = request.pageToken === "" ? undefined : this.#readToken(request.pageToken, fingerprint);

    const matching: JobRecord[] = [];
    for (const record of this.#jobs.values()) {
      const job = record.job;
      if (job.customerId !== customerId) continue;
      if (query.status !== JobStatus.UNSPECIFIED && job.status !== query.status) continue;
      if (query.policyId !== undefined && job.policyId !== query.policyId) continue;
      if (created !== undefined && !within(created, record.createdNanos)) continue;
      if (updated !== undefined && !within(updated, nanosOf(job.updated))) continue;
      // A job that has not ended has no completed time, so it is outside every completed range, even an open one.
      if (completed !== undefined && (job.completed === undefined || !within(completed, nanosOf(job.completed))))
        continue;
      matching.push(record);
    }
    matching.sort(compareRecords);

    let first = 0;
    if (after !== undefined) {
      first = matching.findIndex((record) => comesAfter(record, after));
      if (first === -1) first = matching.length;
    }
    const page = matching.slice(first, first + pageSize);
    const last = page.at(-1);
    const more = first + pageSize < matching.length;
    return {
      jobs: page.map((record) => clone(JobSchema, record.job)),
      nextPageToken:
        more && last !== undefined
          ? this.#makeToken({ createdNanos: last.createdNanos, jobUuid: last.job.jobUuid }, fingerprint)
          : "",
    };
  }

  /**
   * Resolves with a copy of the job once it has ended (COMPLETED or FAILED), at once if it already has.
   *
   * @param timeoutMs how long to wait; default 10,000, at most about 24.8 days (the longest a timer takes). The wait
   *   keeps the process alive, unlike the job's own timers.
   * @param signal stops waiting (rejecting with the signal's reason), for a caller that went away.
   * @throws (rejects) Error when there is no such job, on timeout, or when the store is closed first.
   */
  waitForEnd(jobUuid: string, timeoutMs = 10_000, signal?: AbortSignal): Promise<Job> {
    const record = this.#jobs.get(jobUuid);
    if (record === undefined)
      return Promise.reject(new Error(`there is no job ${jobUuid}; pass the job_uuid that create() returned`));
    if (record.ended) return Promise.resolve(clone(JobSchema, record.job));
    if (this.#closed) return Promise.reject(new Error(`job ${jobUuid} will not end: the job store is closed`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Job>((resolve, reject) => {
      let waiters = this.#waiters.get(jobUuid);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(jobUuid, waiters);
      }
      const waiter: EndWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#dropWaiter(jobUuid, waiter);
          reject(
            new Error(`job ${jobUuid} did not end within ${timeoutMs} ms (it is ${JobStatus[record.job.status]})`),
          );
        }, timerDelay(timeoutMs)),
      };
      waiters.add(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(waiter.timer);
          this.#dropWaiter(jobUuid, waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /**
   * Stops all background timers; jobs not yet ended stay as they are (a `run` still in progress is ignored when it
   * settles), pending {@link JobStore.waitForEnd} calls reject, and {@link JobStore.create} is refused. Jobs can still
   * be read. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const [jobUuid, waiters] of this.#waiters) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`job ${jobUuid} will not end: the job store was closed`));
      }
    }
    this.#waiters.clear();
  }

  /** Runs `fn` after `ms` unless the store is closed first. The timer does not keep the process alive. */
  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) fn();
    }, timerDelay(ms));
    timer.unref();
    this.#timers.add(timer);
  }

  #start(record: JobRecord): void {
    record.job.status = JobStatus.RUNNING;
    record.job.updated = timestampFromDate(this.#now());
    let outcome: { results: JobResult[] } | { error: unknown } | undefined;
    let ranLongEnough = false;
    const settle = () => {
      if (ranLongEnough && outcome !== undefined && !record.ended && !this.#closed) this.#finish(record, outcome);
    };
    this.#later(this.#delayMs, () => {
      ranLongEnough = true;
      settle();
    });
    // Through a promise, so that a `run` that throws synchronously fails the job like one that rejects.
    Promise.resolve()
      .then(() => {
        const running = clone(JobSchema, record.job);
        running.contentData = record.content.map((item) => clone(ContentDataSchema, item));
        return this.#run(running);
      })
      .then(
        (results) => {
          outcome = { results };
          settle();
        },
        (error: unknown) => {
          outcome = { error };
          settle();
        },
      );
  }

  #finish(record: JobRecord, outcome: { results: JobResult[] } | { error: unknown }): void {
    const job = record.job;
    const at = this.#now();
    let reason: string | undefined;
    if ("error" in outcome) {
      reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    } else if (!Array.isArray(outcome.results) || outcome.results.length !== record.content.length) {
      const count = Array.isArray(outcome.results) ? outcome.results.length : "no array of";
      reason = `run() returned ${count} results for ${record.content.length} content items; it must return one per item`;
    }
    if (reason === undefined && "results" in outcome) {
      job.results = outcome.results.map((result) => {
        const copy = clone(JobResultSchema, result);
        copy.jobUuid = job.jobUuid;
        copy.created ??= timestampFromDate(at);
        return copy;
      });
      job.status = JobStatus.COMPLETED;
    } else {
      job.results = [];
      job.status = JobStatus.FAILED;
    }
    job.updated = timestampFromDate(at);
    job.completed = timestampFromDate(at);
    record.ended = true;

    const waiters = this.#waiters.get(job.jobUuid);
    this.#waiters.delete(job.jobUuid);
    for (const waiter of waiters ?? []) {
      clearTimeout(waiter.timer);
      waiter.resolve(clone(JobSchema, job));
    }
    if (this.#onFinished !== undefined) {
      const webhook = record.webhook === undefined ? undefined : clone(CreateJobRequest_WebhookSchema, record.webhook);
      try {
        this.#onFinished(clone(JobSchema, job), webhook, reason);
      } catch {
        // The job has ended and is stored; a failing listener must not turn that into an unhandled rejection.
      }
    }
  }

  #dropWaiter(jobUuid: string, waiter: EndWaiter): void {
    const waiters = this.#waiters.get(jobUuid);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.#waiters.delete(jobUuid);
  }

  /** Identifies a query (and the customer asking), so that a token is only accepted with the query it was made for. */
  #fingerprint(customerId: string, query: ListJobsRequest_Query): string {
    return createHash("sha256")
      .update(customerId)
      .update("\0")
      .update(toBinary(ListJobsRequest_QuerySchema, query))
      .digest("base64url")
      .slice(0, 22);
  }

  #makeToken(position: Position, fingerprint: string): string {
    const payload = Buffer.from(
      JSON.stringify({ c: position.createdNanos.toString(), u: position.jobUuid, q: fingerprint }),
      "utf8",
    );
    return Buffer.concat([this.#mac(payload), payload]).toString("base64url");
  }

  #readToken(token: string, fingerprint: string): Position {
    const malformed = () =>
      invalid(
        "page_token is malformed or was altered; pass the next_page_token of the previous page exactly as returned, or an empty page_token to start over",
      );
    if (token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) throw malformed();
    const bytes = Buffer.from(token, "base64url");
    // Non-canonical spellings (stray trailing bits) decode to the same bytes; accept only the token as it was made.
    if (bytes.toString("base64url") !== token || bytes.length <= TOKEN_MAC_BYTES) throw malformed();
    const mac = bytes.subarray(0, TOKEN_MAC_BYTES);
    const payload = bytes.subarray(TOKEN_MAC_BYTES);
    if (!timingSafeEqual(mac, this.#mac(payload))) throw malformed();
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString("utf8"));
    } catch {
      throw malformed();
    }
    const fields = parsed as { c?: unknown; u?: unknown; q?: unknown };
    if (
      typeof fields.c !== "string" ||
      !/^-?\d+$/.test(fields.c) ||
      typeof fields.u !== "string" ||
      typeof fields.q !== "string"
    ) {
      throw malformed();
    }
    if (fields.q !== fingerprint) {
      throw invalid(
        "page_token was made for a different query; send the same query (and account) as for the first page, or an empty page_token to start over",
      );
    }
    return { createdNanos: BigInt(fields.c), jobUuid: fields.u };
  }

  #mac(payload: Uint8Array): Buffer {
    return createHmac("sha256", this.#tokenKey).update(payload).digest().subarray(0, TOKEN_MAC_BYTES);
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Nanoseconds since the epoch; exact, unlike a Date, so that filters with sub-millisecond bounds compare correctly. */
function nanosOf(timestamp: Timestamp | undefined): bigint {
  if (timestamp === undefined) return 0n;
  return timestamp.seconds * NANOS_PER_SECOND + BigInt(timestamp.nanos);
}

function checkTimestamp(field: string, timestamp: Timestamp | undefined): bigint | undefined {
  if (timestamp === undefined) return undefined;
  if (!Number.isInteger(timestamp.nanos) || timestamp.nanos < 0 || timestamp.nanos > 999_999_999) {
    throw invalid(`${field}.nanos must be between 0 and 999999999; got ${timestamp.nanos}`);
  }
  return nanosOf(timestamp);
}

function spanOf(field: string, range: TimeRange | undefined): Span | undefined {
  if (range === undefined) return undefined;
  const start = checkTimestamp(`${field}.start`, range.start);
  const end = checkTimestamp(`${field}.end`, range.end);
  if (start !== undefined && end !== undefined && start > end) {
    throw invalid(
      `${field}: start (${formatTimestamp(range.start)}) is after end (${formatTimestamp(range.end)}); swap them, or leave one unset for an open-ended range`,
    );
  }
  return { start, end, inclusive: range.inclusive };
}

function formatTimestamp(timestamp: Timestamp | undefined): string {
  if (timestamp === undefined) return "unset";
  try {
    return timestampDate(timestamp).toISOString();
  } catch {
    return `${timestamp.seconds}s+${timestamp.nanos}ns`;
  }
}

function within(span: Span, t: bigint): boolean {
  if (span.start !== undefined && (span.inclusive ? t < span.start : t <= span.start)) return false;
  if (span.end !== undefined && (span.inclusive ? t > span.end : t >= span.end)) return false;
  return true;
}

/** ListJobs order: newest first by created, then by job_uuid ascending. */
function compareRecords(a: JobRecord, b: JobRecord): number {
  if (a.createdNanos !== b.createdNanos) return a.createdNanos > b.createdNanos ? -1 : 1;
  return a.job.jobUuid < b.job.jobUuid ? -1 : a.job.jobUuid > b.job.jobUuid ? 1 : 0;
}

function comesAfter(record: JobRecord, position: Position): boolean {
  if (record.createdNanos !== position.createdNanos) return record.createdNanos < position.createdNanos;
  return record.job.jobUuid > position.jobUuid;
}
