// Batch jobs (REST only): the request builders and the polling of a batch job
// until it is final. The files a batch job reads and writes are in
// batch-transfer.ts. ClavataClient's batch methods are thin wrappers over
// these.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type BatchJob,
  BatchJobState,
  type CancelBatchJobRequest,
  CancelBatchJobRequestSchema,
  type CreateBatchJobRequest,
  CreateBatchJobRequestSchema,
  type GetBatchJobsRequest,
  GetBatchJobsRequestSchema,
} from "../gen/clavata/gateway/v1/batch_pb.js";
import { checkTransferUrl } from "./batch-transfer.js";
import { MAX_TIMER_MS } from "./deadlines.js";
import { describeType, invalidField, isPlainObject } from "./validation/invalid.js";
import { checkMessageShape } from "./validation/message-shape.js";

/** What CreateBatchJob takes; every field is optional. */
export interface CreateBatchJobInit {
  /** A name for the batch job. */
  name?: string;
  /** The policy to evaluate the items against. */
  policyId?: string;
  /** An https:// URL the gateway calls when the batch job completes. */
  webhookUrl?: string;
}

/** Which batch jobs GetBatchJobs returns; no filter returns all. */
export interface BatchJobFilter {
  /** Only these batch jobs. */
  batchJobIds?: readonly string[];
  /** Only batch jobs in these states. */
  states?: readonly BatchJobState[];
}

/** Options of `waitForBatchJob`. */
export interface WaitForBatchJobOptions {
  /** How long to wait between polls, in ms. Default 5000; at most 2 147 483 647 (about 24.8 days). */
  pollIntervalMs?: number;
  /** How long to wait in all, in ms, before throwing TimeoutError. Default 3 600 000 (1 hour). */
  timeoutMs?: number;
  /** Stops waiting at once; the call throws AbortedError. */
  signal?: AbortSignal;
  /** Called with the batch job whenever its state changes (for progress display). */
  onStateChange?: (job: BatchJob) => void;
}

/** The states after which a batch job does not change any more. */
export const FINAL_BATCH_JOB_STATES: ReadonlySet<BatchJobState> = new Set([
  BatchJobState.COMPLETED,
  BatchJobState.ERROR,
  BatchJobState.CANCELLED,
]);

/**
 * Builds a CreateBatchJobRequest. Throws InvalidRequestError for a request that is not a plain object with only the
 * request's fields, of their types, and for a webhook URL that is not https:// (or loopback).
 */
export function buildCreateBatchJobRequest(init: CreateBatchJobInit = {}): CreateBatchJobRequest {
  if (!isPlainObject(init as unknown)) {
    throw invalidField(
      `the request is ${describeType(init)}; pass a plain object such as { policyId: "…" }`,
      "request",
    );
  }
  checkMessageShape(CreateBatchJobRequestSchema, init, "", { bytes: 0 });
  if (init.webhookUrl !== undefined) checkTransferUrl(init.webhookUrl, "webhookUrl");
  return create(CreateBatchJobRequestSchema, {
    name: init.name,
    policyId: init.policyId,
    webhookUrl: init.webhookUrl,
  });
}

/**
 * Builds a GetBatchJobsRequest. Throws InvalidRequestError for a filter that is not a plain object with only
 * `batchJobIds` (strings, none empty) and `states` (BatchJobState values).
 */
export function buildGetBatchJobsRequest(filter: BatchJobFilter = {}): GetBatchJobsRequest {
  if (!isPlainObject(filter as unknown)) {
    throw invalidField(
      `the filter is ${describeType(filter)}; pass a plain object such as { batchJobIds: ["…"] }`,
      "filter",
    );
  }
  checkMessageShape(GetBatchJobsRequestSchema, filter, "", { bytes: 0 });
  const ids = [...(filter.batchJobIds ?? [])];
  for (const [i, id] of ids.entries()) {
    if (id.trim() === "") throw invalidField("a batch job id is empty", `batchJobIds[${i}]`);
  }
  return create(GetBatchJobsRequestSchema, { batchJobIds: ids, states: [...(filter.states ?? [])] });
}

/** Builds a CancelBatchJobRequest. Throws InvalidRequestError for an empty id. */
export function buildCancelBatchJobRequest(batchJobId: string): CancelBatchJobRequest {
  checkBatchJobId(batchJobId);
  return create(CancelBatchJobRequestSchema, { batchJobId });
}

/** Throws InvalidRequestError unless the id is a non-empty string. */
export function checkBatchJobId(batchJobId: unknown): asserts batchJobId is string {
  if (typeof batchJobId !== "string" || batchJobId.trim() === "") {
    throw invalidField("batchJobId is empty: pass the batchJobId that createBatchJob returned", "batchJobId");
  }
}

/** A batch job state's name for messages, also for a state this SDK does not know. */
function stateName(state: BatchJobState): string {
  return BatchJobState[state] ?? `in state ${String(state)} (unknown to this SDK)`;
}

/**
 * `promise`, or `expired()` thrown once `ms` pass first. Past the longest timer there is none: the promise's own
 * limit applies.
 */
async function withinTime<T>(promise: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  if (ms > MAX_TIMER_MS) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    // The promise left behind (its call is ended by the caller) must not be an unhandled rejection.
    promise.catch(() => {});
  }
}

/**
 * Polls a batch job until it is COMPLETED, ERROR or CANCELLED, and returns it. `poll` fetches the job (undefined
 * when the gateway does not know it), given the time left; `sleep` waits between polls. Throws TimeoutError-coded
 * ConnectError when it does not finish in time, also when a poll is still running then; NOT_FOUND when the job is
 * unknown.
 */
export async function pollBatchJob(
  batchJobId: string,
  options: WaitForBatchJobOptions,
  poll: (timeLeftMs: number) => Promise<BatchJob | undefined>,
  sleep: (ms: number) => Promise<void>,
): Promise<BatchJob> {
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 3_600_000;
  const deadlineAt = Date.now() + timeoutMs;
  let lastState: BatchJobState | undefined;
  const timedOut = () =>
    new ConnectError(
      `batch job ${batchJobId} was ${lastState === undefined ? "not read yet (GetBatchJobs did not answer)" : `still ${stateName(lastState)}`} ` +
        `after ${String(timeoutMs)} ms; raise timeoutMs, or pass a webhookUrl to createBatchJob`,
      Code.DeadlineExceeded,
    );
  for (;;) {
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) throw timedOut();
    // Each poll gets what is left of the wait, at most.
    let job: BatchJob | undefined;
    try {
      job = await withinTime(poll(remaining), remaining, timedOut);
    } catch (error) {
      // A poll whose own time limit was cut to the wait's ran out with the wait: the wait's timeout says more.
      if ((error as { code?: unknown } | null)?.code === Code.DeadlineExceeded && Date.now() >= deadlineAt) {
        throw timedOut();
      }
      throw error;
    }
    if (job === undefined) {
      throw new ConnectError(`batch job ${batchJobId} not found; check the batchJobId`, Code.NotFound);
    }
    if (job.state !== lastState) {
      lastState = job.state;
      options.onStateChange?.(job);
    }
    if (FINAL_BATCH_JOB_STATES.has(job.state)) return job;
    const left = deadlineAt - Date.now();
    if (left <= 0) throw timedOut();
    await sleep(Math.min(pollIntervalMs, left));
  }
}
