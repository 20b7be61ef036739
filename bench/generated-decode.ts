// The generated decoders (gen/clavata/binary_codec.ts) in the decode-floor scenario: the same bytes as protobuf-es's
// fromBinary there, decoded by the generated decoder, and the ratio of the two times.

import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { generatedDecoders } from "../gen/clavata/binary_codec.js";
import {
  CreateJobResponseSchema,
  EvaluateResponseSchema,
  GetJobResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
import { JOB_RESULTS } from "./responses.js";
import type { MetricSpec } from "./scenarios.js";

/** The generated decoders' rows of the decode-floor scenario. */
export const GENERATED_DECODE_METRICS: readonly MetricSpec[] = [
  { key: "evaluateGeneratedUs", label: "EvaluateResponse generated decode µs", better: "lower" },
  { key: "getJobGeneratedUs", label: "GetJobResponse generated decode µs", better: "lower" },
  { key: "createJobGeneratedUs", label: "CreateJobResponse generated decode µs", better: "lower" },
  { key: "evaluateGeneratedShare", label: "EvaluateResponse generated / protobuf-es", better: "lower" },
  { key: "getJobGeneratedShare", label: "GetJobResponse generated / protobuf-es", better: "lower" },
];

function decoderOf(schema: DescMessage): (bytes: Uint8Array) => unknown {
  const decode = generatedDecoders.get(schema);
  if (decode === undefined) throw new Error(`no generated decoder for ${schema.typeName}: run npm run generate`);
  return decode;
}

// Pairs of short protobuf-es and generated loops, alternated, for the ratio: on a shared machine the load moves
// between two long loops run one after the other, but hardly within one pair.
const PAIRS = 9;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The median, over PAIRS alternated pairs of loops, of generated time / protobuf-es time on the same bytes. */
function interleavedShare(
  n: number,
  bytes: Uint8Array,
  schema: DescMessage,
  decodeMicros: (n: number, bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown) => number,
): number {
  const generated = decoderOf(schema);
  const protobufEs = (b: Uint8Array) => fromBinary(schema, b);
  const count = Math.max(1, Math.ceil(n / PAIRS));
  const shares: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const es = decodeMicros(count, bytes, protobufEs);
    shares.push(decodeMicros(count, bytes, generated) / es);
  }
  return median(shares);
}

/**
 * Times the generated decoders on the decode floor's bytes with the floor's own loop (`decodeMicros`), and their
 * time as a share of protobuf-es's, from alternated pairs of loops on the same bytes.
 */
export function generatedDecodeFigures(
  n: number,
  bytes: { evaluate: Uint8Array; getJob: Uint8Array; createJob: Uint8Array },
  decodeMicros: (n: number, bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown) => number,
): Record<string, number> {
  const jobN = Math.ceil(n / JOB_RESULTS);
  return {
    evaluateGeneratedUs: decodeMicros(n, bytes.evaluate, decoderOf(EvaluateResponseSchema)),
    getJobGeneratedUs: decodeMicros(jobN, bytes.getJob, decoderOf(GetJobResponseSchema)),
    createJobGeneratedUs: decodeMicros(n, bytes.createJob, decoderOf(CreateJobResponseSchema)),
    evaluateGeneratedShare: interleavedShare(n, bytes.evaluate, EvaluateResponseSchema, decodeMicros),
    getJobGeneratedShare: interleavedShare(jobN, bytes.getJob, GetJobResponseSchema, decodeMicros),
  };
}
