import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type PrecheckFailure, PrecheckFailureSchema } from "../../gen/clavata/gateway/v1/errs_pb.js";
import {
  type CreateJobRequest,
  type EvaluateRequest,
  EvaluateResponseSchema,
  type GatewayService,
  type GetJobRequest,
  type ListJobsRequest,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import {
  type EvaluateLabelsRequest,
  EvaluateLabelsResponseSchema,
  type LabelResult,
  LabelResultSchema,
  type LabelsService,
} from "../../gen/clavata/gateway/v1/labels_pb.js";
import {
  type ContentData,
  type Job,
  type JobResult,
  JobResultSchema,
  JobStatus,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { MAX_LABEL_VERSION_IDS } from "../validation/limits.js";
import { type ContentVerdict, DEFAULT_THRESHOLD, effectiveThreshold, type PolicyEngine } from "./engine.js";
import type { JobStore } from "./jobs.js";
import type { Policy } from "./policy.js";
import type { PreparedContent } from "./prepared-content.js";
import { abortedCallError, sleep, timerDelay } from "./timers.js";
import { WebhookDispatcher } from "./webhook-dispatcher.js";

/** The customer the calling API key belongs to; set by the auth interceptor. @internal */
export const kCustomerId = createContextKey<string>("", { description: "emulator customer id" });

/** At most this many label version ids per EvaluateLabels call, as on the gateway (the one constant, shared with the client). */
export { MAX_LABEL_VERSION_IDS };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the service handlers need from the emulator. @internal */
export interface ServiceDeps {
  engine: PolicyEngine;
  jobs: JobStore;
  /** Largest request, in bytes, estimated from its content. */
  maxMessageBytes: number;
  /** The most one Evaluate item's answer is held back, so that answers arrive out of input order. */
  evaluateJitterMs: number;
  /** Told the content hash of every item an Evaluate call evaluated (not of refused calls). */
  onEvaluated?: ((contentHashes: readonly string[]) => void) | undefined;
}

/** Implements GatewayService over the policy engine and the job store. @internal */
export function gatewayService(deps: ServiceDeps): ServiceImpl<typeof GatewayService> {
  const { engine, jobs } = deps;
  return {
    async *evaluate(req: EvaluateRequest, ctx: HandlerContext) {
      const policy = requirePolicy(engine, req.policyId);
      const threshold = checkThreshold(req.threshold, "threshold");
      const items = await prepareItems(engine, req.contentData, deps.maxMessageBytes);
      const verdicts = await Promise.all(items.map((item) => engine.evaluate(policy, item, threshold)));
      throwIfRefused(verdicts);
      deps.onEvaluated?.(verdicts.map((v) => v.contentHash));
      const jobUuid = randomUUID();
      // Every item is "evaluated concurrently": each answer is held back by a delay derived from its content hash,
      // so the order of answers is deterministic but differs from the input order, as on the real gateway.
      yield* inCompletionOrder(
        verdicts.map((v) => ({
          delayMs: deps.evaluateJitterMs > 0 ? jitter(v.contentHash, deps.evaluateJitterMs) : 0,
          value: create(EvaluateResponseSchema, {
            jobUuid,
            contentHash: v.contentHash,
            policyEvaluationReport: v.kind === "evaluated" ? v.report : undefined,
          }),
        })),
        ctx.signal,
      );
    },

    async createJob(req: CreateJobRequest, ctx: HandlerContext) {
      const policy = requirePolicy(engine, req.policyId);
      const threshold = checkThreshold(req.threshold, "threshold");
      if (req.webhook) WebhookDispatcher.validate(req.webhook);
      const items = await prepareItems(engine, req.contentData, deps.maxMessageBytes);
      // Prechecks run before the job exists, so a refused item fails the call as it does on the gateway.
      const refusals = items.flatMap((item) => engine.precheck(item) ?? []);
      if (refusals.length > 0) throw refusalError(refusals);
      const job = jobs.create({
        customerId: ctx.values.get(kCustomerId),
        policyId: policy.id,
        policyVersionId: policy.versionId,
        contentData: req.contentData,
        threshold: threshold ?? DEFAULT_THRESHOLD,
        ...(req.webhook ? { webhook: req.webhook } : {}),
      });
      // The official SDKs' create_job(wait_for_completion=True) and evaluate_one keep the call open until the job
      // is final, within the call's deadline.
      if (req.waitForCompletion) return { job: await waitForJob(jobs, job.jobUuid, ctx) };
      return { job };
    },

    getJob(req: GetJobRequest, ctx: HandlerContext) {
      checkJobUuid(req.jobUuid);
      // UUIDs are case-insensitive on input (RFC 9562, section 4); the job keeps its lower-case id, as generated.
      const job = jobs.get(ctx.values.get(kCustomerId), req.jobUuid.toLowerCase());
      if (!job) throw new ConnectError(`job ${req.jobUuid} not found`, Code.NotFound);
      return { job };
    },

    listJobs(req: ListJobsRequest, ctx: HandlerContext) {
      return jobs.list(ctx.values.get(kCustomerId), req);
    },
  };
}

/** Implements LabelsService over the sections of the loaded policies. @internal */
export function labelsService(deps: ServiceDeps): ServiceImpl<typeof LabelsService> {
  const { engine } = deps;
  return {
    async evaluateLabels(req: EvaluateLabelsRequest) {
      const item = req.contentData;
      if (!item) throw new ConnectError("content_data is missing: send the content to evaluate", Code.InvalidArgument);
      const prepared = (await prepareItems(engine, [item], deps.maxMessageBytes, "content_data"))[0]!;
      const ids = req.labelVersionIds;
      if (ids.length === 0) {
        throw new ConnectError("label_version_ids is empty: send 1 to 10 label version ids", Code.InvalidArgument);
      }
      if (ids.length > MAX_LABEL_VERSION_IDS) {
        throw new ConnectError(
          `label_version_ids has ${ids.length} ids; at most ${MAX_LABEL_VERSION_IDS} are allowed per call`,
          Code.InvalidArgument,
        );
      }
      ids.forEach((id, i) => {
        if (id.trim() === "") throw new ConnectError(`label_version_ids[${i}] is empty`, Code.InvalidArgument);
      });
      const threshold =
        checkThreshold(req.threshold, "threshold") ??
        checkThreshold(req.labelEvalOptions?.threshold, "label_eval_options.threshold");
      // The content is prechecked once, whatever the ids: refused content is refused even when no id is known (the
      // refusal is about the content, not a label), and the answer's content_hash is the content's in every case.
      const failure = engine.precheck(prepared);
      if (failure) throw refusalError([failure]);
      const verdicts = await Promise.all(
        ids.map(async (id) =>
          engine.findLabel(id) ? { id, verdict: await engine.evaluateLabel(id, prepared, threshold) } : { id },
        ),
      );
      const results: LabelResult[] = verdicts.map(({ id, verdict }) => {
        if (!verdict) {
          return create(LabelResultSchema, { labelVersionId: id, error: `unknown label version id "${id}"` });
        }
        // Prechecked above; a hash blocked at run time since then is refused all the same.
        if (verdict.kind !== "evaluated") throw refusalError([verdict.failure]);
        return create(LabelResultSchema, {
          labelId: verdict.labelId,
          labelVersionId: id,
          jobUuid: randomUUID(),
          evaluation: verdict.evaluation,
        });
      });
      return create(EvaluateLabelsResponseSchema, { contentHash: prepared.contentHash, results });
    },
  };
}

/** How long a CreateJob with wait_for_completion and no deadline of its own waits for the job to end. */
const WAIT_FOR_COMPLETION_MAX_MS = 600_000;

/**
 * Waits for a job to end within the call's deadline (or WAIT_FOR_COMPLETION_MAX_MS without one). A call that goes
 * away ends with its own status (CANCELLED, or DEADLINE_EXCEEDED when Connect's deadline fired), and a wait that
 * runs out with DEADLINE_EXCEEDED: it may run out a moment before Connect's deadline timer fires, and an Error would
 * reach the client as INTERNAL.
 */
async function waitForJob(jobs: JobStore, jobUuid: string, ctx: HandlerContext): Promise<Job> {
  const waitMs = timerDelay(ctx.timeoutMs() ?? WAIT_FOR_COMPLETION_MAX_MS);
  try {
    return await jobs.waitForEnd(jobUuid, waitMs, ctx.signal);
  } catch (error) {
    if (ctx.signal.aborted) throw abortedCallError(ctx.signal);
    const status = jobs.get(ctx.values.get(kCustomerId), jobUuid)?.status;
    throw new ConnectError(
      `job ${jobUuid} did not end within ${Math.round(waitMs)} ms${status === undefined ? "" : ` (it is ${JobStatus[status]})`}: poll GetJob, or wait longer`,
      Code.DeadlineExceeded,
      undefined,
      undefined,
      error,
    );
  }
}

/** Evaluates a stored job's content, for the job store's background run. @internal */
export async function runJob(engine: PolicyEngine, job: Job): Promise<JobResult[]> {
  const policy = engine.getPolicy(job.policyId ?? "");
  if (!policy) throw new Error(`policy ${job.policyId ?? ""} no longer exists`);
  const verdicts = await Promise.all(job.contentData.map((item) => engine.evaluate(policy, item, job.threshold)));
  return verdicts.map((v) => {
    if (v.kind !== "evaluated") throw new Error(`content ${v.contentHash} was refused`);
    return create(JobResultSchema, {
      uuid: randomUUID(),
      jobUuid: job.jobUuid,
      contentHash: v.contentHash,
      report: v.report,
      created: timestampFromDate(new Date()),
    });
  });
}

function requirePolicy(engine: PolicyEngine, policyId: string): Policy {
  if (policyId.trim() === "") {
    throw new ConnectError("policy_id is empty: send the id of the policy to evaluate against", Code.InvalidArgument);
  }
  const policy = engine.getPolicy(policyId);
  if (!policy) {
    const known = engine.policies.map((p) => p.id).join(", ");
    throw new ConnectError(`policy "${policyId}" not found; this emulator has: ${known}`, Code.NotFound);
  }
  return policy;
}

/** Returns the threshold to pass on (undefined for the default) or throws when it is outside [0, 1]. */
function checkThreshold(threshold: number | undefined, field: string): number | undefined {
  if (threshold === undefined || threshold === 0) return undefined;
  return effectiveThreshold(threshold, field);
}

/** Checks every item and the request's size, then resolves each item's content once (fetching loopback URLs). */
async function prepareItems(
  engine: PolicyEngine,
  items: readonly ContentData[],
  maxBytes: number,
  field = "content_data",
): Promise<PreparedContent[]> {
  if (items.length === 0) {
    throw new ConnectError(`${field} is empty: send at least one content item`, Code.InvalidArgument);
  }
  const where = (i: number) => (items.length === 1 && field !== "content_data" ? field : `${field}[${i}]`);
  for (const [i, item] of items.entries()) engine.checkContent(item, where(i));
  const bytes = items.reduce((sum, item) => sum + approximateSize(item), 0);
  if (bytes > maxBytes) {
    throw new ConnectError(
      `the request's content is ${bytes} bytes; the emulator accepts at most ${maxBytes} bytes per request (maxMessageBytes): send fewer or smaller items per call`,
      Code.InvalidArgument,
    );
  }
  return Promise.all(items.map((item, i) => engine.prepare(item, where(i))));
}

function approximateSize(item: ContentData): number {
  const c = item.content;
  let size = 0;
  if (c.case === "image") size += c.value.byteLength;
  else if (c.case !== undefined) size += Buffer.byteLength(c.value);
  for (const [k, v] of Object.entries(item.metadata)) size += Buffer.byteLength(k) + Buffer.byteLength(v);
  return size;
}

function checkJobUuid(jobUuid: string): void {
  if (jobUuid === "") throw new ConnectError("job_uuid is empty: send the id of the job", Code.InvalidArgument);
  if (!UUID.test(jobUuid)) {
    throw new ConnectError(
      `job_uuid "${jobUuid.slice(0, 64)}" is not a UUID (like 3fa85f64-5717-4562-b3fc-2c963f66afa6)`,
      Code.InvalidArgument,
    );
  }
}

function throwIfRefused(verdicts: readonly ContentVerdict[]): void {
  const refusals = verdicts.flatMap((v) => (v.kind === "refused" ? [v.failure] : []));
  if (refusals.length > 0) throw refusalError(refusals);
}

/**
 * The gateway's refusal: status CANCELLED with one PrecheckFailure detail per refused item, carried in the
 * `grpc-status-details-bin` trailer.
 * @internal
 */
export function refusalError(refusals: readonly PrecheckFailure[]): ConnectError {
  return new ConnectError(
    refusals.length === 1 ? "content refused" : `${refusals.length} content items refused`,
    Code.Canceled,
    undefined,
    refusals.map((value) => ({
      desc: PrecheckFailureSchema,
      value: value as MessageInitShape<typeof PrecheckFailureSchema>,
    })),
  );
}

/** A delay in [0, maxMs) derived from a content hash, so it is the same for the same content. */
function jitter(contentHash: string, maxMs: number): number {
  const tail = contentHash.slice(-8);
  const n = Number.parseInt(tail, 16);
  return Number.isFinite(n) ? n % Math.max(1, Math.ceil(maxMs)) : 0;
}

/** Yields each value once its delay has passed, in the order the delays end. */
async function* inCompletionOrder<T>(items: { delayMs: number; value: T }[], signal: AbortSignal): AsyncGenerator<T> {
  const order = items
    .map((item, index) => ({ ...item, index }))
    .sort((a, b) => a.delayMs - b.delayMs || a.index - b.index);
  const start = Date.now();
  for (const item of order) {
    const wait = start + item.delayMs - Date.now();
    if (wait > 0) await sleep(wait, signal);
    yield item.value;
  }
}
