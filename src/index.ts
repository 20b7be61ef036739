// The public surface of clavata-connect. Every export is listed here by name,
// so that what users import stays stable when the generated code changes.

import {
  type CreateJobRequest_Options,
  type EvaluateRequest_Options,
  EvaluateRequest_OptionsSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";

// Refusal details (clavata.gateway.v1, errs.proto).
export {
  type PrecheckFailure,
  PrecheckFailureSchema,
  PrecheckFailureType,
  PrecheckFailureTypeSchema,
  PrecheckMatchConfidence,
  PrecheckMatchConfidenceSchema,
} from "../gen/clavata/gateway/v1/errs_pb.js";
// The gateway service and its messages (clavata.gateway.v1, gateway.proto).
export {
  type CreateJobRequest,
  type CreateJobRequest_Options as CreateJobRequestOptions,
  CreateJobRequest_OptionsSchema as CreateJobRequestOptionsSchema,
  type CreateJobRequest_Webhook as Webhook,
  CreateJobRequest_WebhookSchema as WebhookSchema,
  CreateJobRequestSchema,
  type CreateJobResponse,
  CreateJobResponseSchema,
  type EvaluateRequest,
  type EvaluateRequest_Options as EvaluateRequestOptions,
  EvaluateRequest_OptionsSchema as EvaluateRequestOptionsSchema,
  EvaluateRequestSchema,
  type EvaluateResponse,
  EvaluateResponseSchema,
  GatewayService,
  type GetJobRequest,
  GetJobRequestSchema,
  type GetJobResponse,
  GetJobResponseSchema,
  type GRPCErrorResponse,
  GRPCErrorResponseSchema,
  type ListJobsRequest,
  type ListJobsRequest_Query as JobQuery,
  ListJobsRequest_QuerySchema as JobQuerySchema,
  ListJobsRequestSchema,
  type ListJobsResponse,
  ListJobsResponseSchema,
  type PrecheckFailureResponse,
  PrecheckFailureResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
/**
 * The free-form options of EvaluateRequest or CreateJobRequest.
 * @deprecated Since 0.2.0 each request has its own nested Options message, as in the official descriptors: use
 * `EvaluateRequestOptions` or `CreateJobRequestOptions`.
 */
export type RequestOptions = EvaluateRequest_Options | CreateJobRequest_Options;
/**
 * The schema of EvaluateRequest's options.
 * @deprecated Since 0.2.0: use `EvaluateRequestOptionsSchema` or `CreateJobRequestOptionsSchema`.
 */
export const RequestOptionsSchema = EvaluateRequest_OptionsSchema;
// Label evaluation (clavata.gateway.v1, labels.proto).
export {
  type EvaluateLabelsRequest,
  EvaluateLabelsRequestSchema,
  type EvaluateLabelsResponse,
  EvaluateLabelsResponseSchema,
  type LabelEvalOptions,
  LabelEvalOptionsSchema,
  type LabelEvaluation,
  LabelEvaluationSchema,
  type LabelResult,
  LabelResultSchema,
  LabelsService,
} from "../gen/clavata/gateway/v1/labels_pb.js";
// Content, reports and jobs (clavata.shared.v1).
export {
  type ContentData,
  ContentDataSchema,
  type Job,
  type JobResult,
  JobResultSchema,
  JobSchema,
  JobStatus,
  JobStatusSchema,
  JobType,
  JobTypeSchema,
  Outcome,
  OutcomeSchema,
  type PolicyEvaluationReport,
  type PolicyEvaluationReport_AssertionEvaluationReport as AssertionEvaluationReport,
  PolicyEvaluationReport_AssertionEvaluationReportSchema as AssertionEvaluationReportSchema,
  type PolicyEvaluationReport_ExceptionEvaluationReport as ExceptionEvaluationReport,
  PolicyEvaluationReport_ExceptionEvaluationReportSchema as ExceptionEvaluationReportSchema,
  type PolicyEvaluationReport_ReviewResult as ReviewResult,
  PolicyEvaluationReport_ReviewResultSchema as ReviewResultSchema,
  type PolicyEvaluationReport_SectionEvaluationReport as SectionEvaluationReport,
  PolicyEvaluationReport_SectionEvaluationReportSchema as SectionEvaluationReportSchema,
  type PolicyEvaluationReport_TokenUsage as TokenUsage,
  PolicyEvaluationReport_TokenUsageSchema as TokenUsageSchema,
  PolicyEvaluationReportSchema,
  type SourceRange,
  type SourceRange_SourceLocation as SourceLocation,
  SourceRange_SourceLocationSchema as SourceLocationSchema,
  SourceRangeSchema,
  type TimeRange,
  TimeRangeSchema,
} from "../gen/clavata/shared/v1/public_pb.js";
// The standard hint of how long to wait before retrying, sent with RESOURCE_EXHAUSTED.
export { type RetryInfo, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";

// The status message that carries refusal details in `grpc-status-details-bin`.
export { type Status as RpcStatus, StatusSchema as RpcStatusSchema } from "../gen/google/rpc/status_pb.js";
export {
  type HasReport,
  isMatch,
  type MatchedLabel,
  matchedLabels,
  outcomeWord,
  reportOf,
  type SectionVerdict,
  scoreOf,
  sectionsOf,
  type Verdict,
  type VerdictOutcome,
  verdictOf,
} from "./verdict.js";
export { VERSION } from "./version.js";

// ---------------------------------------------------------------------------
// What users of the SDK import: the client, its options, content helpers,
// errors, refusals, the job query builder and the webhook request helper.
// ---------------------------------------------------------------------------

export { Code } from "@connectrpc/connect";
export type { BatchItems } from "./batch/batch-input.js";
export { BATCH_KEY_METADATA } from "./batch/batch-item.js";
export {
  type BatchRateLimit,
  DEFAULT_BATCH_CHUNK_SIZE,
  DEFAULT_BATCH_CONCURRENCY,
  DEFAULT_BATCH_MAX_ATTEMPTS,
  DEFAULT_BATCH_MAX_CHUNK_BYTES,
  type EvaluateBatchOptions,
} from "./batch/batch-options.js";
export type {
  BatchFailedOutcome,
  BatchOutcome,
  BatchRefusedOutcome,
  BatchResultOutcome,
} from "./batch/batch-outcome.js";
export type { BatchProgress, BatchSummary } from "./batch/batch-summary.js";
export { BatchEvaluation } from "./batch/evaluate-batch.js";
export { ClavataClient, type ListAllJobsOptions, type WaitForJobOptions } from "./client.js";
export {
  API_KEY_ENV,
  type CallOptions,
  type ClavataClientOptions,
  type ClavataKeepaliveOptions,
  type ClavataRetryBackoffOptions,
  type ClavataTlsOptions,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_MS,
} from "./client-options.js";
export { type ContentDataInit, type ContentOptions, imageContent, imageUrlContent, textContent } from "./content.js";
export {
  AbortedError,
  AuthenticationError,
  ClavataError,
  ConnectionError,
  classifyTransportFailure,
  type ErrorContext,
  EvaluationRefusedError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
  TimeoutError,
  TransportFailure,
  type TransportFailureClass,
  type TransportFailureKind,
  toClavataError,
  transportFailureOf,
} from "./errors.js";
export { type DateInput, JobQueryBuilder, type JobQueryInit, jobQuery, type TimeSpanOptions } from "./job-query.js";
export { type ClavataLogger, type LogLevel, MIN_REDACTED_KEY_LENGTH } from "./logging.js";
export { RefusalReason, type RefusedContent, refusalReasonOf, refusalsOf } from "./refusals.js";
export {
  type CreateJobRequestInit,
  type EvaluateLabelsRequestInit,
  type EvaluateOneRequestInit,
  type EvaluateRequestInit,
  type ListJobsRequestInit,
  MAX_LABEL_VERSION_IDS,
  MAX_PAGE_SIZE,
} from "./requests.js";
export { backoffDelayMs, DEFAULT_RETRY_OPTIONS, type ResolvedRetryOptions, retryDelayHintMs } from "./retry.js";
export {
  DEFAULT_MAX_ITEMS_PER_CALL,
  DEFAULT_MAX_REQUEST_BYTES,
  JOB_UUID_PATTERN,
  type RequestLimits,
} from "./validation/limits.js";
export { addWebhook, createWebhook, WEBHOOK_HEADER_PREFIX, type WebhookInit } from "./webhooks/request.js";

// ---------------------------------------------------------------------------
// The REST/JSON surface (issue 12): the fetch transport, and batch jobs
// (clavata.gateway.v1, batch.proto; REST only).
// ---------------------------------------------------------------------------

export {
  type BatchJob,
  type BatchJobError,
  BatchJobErrorCode,
  BatchJobErrorCodeSchema,
  BatchJobErrorSchema,
  BatchJobSchema,
  BatchJobService,
  BatchJobState,
  BatchJobStateSchema,
  type CancelBatchJobRequest,
  CancelBatchJobRequestSchema,
  type CancelBatchJobResponse,
  CancelBatchJobResponseSchema,
  type CreateBatchJobRequest,
  CreateBatchJobRequestSchema,
  type CreateBatchJobResponse,
  CreateBatchJobResponseSchema,
  type GetBatchJobsRequest,
  GetBatchJobsRequestSchema,
  type GetBatchJobsResponse,
  GetBatchJobsResponseSchema,
} from "../gen/clavata/gateway/v1/batch_pb.js";
export {
  type BatchJobFilter,
  type CreateBatchJobInit,
  FINAL_BATCH_JOB_STATES,
  type WaitForBatchJobOptions,
} from "./batch-jobs.js";
export {
  type BatchInputFile,
  type BatchInputItem,
  type BatchOutputRow,
  type ReadBatchOutputOptions,
  redactSignedUrl,
  type UploadBatchInputOptions,
  type UploadProgress,
  type UploadResult,
} from "./batch-transfer.js";
export { DEFAULT_REST_PORT } from "./client-options.js";
export { createRestTransport, type RestTransportOptions } from "./transport/rest/rest-transport.js";

// ---------------------------------------------------------------------------
// For code that builds on the SDK rather than uses it: its own Connect
// client or transport, error mapping or retry policy. Ordinary use needs
// none of these.
// ---------------------------------------------------------------------------

export { type ClavataErrorInit, grpcCodeName } from "./errors.js";
export { CLIENT_ID, USER_AGENT } from "./interceptors.js";
