// Turns what a caller passes to a ClavataClient method into the request
// message it sends, after checking everything the SDK can check without the
// network, so that bad input fails at once with a message that says what to fix.

import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type CreateJobRequest,
  CreateJobRequestSchema,
  type EvaluateRequest,
  EvaluateRequestSchema,
  type GetJobRequest,
  GetJobRequestSchema,
  type ListJobsRequest,
  ListJobsRequestSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
import { type EvaluateLabelsRequest, EvaluateLabelsRequestSchema } from "../gen/clavata/gateway/v1/labels_pb.js";
import type { ContentData } from "../gen/clavata/shared/v1/public_pb.js";
import { type ContentDataInit, checkContentItem, checkContentRules } from "./content.js";
import { checkJobQuery, JobQueryBuilder, type JobQueryInit } from "./job-query.js";
import { describeType, invalidField, isPlainObject } from "./validation/invalid.js";
import { DEFAULT_REQUEST_LIMITS, JOB_UUID_PATTERN, type ResolvedRequestLimits } from "./validation/limits.js";
import { checkMessageShape, type SizeBudget } from "./validation/message-shape.js";
import { type CreateJobRequestInit, checkWebhook } from "./webhooks/request.js";

/** An Evaluate request as a plain object. */
export type EvaluateRequestInit = MessageInitShape<typeof EvaluateRequestSchema>;

/** A request for `evaluateOne`: an Evaluate request with exactly one content item, `contentData`. */
export type EvaluateOneRequestInit = Omit<
  Exclude<EvaluateRequestInit, EvaluateRequest>,
  "contentData" | "$typeName"
> & {
  /** The one content item to evaluate. */
  contentData: ContentDataInit;
};

/** A ListJobs request as a plain object; `query` may also be a JobQueryBuilder. */
export interface ListJobsRequestInit {
  /** The filters; every filter that is set must hold. */
  query?: JobQueryInit | JobQueryBuilder;
  /** How many jobs a page holds: 1 to 1000, or 0 (the default) for the gateway's default, 10. */
  pageSize?: number;
  /** The nextPageToken of the previous page; empty (the default) for the first page. */
  pageToken?: string;
}

/** An EvaluateLabels request as a plain object. */
export type EvaluateLabelsRequestInit = MessageInitShape<typeof EvaluateLabelsRequestSchema>;

export { MAX_LABEL_VERSION_IDS, MAX_PAGE_SIZE } from "./validation/limits.js";
export type { CreateJobRequestInit };

function checkObject(request: unknown, what: string): void {
  if (!isPlainObject(request)) {
    throw invalidField(`the ${what} request is ${describeType(request)}; pass a plain object`, "request");
  }
}

/** The descriptor-derived shape check of a whole request; returns its estimated encoded size. */
function checkShape(desc: DescMessage, init: unknown): SizeBudget {
  const budget: SizeBudget = { bytes: 0 };
  checkMessageShape(desc, init, "", budget);
  return budget;
}

function checkPolicyId(policyId: unknown): void {
  if (typeof policyId !== "string" || policyId.trim() === "") {
    throw invalidField("policyId is empty; pass the id of the policy to evaluate against", "policyId");
  }
}

/** Thresholds are in [0, 1]; 0 or unset means the gateway's default, 0.5. */
function checkThreshold(threshold: number | undefined, field: string): void {
  if (threshold === undefined) return;
  if (threshold < 0 || threshold > 1) {
    throw invalidField(
      `${field} is ${String(threshold)}; a threshold is a number from 0 to 1 (leave it out for the default, 0.5)`,
      field,
    );
  }
}

/** Checked before the shape, so that 50 000 items fail at once, without being walked. */
function checkContentCount(contentData: unknown, limits: ResolvedRequestLimits): void {
  if (!Array.isArray(contentData) || contentData.length === 0) {
    throw invalidField(
      `contentData is ${Array.isArray(contentData) ? "empty" : describeType(contentData)}; pass a list of at least one item, for example contentData: [textContent("…")]`,
      "contentData",
    );
  }
  if (contentData.length > limits.maxItemsPerCall) {
    throw invalidField(
      `contentData has ${String(contentData.length)} items; a call takes at most ${String(limits.maxItemsPerCall)} (limits.maxItemsPerCall): split them over several calls`,
      "contentData",
    );
  }
}

