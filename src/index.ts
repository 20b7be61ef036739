// The public surface of clavata-connect. Every export is listed here by name,
// so that what users import stays stable when the generated code changes.

export { VERSION } from "./version.js";

// Content, reports and jobs (clavata.shared.v1).
export {
  type ContentData,
  ContentDataSchema,
  type PolicyEvaluationReport,
  PolicyEvaluationReportSchema,
  type PolicyEvaluationReport_ReviewResult as ReviewResult,
  PolicyEvaluationReport_ReviewResultSchema as ReviewResultSchema,
  type PolicyEvaluationReport_SectionEvaluationReport as SectionEvaluationReport,
  PolicyEvaluationReport_SectionEvaluationReportSchema as SectionEvaluationReportSchema,
  type PolicyEvaluationReport_AssertionEvaluationReport as AssertionEvaluationReport,
  PolicyEvaluationReport_AssertionEvaluationReportSchema as AssertionEvaluationReportSchema,
  type PolicyEvaluationReport_ExceptionEvaluationReport as ExceptionEvaluationReport,
  PolicyEvaluationReport_ExceptionEvaluationReportSchema as ExceptionEvaluationReportSchema,
  type PolicyEvaluationReport_TokenUsage as TokenUsage,
  PolicyEvaluationReport_TokenUsageSchema as TokenUsageSchema,
  type SourceRange,
  SourceRangeSchema,
  type SourceLocation,
  SourceLocationSchema,
  type TimeRange,
  TimeRangeSchema,
  type Job,
  JobSchema,
  type JobResult,
  JobResultSchema,
  Outcome,
  OutcomeSchema,
  JobStatus,
  JobStatusSchema,
  JobType,
  JobTypeSchema,
} from "../gen/clavata/shared/v1/public_pb.js";

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
  GatewayService,
  type EvaluateRequest,
  EvaluateRequestSchema,
  type EvaluateResponse,
  EvaluateResponseSchema,
  type CreateJobRequest,
  CreateJobRequestSchema,
  type CreateJobRequest_Webhook as Webhook,
  CreateJobRequest_WebhookSchema as WebhookSchema,
  type CreateJobResponse,
  CreateJobResponseSchema,
  type GetJobRequest,
  GetJobRequestSchema,
  type GetJobResponse,
  GetJobResponseSchema,
  type ListJobsRequest,
  ListJobsRequestSchema,
  type ListJobsRequest_Query as JobQuery,
  ListJobsRequest_QuerySchema as JobQuerySchema,
  type ListJobsResponse,
  ListJobsResponseSchema,
  type Options as RequestOptions,
  OptionsSchema as RequestOptionsSchema,
  type GRPCErrorResponse,
  GRPCErrorResponseSchema,
  type PrecheckFailureResponse,
  PrecheckFailureResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";

// Label evaluation (clavata.gateway.v1, labels.proto).
export {
  LabelsService,
  type EvaluateLabelsRequest,
  EvaluateLabelsRequestSchema,
  type EvaluateLabelsResponse,
  EvaluateLabelsResponseSchema,
  type LabelEvalOptions,
  LabelEvalOptionsSchema,
  type LabelResult,
  LabelResultSchema,
  type LabelEvaluation,
  LabelEvaluationSchema,
} from "../gen/clavata/gateway/v1/labels_pb.js";

// The status message that carries refusal details in `grpc-status-details-bin`.
export { type Status as RpcStatus, StatusSchema as RpcStatusSchema } from "../gen/google/rpc/status_pb.js";

// The standard hint of how long to wait before retrying, sent with RESOURCE_EXHAUSTED.
export { type RetryInfo, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";

// ---------------------------------------------------------------------------
// The client (issue 4): ClavataClient, its options, errors, refusals, content
// helpers, the job query builder and the webhook request helper.
// ---------------------------------------------------------------------------

export { ClavataClient, type WaitForJobOptions, type ListAllJobsOptions } from "./client.js";
export {
  API_KEY_ENV,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_MS,
  type CallOptions,
  type ClavataClientOptions,
  type ClavataKeepaliveOptions,
  type ClavataRetryBackoffOptions,
  type ClavataTlsOptions,
} from "./client-options.js";
export {
  ClavataError,
  AuthenticationError,
  PermissionDeniedError,
  InvalidRequestError,
  NotFoundError,
  RateLimitError,
  TimeoutError,
  ConnectionError,
  AbortedError,
  ServerError,
  EvaluationRefusedError,
  toClavataError,
  grpcCodeName,
  type ClavataErrorInit,
  type ErrorContext,
} from "./errors.js";
export { RefusalReason, type RefusedContent, refusalReasonOf, refusalsOf } from "./refusals.js";
export { textContent, imageContent, imageUrlContent, type ContentDataInit, type ContentOptions } from "./content.js";
export { JobQueryBuilder, jobQuery, type JobQueryInit, type DateInput, type TimeSpanOptions } from "./job-query.js";
export {
  MAX_LABEL_VERSION_IDS,
  MAX_PAGE_SIZE,
  type EvaluateRequestInit,
  type EvaluateOneRequestInit,
  type CreateJobRequestInit,
  type ListJobsRequestInit,
  type EvaluateLabelsRequestInit,
} from "./requests.js";
export { addWebhook, createWebhook, WEBHOOK_HEADER_PREFIX, type WebhookInit } from "./webhooks/request.js";
export { backoffDelayMs, retryDelayHintMs, DEFAULT_RETRY_OPTIONS } from "./retry.js";
export { CLIENT_ID, USER_AGENT } from "./interceptors.js";
export type { ClavataLogger, LogLevel } from "./logging.js";
export { Code } from "@connectrpc/connect";
