// The answers the bench server sends, built once: a realistic full
// PolicyEvaluationReport (six sections with assertions, exception blocks,
// label matches and token usage), a completed job with ten results, and a new
// job. The server sends them pre-encoded, and the decode floor decodes exactly
// these bytes, so both measure the same messages.

import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { EmptySchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type CreateJobResponse,
  CreateJobResponseSchema,
  type EvaluateResponse,
  EvaluateResponseSchema,
  type GetJobResponse,
  GetJobResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
import {
  JobStatus,
  JobType,
  Outcome,
  type PolicyEvaluationReport,
  PolicyEvaluationReportSchema,
} from "../gen/clavata/shared/v1/public_pb.js";

/** The policy id the bench sends; any policy id gets the same report. */
export const BENCH_POLICY_ID = "6a1f3c52-8d4e-4b7a-9c0d-2e5f7a8b9c10";

/** A policy id that makes the server answer the first item of a stream, then hold the stream open until cancelled. */
export const HOLD_POLICY_ID = "bench-hold-open";

/** The job uuid the bench asks GetJob for; the server answers every uuid with the same completed job. */
export const BENCH_JOB_UUID = "0b8e4f6a-3c2d-4e1f-a5b6-c7d8e9f0a1b2";

/** How many sections the report has; both clients' results are checked against it. */
export const REPORT_SECTIONS = 6;

/** How many results the completed job of GetJob holds. */
export const JOB_RESULTS = 10;

const created = new Date("2025-06-02T09:14:07.123Z");

type ReportInit = MessageInitShape<typeof PolicyEvaluationReportSchema>;
type SectionInit = NonNullable<ReportInit["sectionEvaluationReports"]>[number];

function assertion(
  message: string,
  score: number,
  line: number,
): NonNullable<SectionInit["assertionEvaluationReports"]>[number] {
  return {
    result: score >= 0.5 ? Outcome.TRUE : Outcome.FALSE,
    message,
    score,
    sourceRange: { start: { line, column: 5 }, end: { line, column: 5 + message.length } },
  };
}

const sections: Array<{ name: string; score: number; assertions: string[]; unless?: string[] }> = [
  {
    name: "Hate speech",
    score: 0.91,
    assertions: [
      "The content attacks a person or group based on a protected attribute",
      "The content uses slurs or dehumanising language about a protected group",
      "The content calls for exclusion or segregation of a protected group",
    ],
    unless: ["The content is news reporting or counter-speech that quotes hateful language to condemn it"],
  },
  {
    name: "Harassment",
    score: 0.34,
    assertions: [
      "The content targets a specific, identifiable individual",
      "The content insults, threatens or demeans its target",
      "The content encourages others to harass the target",
    ],
  },
  {
    name: "Self-harm",
    score: 0.02,
    assertions: ["The content encourages or instructs self-harm or suicide", "The content glorifies self-harm"],
    unless: ["The content seeks help or shares recovery resources"],
  },
  {
    name: "Violent threats",
    score: 0.12,
    assertions: [
      "The content threatens physical violence against a person or group",
      "The content praises a violent attack or its perpetrator",
    ],
  },
  {
    name: "Sexual content",
    score: 0.05,
    assertions: ["The content describes sexual activity in explicit detail", "The content solicits sexual contact"],
  },
  {
    name: "Spam and scams",
    score: 0.61,
    assertions: [
      "The content advertises a product or service unrelated to the conversation",
      "The content asks for payment, credentials or personal data",
      "The content links to a known phishing or scam domain",
    ],
  },
];

function sectionReport(index: number): SectionInit {
  const s = sections[index]!;
  const line = 3 + index * 12;
  const outcome = s.score >= 0.5 ? Outcome.TRUE : Outcome.FALSE;
  const init: SectionInit = {
    name: s.name,
    result: outcome,
    message: `${s.name}: ${outcome === Outcome.TRUE ? "matched" : "not matched"} with score ${s.score.toFixed(2)}`,
    assertionEvaluationReports: s.assertions.map((a, i) => assertion(a, Math.max(0, s.score - i * 0.07), line + 1 + i)),
    sourceRange: { start: { line, column: 1 }, end: { line: line + 10, column: 2 } },
    reviewResult: { outcome, score: s.score },
  };
  if (s.unless !== undefined) {
    init.exceptionEvaluationReport = {
      result: Outcome.FALSE,
      assertionEvaluationReports: s.unless.map((a, i) => assertion(a, 0.08, line + 6 + i)),
      sourceRange: { start: { line: line + 6, column: 3 }, end: { line: line + 8, column: 4 } },
      reviewResult: { outcome: Outcome.FALSE, score: 0.08 },
    };
  }
  return init;
}

/** The content hash the server reports for the item with this bench id ("fnv1a128::" and 32 hex digits). */
export function contentHashOf(id: string): string {
  // Not a real FNV hash: only its shape and its per-item difference matter here.
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  const word = h.toString(16).padStart(8, "0");
  return `fnv1a128::${word}${word.split("").reverse().join("")}${word}${(h ^ 0x5bd1e995).toString(16).padStart(8, "0")}`;
}

/** The full report for one content item, echoing its metadata as the gateway does. */
export function policyReport(metadata: Record<string, string>): PolicyEvaluationReport {
  const id = metadata.id ?? "";
  return create(PolicyEvaluationReportSchema, {
    policyId: BENCH_POLICY_ID,
    policyKey: "community-guidelines",
    policyVersionId: "9d2c4b1a-7e6f-4a3b-8c5d-0e1f2a3b4c5d",
    result: Outcome.TRUE,
    sectionEvaluationReports: sections.map((_, i) => sectionReport(i)),
    exceptionEvaluationReport: {
      result: Outcome.FALSE,
      assertionEvaluationReports: [
        assertion("The content is a quotation in an educational or historical context", 0.11, 80),
        assertion("The author is a verified moderator acting in that role", 0.0, 81),
      ],
      sourceRange: { start: { line: 79, column: 1 }, end: { line: 83, column: 2 } },
      reviewResult: { outcome: Outcome.FALSE, score: 0.11 },
    },
    contentHash: contentHashOf(id),
    contentMetadata: metadata,
    reviewResult: { outcome: Outcome.TRUE, score: 0.91 },
    threshold: 0.5,
    labelMatches: { hate_speech: 0.91, slurs: 0.88, harassment: 0.34, spam: 0.61, phishing: 0.52, violence: 0.12 },
    tokenUsage: { inputTokens: 412, billedTokens: 412, multiplier: 1 },
  });
}

/** The Evaluate answer for one content item, as a message. */
export function evaluateResponse(metadata: Record<string, string>, jobUuid: string): EvaluateResponse {
  const report = policyReport(metadata);
  return create(EvaluateResponseSchema, { jobUuid, contentHash: report.contentHash, policyEvaluationReport: report });
}

/** A completed job with JOB_RESULTS results, each a full report: the GetJob answer. */
export function completedJobResponse(): GetJobResponse {
  const at = (ms: number) => timestampFromDate(new Date(created.getTime() + ms));
  return create(GetJobResponseSchema, {
    job: {
      jobUuid: BENCH_JOB_UUID,
      customerId: "cus_01HZX4D9Q2M7B3K8N5P6R7S8T9",
      status: JobStatus.COMPLETED,
      results: Array.from({ length: JOB_RESULTS }, (_, i) => ({
        jobUuid: BENCH_JOB_UUID,
        report: policyReport({ id: String(i), source: "forum-post" }),
        created: at(900 + i * 20),
      })),
      created: at(0),
      updated: at(1200),
      completed: at(1200),
      policyId: BENCH_POLICY_ID,
      policyVersionId: "9d2c4b1a-7e6f-4a3b-8c5d-0e1f2a3b4c5d",
      threshold: 0.5,
      jobType: JobType.STANDARD,
    },
  });
}

/** A job that has just been created (PENDING, no results): the CreateJob answer. */
export function pendingJobResponse(): CreateJobResponse {
  return create(CreateJobResponseSchema, {
    job: {
      jobUuid: BENCH_JOB_UUID,
      customerId: "cus_01HZX4D9Q2M7B3K8N5P6R7S8T9",
      status: JobStatus.PENDING,
      created: timestampFromDate(created),
      updated: timestampFromDate(created),
      policyId: BENCH_POLICY_ID,
      threshold: 0.5,
      jobType: JobType.STANDARD,
    },
  });
}

/**
 * Makes a message of `schema` that serialises to `encoded` at the cost of a copy: every field is an unknown field
 * holding its encoded bytes, which protobuf-es writes out as they are. This keeps the server's own serialisation
 * cost out of the figures.
 */
export function preEncoded<Desc extends DescMessage>(schema: Desc, encoded: Uint8Array): MessageShape<Desc> {
  const message = create(schema);
  const fields = fromBinary(EmptySchema, encoded).$unknown;
  if (fields !== undefined) message.$unknown = fields;
  return message;
}

/** One gRPC message with its 5-byte prefix (not compressed). */
export function framed(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** The encoded bytes of every answer, for the decode floor. */
export function encodedResponses(): { evaluate: Uint8Array; getJob: Uint8Array; createJob: Uint8Array } {
  return {
    evaluate: toBinary(EvaluateResponseSchema, evaluateResponse({ id: "1234" }, BENCH_JOB_UUID)),
    getJob: toBinary(GetJobResponseSchema, completedJobResponse()),
    createJob: toBinary(CreateJobResponseSchema, pendingJobResponse()),
  };
}
