// Webhook requests for tests: what the gateway sends when a job completes, built from a job and a secret, so that
// users can test their own handlers without a gateway.

import { create, isMessage, type MessageInitShape, toJsonString } from "@bufbuild/protobuf";
import { type Job, JobSchema } from "../../gen/clavata/shared/v1/public_pb.js";
import { describeType, invalidField, isPlainObject } from "../validation/invalid.js";
import { checkMessageShape } from "../validation/message-shape.js";
import { SecretCheck } from "./secret.js";

/** How {@link createTestWebhookRequest} builds a request. */
export interface TestWebhookRequestOptions {
  /** The secret to send, as the gateway would after `webhookWithSecret(url, secret)`. */
  secret: string;
  /** The extra header name the secret goes in, without the `X-Webhook-` prefix. Default "Secret". */
  header?: string;
  /** "bare" (the default): the body is the Job itself; "job": the body is `{"job": Job}`. */
  envelope?: "bare" | "job";
}

/**
 * A webhook request as plain data. It is a valid fetch `RequestInit`: `fetch(url, request)` or
 * `handler(new Request(url, request))`; with `node:http`, `http.request(url, { method, headers }).end(body)`.
 */
export interface TestWebhookRequest {
  method: "POST";
  /** `Content-Type: application/json` and the secret header (`X-Webhook-Secret` by default). */
  headers: Record<string, string>;
  /** The job as proto3 JSON. */
  body: string;
}

/**
 * Builds the webhook request the gateway makes for a completed job: a POST with the job as proto3 JSON and the
 * secret in `X-Webhook-<header>`. Every receiver in this package accepts it when given the same secret and header,
 * and hands `onJob` a job equal to `job` (up to the rounding of 32-bit float fields, such as label scores, to 32 bits).
 *
 * @param job a Job, or a plain object to make one from (`{ jobUuid: "…", status: JobStatus.COMPLETED, … }`).
 * @throws InvalidRequestError (with `field`) when `job` is not a Job or its plain-object form, or `options` is not
 *   `{ secret, header?, envelope? }`.
 * @throws TypeError when the secret or header name could not travel in a header (the message never shows the secret).
 */
export function createTestWebhookRequest(
  job: Job | MessageInitShape<typeof JobSchema>,
  options: TestWebhookRequestOptions,
): TestWebhookRequest {
  if (!isMessage(job, JobSchema)) checkMessageShape(JobSchema, job, "job", { bytes: 0 });
  if (!isPlainObject(options)) {
    throw invalidField(`options is ${describeType(options)}; pass { secret, header?, envelope? }`, "options");
  }
  if (options.envelope !== undefined && options.envelope !== "bare" && options.envelope !== "job") {
    throw invalidField('options.envelope must be "bare" or "job"', "options.envelope");
  }
  const { headerName } = new SecretCheck(options.secret, options.header);
  const message = isMessage(job, JobSchema) ? job : create(JobSchema, job);
  const json = toJsonString(JobSchema, message);
  return {
    method: "POST",
    headers: { "Content-Type": "application/json", [headerName]: options.secret },
    body: options.envelope === "job" ? `{"job":${json}}` : json,
  };
}
