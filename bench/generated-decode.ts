// The generated decoders (gen/clavata/binary_codec.ts) in the decode-floor scenario: the same bytes as protobuf-es's
// fromBinary there, decoded by the generated decoder, and the ratio of the two times.

import type { DescMessage } from "@bufbuild/protobuf";
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

/**
 * Times the generated decoders on the decode floor's bytes with the floor's own loop (`decodeMicros`), and sets
 * them against protobuf-es's times measured just before on the same bytes.
 */
export function generatedDecodeFigures(
  n: number,
  bytes: { evaluate: Uint8Array; getJob: Uint8Array; createJob: Uint8Array },
  protobufEs: { evaluateDecodeUs: number; getJobDecodeUs: number },
  decodeMicros: (n: number, bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown) => number,
): Record<string, number> {
  const evaluateGeneratedUs = decodeMicros(n, bytes.evaluate, decoderOf(EvaluateResponseSchema));
  const getJobGeneratedUs = decodeMicros(Math.ceil(n / JOB_RESULTS), bytes.getJob, decoderOf(GetJobResponseSchema));
  return {
    evaluateGeneratedUs,
    getJobGeneratedUs,
    createJobGeneratedUs: decodeMicros(n, bytes.createJob, decoderOf(CreateJobResponseSchema)),
    evaluateGeneratedShare: evaluateGeneratedUs / protobufEs.evaluateDecodeUs,
    getJobGeneratedShare: getJobGeneratedUs / protobufEs.getJobDecodeUs,
  };
}