function checkContentList(contentData: readonly ContentDataInit[]): void {
  for (let i = 0; i < contentData.length; i++) checkContentRules(contentData[i]!, `contentData[${String(i)}]`);
}

function checkSize(budget: SizeBudget, limits: ResolvedRequestLimits, field: string): void {
  if (budget.bytes <= limits.maxRequestBytes) return;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  throw invalidField(
    `the request is about ${mib(budget.bytes)}, more than the ${mib(limits.maxRequestBytes)} a call may send (limits.maxRequestBytes); send fewer or smaller items per call`,
    field,
  );
}

/** Checks and builds an Evaluate request. Throws InvalidRequestError. @private */
export function buildEvaluateRequest(
  init: EvaluateRequestInit,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): EvaluateRequest {
  checkObject(init, "Evaluate");
  checkContentCount(init.contentData, limits);
  const budget = checkShape(EvaluateRequestSchema, init);
  checkContentList(init.contentData as ContentDataInit[]);
  checkPolicyId(init.policyId);
  checkThreshold(init.threshold, "threshold");
  checkSize(budget, limits, "contentData");
  return create(EvaluateRequestSchema, init);
}

/** An Evaluate request whose items were each checked already (checkContentItem) and built as messages. @internal */
export interface CheckedEvaluateRequest {
  readonly policyId: string;
  readonly threshold?: number | undefined;
  readonly expedited?: boolean | undefined;
  readonly contentData: ContentData[];
  /** The bytes the items add to the request, as checkContentItem's budget counts them. */
  readonly contentBytes: number;
}

/**
 * Builds an Evaluate request from items checked one by one as they were read (evaluateBatch), checking only what
 * depends on the request as a whole: the number of items, the size, the policy id and the threshold. Throws
 * InvalidRequestError as buildEvaluateRequest does. @internal
 */
export function buildCheckedEvaluateRequest(
  request: CheckedEvaluateRequest,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): EvaluateRequest {
  checkContentCount(request.contentData, limits);
  checkPolicyId(request.policyId);
  checkThreshold(request.threshold, "threshold");
  checkSize({ bytes: request.contentBytes + request.policyId.length }, limits, "contentData");
  return create(EvaluateRequestSchema, {
    policyId: request.policyId,
    contentData: request.contentData,
    ...(request.threshold !== undefined ? { threshold: request.threshold } : {}),
    ...(request.expedited !== undefined ? { expedited: request.expedited } : {}),
  });
}

/** Checks and builds the Evaluate request of `evaluateOne`. Throws InvalidRequestError. @private */
export function buildEvaluateOneRequest(
  init: EvaluateOneRequestInit,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): EvaluateRequest {
  checkObject(init, "evaluateOne");
  if (Array.isArray(init.contentData)) {
    throw invalidField(
      "evaluateOne takes one content item as contentData, not a list; use evaluate() for several items",
      "contentData",
    );
  }
  if (init.contentData === undefined) {
    throw invalidField(
      'contentData is missing; pass one item, for example contentData: textContent("…")',
      "contentData",
    );
  }
  const budget: SizeBudget = { bytes: 0 };
  checkContentItem(init.contentData, "contentData", budget);
  const rest = { ...init, contentData: undefined };
  checkMessageShape(EvaluateRequestSchema, rest, "", budget);
  checkPolicyId(init.policyId);
  checkThreshold(init.threshold, "threshold");
  checkSize(budget, limits, "contentData");
  return create(EvaluateRequestSchema, { ...init, contentData: [init.contentData] });
}

/** Checks and builds a CreateJob request, including its webhook. Throws InvalidRequestError. @private */
export function buildCreateJobRequest(
  init: CreateJobRequestInit,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): CreateJobRequest {
  checkObject(init, "CreateJob");
  checkContentCount(init.contentData, limits);
  const budget = checkShape(CreateJobRequestSchema, init);
  checkContentList(init.contentData as ContentDataInit[]);
  checkPolicyId(init.policyId);
  checkThreshold(init.threshold, "threshold");
  if (init.webhook !== undefined) checkWebhook(init.webhook, "webhook");
  checkSize(budget, limits, "contentData");
  return create(CreateJobRequestSchema, init);
}

/**
 * Checks a job id: a non-empty string, and a UUID unless `limits.requireUuidJobIds` is false. `field` names it in
 * messages. Throws InvalidRequestError.
 * @private
 */
