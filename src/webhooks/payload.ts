// The body of a webhook call: the completed job as proto3 JSON. The gateway does not document the payload, so both
// shapes it may plausibly take are accepted: a bare Job, and a Job wrapped as {"job": Job} like GetJobResponse.

import { fromBinary, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { type Job, JobSchema } from "../../gen/clavata/shared/v1/public_pb.js";
import { WebhookVerificationError } from "./verification-error.js";

/**
 * The default size limit of a webhook body: 4 MiB, the default largest message of a gRPC channel, so any job the
 * gateway can return from GetJob fits.
 */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

const SHAPE_HINT =
  'expected the proto3 JSON of a clavata.shared.v1.Job, bare ({"jobUuid": …}) or wrapped ({"job": {…}})';

/**
 * Checks a webhook's Content-Type: `application/json`, in any letter case, with no charset or `charset=utf-8`.
 *
 * @throws WebhookVerificationError "wrong_content_type" when it is missing or anything else.
 */
export function checkWebhookContentType(contentType: string | null | undefined): void {
  if (contentType === undefined || contentType === null || contentType.trim() === "") {
    throw new WebhookVerificationError(
      "wrong_content_type",
      "the request has no Content-Type header; a webhook call carries the job as application/json",
    );
  }
  const [mediaType = "", ...parameters] = contentType.split(";");
  const charset = parameters
    .map((p) => p.trim().split("="))
    .find(([name]) => name?.trim().toLowerCase() === "charset")?.[1]
    ?.trim()
    .replace(/^"(.*)"$/, "$1")
    .toLowerCase();
  if (mediaType.trim().toLowerCase() !== "application/json") {
    throw new WebhookVerificationError(
      "wrong_content_type",
      `the Content-Type is ${JSON.stringify(mediaType.trim())}, not application/json; a webhook call carries the job as JSON`,
    );
  }
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new WebhookVerificationError(
      "wrong_content_type",
      `the Content-Type names the charset ${JSON.stringify(charset)}; JSON webhook bodies must be UTF-8`,
    );
  }
}

/**
 * Parses a webhook body (the raw bytes, or the same decoded as a string) into the generated `Job`. Both a bare Job
 * and `{"job": Job}` are accepted (a Job has no field named `job`, so the two cannot be confused). Field names may be
 * lowerCamelCase or snake_case; enums may be names or numbers; a UTF-8 byte order mark is skipped.
 *
 * 32-bit float fields are rounded to 32 bits, as decoding the binary form does, so that the job equals the same job
 * read with GetJob.
 *
 * Unknown fields and unknown enum names are ignored rather than rejected: the gateway may add fields before this SDK
 * knows them, and a receiver that turned such calls away would lose jobs. A body that is not a job at all is still
 * rejected, because a job always has a `jobUuid`.
 *
 * @throws WebhookVerificationError "bad_json" when the body is empty, not UTF-8 or not JSON; "not_a_job" when it is
 *   JSON but not an object, has a field of the wrong type, or has no `jobUuid`.
 */
export function parseWebhookJob(body: Uint8Array | string): Job {
  let text: string;
  if (typeof body === "string") {
    text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch (cause) {
      throw new WebhookVerificationError("bad_json", "the body is not UTF-8 text, so it cannot be JSON", { cause });
    }
  }
  if (text.trim() === "") {
    throw new WebhookVerificationError("bad_json", `the body is empty; ${SHAPE_HINT}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    // The parser's message quotes the body, which holds user content, so it stays in `cause`.
    throw new WebhookVerificationError("bad_json", `the body is not valid JSON; ${SHAPE_HINT}`, { cause });
  }
  if (!isObject(value)) {
    throw new WebhookVerificationError(
      "not_a_job",
      `the body is JSON ${value === null ? "null" : Array.isArray(value) ? "array" : typeof value}, not an object; ${SHAPE_HINT}`,
    );
  }
  if ("job" in value) {
    if (!isObject(value.job)) {
      throw new WebhookVerificationError("not_a_job", `the body's "job" field is not an object; ${SHAPE_HINT}`);
    }
    value = value.job;
  }
  let job: Job;
  try {
    job = fromJson(JobSchema, value as JsonValue, { ignoreUnknownFields: true });
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new WebhookVerificationError("not_a_job", `the body is not a valid Job (${detail}); ${SHAPE_HINT}`, {
      cause,
    });
  }
  if (job.jobUuid === "") {
    throw new WebhookVerificationError("not_a_job", `the body has no jobUuid, so it is not a job; ${SHAPE_HINT}`);
  }
  // JSON writes a 32-bit float field (label_matches, token_usage.multiplier) as its shortest decimal, which reads back
  // as a different 64-bit number than the binary wire gives: 0.95 rather than 0.949999988…. A trip through the binary
  // form rounds those fields as GetJob's answer has them, so the job from a webhook equals the job from getJob.
  return fromBinary(JobSchema, toBinary(JobSchema, job));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
