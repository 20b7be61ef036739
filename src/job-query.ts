// The filters of ListJobs, with a small builder for the common ones, and the
// check of a query however it was written.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ListJobsRequest_QuerySchema } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { JobStatus, type TimeRangeSchema } from "../gen/clavata/shared/v1/public_pb.js";
import { describeType, invalidField, isPlainObject } from "./validation/invalid.js";

/** A ListJobs query as a plain object (`MessageInitShape` of ListJobsRequest.Query). */
export type JobQueryInit = MessageInitShape<typeof ListJobsRequest_QuerySchema>;

type TimeRangeInit = MessageInitShape<typeof TimeRangeSchema>;

/** A point in time: a Date, an ISO 8601 string, or milliseconds since the epoch. */
export type DateInput = Date | string | number;

/** How a time span treats its ends. */
export interface TimeSpanOptions {
  /** Whether a job exactly at `start` or `end` is included. Default true. */
  inclusive?: boolean;
}

const invalid = invalidField;

/** Whether the calendar date an ISO 8601 string starts with exists: Date reads "2024-02-30" as 1 March. */
function calendarDateExists(value: string): boolean {
  const m = /^\s*(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (m === null) return true;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function toDate(value: unknown, field: string): Date {
  let date: Date | undefined;
  if (value instanceof Date) date = new Date(value.getTime());
  else if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) date = new Date(value);
  if (date === undefined || Number.isNaN(date.getTime()) || (typeof value === "string" && !calendarDateExists(value))) {
    throw invalid(
      `${field} is ${describeType(value)}${date === undefined ? "" : " that is not a valid date"}; pass a Date, an ISO 8601 string or epoch milliseconds`,
      field,
    );
  }
  return date;
}

function span(
  start: DateInput | undefined,
  end: DateInput | undefined,
  options: TimeSpanOptions,
  field: string,
): TimeRangeInit {
  if (start === undefined && end === undefined) {
    throw invalid(`${field} needs a start, an end, or both`, field);
  }
  if (!isPlainObject(options)) {
    throw invalid(
      `${field}'s options are ${describeType(options)}; pass { inclusive: true } or leave them out`,
      `${field}.options`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== "inclusive") {
      throw invalid(`${field}'s options have no ${key}; the one option is inclusive`, `${field}.options.${key}`);
    }
  }
  if (options.inclusive !== undefined && typeof options.inclusive !== "boolean") {
    throw invalid(
      `${field}'s inclusive is ${describeType(options.inclusive)}; pass true or false`,
      `${field}.options.inclusive`,
    );
  }
  const range: TimeRangeInit = { inclusive: options.inclusive ?? true };
  if (start !== undefined) range.start = timestampFromDate(toDate(start, `${field}.start`));
  if (end !== undefined) range.end = timestampFromDate(toDate(end, `${field}.end`));
  checkTimeRange(range, field);
  return range;
}

/**
 * Builds a ListJobs query from the common filters. Every filter that is set must hold. Each method returns the
 * builder; `build()` returns a new plain object, so one builder can make several queries. Methods throw
 * InvalidRequestError for an invalid date, a start after the end, an unknown status or an empty policy id.
 *
 * ```ts
 * const query = jobQuery().status(JobStatus.COMPLETED).policy("policy-violence").createdBetween(lastWeek, now);
 * for await (const job of client.listAllJobs(query)) console.log(job.jobUuid);
 * ```
 */
export class JobQueryBuilder {
  readonly #query: JobQueryInit = {};

  /** Only jobs created between `start` and `end` (either may be undefined for an open end). */
  createdBetween(start: DateInput | undefined, end: DateInput | undefined, options: TimeSpanOptions = {}): this {
    this.#query.createdTimeRange = span(start, end, options, "createdBetween");
    return this;
  }

  /** Only jobs last updated between `start` and `end` (either may be undefined for an open end). */
  updatedBetween(start: DateInput | undefined, end: DateInput | undefined, options: TimeSpanOptions = {}): this {
    this.#query.updatedTimeRange = span(start, end, options, "updatedBetween");
    return this;
  }

  /** Only jobs completed between `start` and `end` (either may be undefined for an open end). */
  completedBetween(start: DateInput | undefined, end: DateInput | undefined, options: TimeSpanOptions = {}): this {
    this.#query.completedTimeRange = span(start, end, options, "completedBetween");
    return this;
  }

  /** Only jobs with this status, such as `JobStatus.COMPLETED`; `JobStatus.UNSPECIFIED` means any. */
  status(status: JobStatus): this {
    checkStatus(status, "status");
    this.#query.status = status;
    return this;
  }

  /** Only jobs of this policy. */
  policy(policyId: string): this {
    checkPolicyId(policyId, "policy");
    this.#query.policyId = policyId;
    return this;
  }

  /** The query as a new plain object, to pass as `query` of `listJobs` (or directly to `listAllJobs`). */
  build(): JobQueryInit {
    return structuredClone(this.#query);
  }
}

/** Starts a JobQueryBuilder. */
export function jobQuery(): JobQueryBuilder {
  return new JobQueryBuilder();
}

function checkStatus(status: unknown, field: string): void {
  if (typeof status !== "number" || !Number.isInteger(status) || JobStatus[status] === undefined) {
    throw invalid(`${field} ${String(status)} is not a JobStatus; use JobStatus.COMPLETED and the like`, field);
  }
}

function checkPolicyId(policyId: unknown, field: string): void {
  if (typeof policyId !== "string" || policyId.trim() === "") {
    throw invalid(
      `${field} is ${typeof policyId === "string" ? "empty" : describeType(policyId)}; pass a non-empty policy id`,
      field,
    );
  }
}

function millis(ts: { seconds?: bigint | number | string; nanos?: number } | undefined): number | undefined {
  if (ts === undefined) return undefined;
  return Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1_000_000;
}

function checkTimeRange(range: TimeRangeInit | undefined, field: string): void {
  if (range === undefined) return;
  const start = millis(range.start);
  const end = millis(range.end);
  if (start !== undefined && end !== undefined && start > end) {
    throw invalid(`${field} starts after it ends; swap start and end`, field);
  }
}

/**
 * Checks the contract's rules of a query whose shape is already checked (see requests.ts): time ranges that do not
 * end before they start, a known status, a non-empty policy id when one is set. Throws InvalidRequestError.
 * @internal
 */
export function checkJobQuery(query: JobQueryInit | undefined, path: string): void {
  if (query === undefined) return;
  checkTimeRange(query.createdTimeRange, `${path}.createdTimeRange`);
  checkTimeRange(query.updatedTimeRange, `${path}.updatedTimeRange`);
  checkTimeRange(query.completedTimeRange, `${path}.completedTimeRange`);
  if (query.status !== undefined) checkStatus(query.status, `${path}.status`);
  if (query.policyId !== undefined) checkPolicyId(query.policyId, `${path}.policyId`);
}