export function checkJobUuid(
  jobUuid: unknown,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
  field = "jobUuid",
): asserts jobUuid is string {
  if (typeof jobUuid !== "string" || jobUuid.trim() === "") {
    throw invalidField(
      `${field} is ${typeof jobUuid === "string" ? "empty" : describeType(jobUuid)}; pass the jobUuid of a job that createJob or listJobs returned`,
      field,
    );
  }
  if (limits.requireUuidJobIds && !JOB_UUID_PATTERN.test(jobUuid)) {
    throw invalidField(
      `${field} is not a UUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6); pass the jobUuid of a job that createJob or listJobs returned (or set limits.requireUuidJobIds to false)`,
      field,
    );
  }
}

/** Checks and builds a GetJob request. Throws InvalidRequestError. @private */
export function buildGetJobRequest(
  jobUuid: string,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): GetJobRequest {
  checkJobUuid(jobUuid, limits);
  return create(GetJobRequestSchema, { jobUuid });
}

/** Checks a page size: a whole number from 1 to `limits.maxPageSize`, or 0 for the gateway's default. @private */
export function checkPageSize(pageSize: unknown, limits: ResolvedRequestLimits, field = "pageSize"): void {
  if (typeof pageSize !== "number" || !Number.isInteger(pageSize) || pageSize < 0 || pageSize > limits.maxPageSize) {
    throw invalidField(
      `${field} is ${describeType(pageSize)}${typeof pageSize === "number" ? ` (${String(pageSize)})` : ""}; pass a whole number from 1 to ${String(limits.maxPageSize)} (or 0 for the default, 10)`,
      field,
    );
  }
}

const listJobsKeys = new Set(["query", "pageSize", "pageToken"]);

/** Checks and builds a ListJobs request. Throws InvalidRequestError. @private */
export function buildListJobsRequest(
  init: ListJobsRequestInit = {},
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): ListJobsRequest {
  checkObject(init, "ListJobs");
  for (const key of Object.keys(init)) {
    if (!listJobsKeys.has(key)) {
      throw invalidField(`${key} is not a field of a ListJobs request; its fields are query, pageSize, pageToken`, key);
    }
  }
  const query = init.query instanceof JobQueryBuilder ? init.query.build() : init.query;
  // Only undefined means "the default": a null goes to the shape check, which refuses it.
  const pageSize = init.pageSize === undefined ? 0 : init.pageSize;
  const message = { query, pageSize, pageToken: init.pageToken === undefined ? "" : init.pageToken };
  checkPageSize(pageSize, limits);
  checkShape(ListJobsRequestSchema, message);
  checkJobQuery(query, "query");
  return create(ListJobsRequestSchema, message);
}

/** Checks and builds an EvaluateLabels request (one item, 1 to 10 label version ids). Throws InvalidRequestError. @private */
export function buildEvaluateLabelsRequest(
  init: EvaluateLabelsRequestInit,
  limits: ResolvedRequestLimits = DEFAULT_REQUEST_LIMITS,
): EvaluateLabelsRequest {
  checkObject(init, "EvaluateLabels");
  if (init.contentData === undefined) {
    throw invalidField(
      'contentData is missing; pass the one item to evaluate, for example textContent("…")',
      "contentData",
    );
  }
  const ids: unknown = init.labelVersionIds;
  if (Array.isArray(ids) && ids.length > limits.maxLabelVersionIds) {
    throw invalidField(
      `labelVersionIds has ${String(ids.length)} ids but a call takes at most ${String(limits.maxLabelVersionIds)}; split them over several calls`,
      "labelVersionIds",
    );
  }
  const budget = checkShape(EvaluateLabelsRequestSchema, init);
  checkContentRules(init.contentData as ContentDataInit, "contentData");
  if (!Array.isArray(ids) || ids.length === 0) {
    throw invalidField(
      `labelVersionIds is empty; pass the label version ids to evaluate against (at most ${String(limits.maxLabelVersionIds)})`,
      "labelVersionIds",
    );
  }
  ids.forEach((id: string, i) => {
    if (id.trim() === "") {
      throw invalidField(
        `labelVersionIds[${String(i)}] is empty; pass a label version id`,
        `labelVersionIds[${String(i)}]`,
      );
    }
  });
  checkThreshold(init.threshold, "threshold");
  checkThreshold(init.labelEvalOptions?.threshold, "labelEvalOptions.threshold");
  checkSize(budget, limits, "contentData");
  return create(EvaluateLabelsRequestSchema, init);
}
