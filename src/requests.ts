// Turns what a caller passes to a ClavataClient method into the request
// message it sends, after checking everything the SDK can check without the
// network, so that bad input fails at once with a message that says what to fix.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
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
import { type ContentDataInit, checkContentItem } from "./content.js";
import { InvalidRequestError } from "./errors.js";
import { checkJobQuery, JobQueryBuilder, type JobQueryInit } from "./job-query.js";
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

export type { CreateJobRequestInit };

/** The most label version ids one EvaluateLabels call takes. */
export const MAX_LABEL_VERSION_IDS = 10;

/** The largest page ListJobs serves. */
export const MAX_PAGE_SIZE = 1000;

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field });
}

function checkObject(request: unknown, what: string): void {
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    throw invalid(`the ${what} request must be an object`, "");
  }
}

function checkPolicyId(policyId: unknown): void {
  if (typeof policyId !== "string" || policyId.trim() === "") {
    throw invalid("policyId is empty; pass the id of the policy to evaluate against", "policyId");
  }
}

function checkThreshold(threshold: unknown, field: string): void {
  if (threshold === undefined) return;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw invalid(
      `${field} is ${String(threshold)}; a threshold is a number from 0 to 1 (leave it out for the default, 0.5)`,
      field,
    );
  }
}

function checkContentList(contentData: unknown): void {
  if (!Array.isArray(contentData) || contentData.length === 0) {
    throw invalid(
      'contentData is empty; pass at least one item, for example contentData: [textContent("…")]',
      "contentData",
    );
  }
  for (const [i, item] of contentData.entries()) checkContentItem(item, `contentData[${String(i)}]`);
}

function checkOptions(options: unknown, field: string): void {
  if (options === undefined) return;
  const map = (options as { options?: unknown } | null)?.options;
  if (map === undefined) return;
  if (map === null || typeof map !== "object" || Object.values(map).some((v) => typeof v !== "string")) {
    throw invalid(`${field}.options must map option names to string values, such as { expedited: "true" }`, field);
  }
}

/** Checks and builds an Evaluate request. Throws InvalidRequestError. @private */
export function buildEvaluateRequest(init: EvaluateRequestInit): EvaluateRequest {
  checkObject(init, "Evaluate");
  checkContentList(init.contentData);
  checkPolicyId(init.policyId);
  checkThreshold(init.threshold, "threshold");
  checkOptions(init.options, "options");
  return create(EvaluateRequestSchema, init);
}

/** Checks and builds the Evaluate request of `evaluateOne`. Throws InvalidRequestError. @private */
export function buildEvaluateOneRequest(init: EvaluateOneRequestInit): EvaluateRequest {
  checkObject(init, "evaluateOne");
  if (Array.isArray(init.contentData)) {
    throw invalid(
      "evaluateOne takes one content item as contentData, not a list; use evaluate() for several items",
      "contentData",
    );
  }
  if (init.contentData === undefined) {
    throw invalid('contentData is missing; pass one item, for example contentData: textContent("…")', "contentData");
  }
  checkContentItem(init.contentData, "contentData");
  return buildEvaluateRequest({ ...init, contentData: [init.contentData] });
}

/** Checks and builds a CreateJob request, including its webhook. Throws InvalidRequestError. @private */
export function buildCreateJobRequest(init: CreateJobRequestInit): CreateJobRequest {
  checkObject(init, "CreateJob");
  checkContentList(init.contentData);
  checkPolicyId(init.policyId);
  checkThreshold(init.threshold, "threshold");
  checkOptions(init.options, "options");
  if (init.webhook !== undefined) checkWebhook(init.webhook, "webhook");
  return create(CreateJobRequestSchema, init);
}

/** Checks and builds a GetJob request. Throws InvalidRequestError. @private */
export function buildGetJobRequest(jobUuid: string): GetJobRequest {
  if (typeof jobUuid !== "string" || jobUuid.trim() === "") {
    throw invalid("jobUuid is empty; pass the jobUuid of a job that createJob or listJobs returned", "jobUuid");
  }
  return create(GetJobRequestSchema, { jobUuid });
}

/** Checks and builds a ListJobs request. Throws InvalidRequestError. @private */
export function buildListJobsRequest(init: ListJobsRequestInit = {}): ListJobsRequest {
  checkObject(init, "ListJobs");
  const query = init.query instanceof JobQueryBuilder ? init.query.build() : init.query;
  checkJobQuery(query, "query");
  const pageSize = init.pageSize ?? 0;
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
    throw invalid(
      `pageSize is ${String(pageSize)}; pass a whole number from 1 to ${String(MAX_PAGE_SIZE)} (or 0 for the default, 10)`,
      "pageSize",
    );
  }
  if (init.pageToken !== undefined && typeof init.pageToken !== "string") {
    throw invalid("pageToken must be the nextPageToken string of the previous page", "pageToken");
  }
  return create(ListJobsRequestSchema, { query, pageSize, pageToken: init.pageToken ?? "" });
}

/** Checks and builds an EvaluateLabels request (one item, 1 to 10 label version ids). Throws InvalidRequestError. @private */
export function buildEvaluateLabelsRequest(init: EvaluateLabelsRequestInit): EvaluateLabelsRequest {
  checkObject(init, "EvaluateLabels");
  if (init.contentData === undefined) {
    throw invalid('contentData is missing; pass the one item to evaluate, for example textContent("…")', "contentData");
  }
  checkContentItem(init.contentData, "contentData");
  const ids: unknown = init.labelVersionIds;
  if (!Array.isArray(ids) || ids.length === 0) {
    throw invalid(
      "labelVersionIds is empty; pass the label version ids to evaluate against (at most 10)",
      "labelVersionIds",
    );
  }
  if (ids.length > MAX_LABEL_VERSION_IDS) {
    throw invalid(
      `labelVersionIds has ${String(ids.length)} ids but a call takes at most ${String(MAX_LABEL_VERSION_IDS)}; split them over several calls`,
      "labelVersionIds",
    );
  }
  ids.forEach((id, i) => {
    if (typeof id !== "string" || id.trim() === "") {
      throw invalid(`labelVersionIds[${String(i)}] is empty; pass a label version id`, `labelVersionIds[${String(i)}]`);
    }
  });
  checkThreshold(init.threshold, "threshold");
  checkThreshold(init.labelEvalOptions?.threshold, "labelEvalOptions.threshold");
  return create(EvaluateLabelsRequestSchema, init);
}
