// Differential tests of the generated decoders and encoders (gen/clavata/binary_codec.ts) against protobuf-es's
// fromBinary and toBinary, for every message type of proto/clavata: seeded fast-check runs, 1,000 cases per message
// and property (`npm run fuzz`: 100,000 for the decoders, 10,000 for the encoders), plus the golden wire vectors and
// hand-made edge cases.

import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { create, type DescMessage, equals, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generatedDecoders, generatedEncoders } from "../../gen/clavata/binary_codec.js";
import { GetBatchJobsRequestSchema } from "../../gen/clavata/gateway/v1/batch_pb.js";
import { PrecheckFailureSchema } from "../../gen/clavata/gateway/v1/errs_pb.js";
import {
  CreateJobRequestSchema,
  EvaluateRequestSchema,
  EvaluateResponseSchema,
  GetJobResponseSchema,
  GRPCErrorResponseSchema,
  PrecheckFailureResponseSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import {
  ContentDataSchema,
  JobResultSchema,
  PolicyEvaluationReport_ReviewResultSchema,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { encodeFallbacks } from "../../gen/clavata/wire_writer.js";
import { arbitraryEncoding, arbitraryMessage, arbitraryMutation, seedOf } from "./message-arbitrary.js";

// `npm run fuzz` sets CODEC_FUZZ_RUNS to 100,000 (vitest's --mode does not reach the files of a project).
const runs = Number(process.env.CODEC_FUZZ_RUNS ?? 1_000);
// Generous: a shared, loaded machine runs the large messages' 1,000 cases in tens of seconds.
const timeout = 180_000;

/** Valid encodings to edit: a seeded pool of up to 500, each edited many times on long runs. */
function encodingPool(schema: DescMessage, seed: number): fc.Arbitrary<Uint8Array> {
  const pool = fc.sample(arbitraryEncoding(schema), { seed, numRuns: Math.min(500, runs) });
  return fc.constantFrom(...pool);
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Decodes `bytes` both ways and expects the same message, or the same error, from both. */
function expectSameDecode(schema: DescMessage, bytes: Uint8Array): void {
  const ours = attempt(() => generatedDecoders.get(schema)!(bytes));
  const theirs = attempt(() => fromBinary(schema, bytes));
  if (theirs.ok) {
    if (!ours.ok) throw new Error(`protobuf-es decodes, the generated decoder throws: ${String(ours.error)}`);
    // isDeepStrictEqual is vitest's toStrictEqual at a fraction of the cost; the assertion runs only on a difference.
    if (!isDeepStrictEqual(ours.value, theirs.value)) expect(ours.value).toStrictEqual(theirs.value);
  } else {
    if (ours.ok) throw new Error(`protobuf-es throws (${String(theirs.error)}), the generated decoder decodes`);
    if (String(ours.error) !== String(theirs.error)) expect(String(ours.error)).toBe(String(theirs.error));
  }
}

const schemas = [...generatedDecoders.keys()];

// `npm run fuzz` (tools/fuzz.mjs) runs this file in two processes at once, CODEC_FUZZ_SHARD=1/2 and 2/2, each with
// every other message type for the random properties; everything else runs in both.
const [shardIndex, shardCount] = (/^(\d+)\/(\d+)$/.exec(process.env.CODEC_FUZZ_SHARD ?? "") ?? ["", "1", "1"])
  .slice(1)
  .map(Number) as [number, number];
const fuzzed = schemas.filter((_, i) => i % shardCount === shardIndex - 1);

describe("generated decoders", () => {
  it("cover every message of proto/clavata", () => {
    expect(schemas.length).toBeGreaterThanOrEqual(29);
    expect(generatedDecoders.has(EvaluateResponseSchema)).toBe(true);
    expect(generatedDecoders.has(GetJobResponseSchema)).toBe(true);
  });

  describe.each(fuzzed.map((s) => [s.typeName, s] as const))("%s", (typeName, schema) => {
    const decode = generatedDecoders.get(schema)!;
    const seed = seedOf(typeName);

    it(
      "decodes random messages to what create() made and what fromBinary() decodes",
      () => {
        fc.assert(
          fc.property(arbitraryMessage(schema, { noNaN: true }), (message) => {
            const bytes = toBinary(schema, message);
            const decoded = decode(bytes);
            // Plain checks, with expect() only on a failure: expect() costs more than a decode on long runs.
            if (!equals(schema, decoded, message)) expect(decoded).toStrictEqual(message);
            const theirs = fromBinary(schema, bytes);
            if (!isDeepStrictEqual(decoded, theirs)) expect(decoded).toStrictEqual(theirs);
          }),
          { seed, numRuns: runs },
        );
      },
      timeout,
    );

    it(
      "decodes or rejects random bytes and edited encodings exactly as fromBinary() does",
      () => {
        fc.assert(
          fc.property(arbitraryMutation(schema, encodingPool(schema, seed)), (bytes) =>
            expectSameDecode(schema, bytes),
          ),
          { seed: seed ^ 1, numRuns: runs },
        );
      },
      timeout,
    );
  });
});

describe("generated decoders on the golden wire vectors", () => {
  const fixture = JSON.parse(readFileSync(new URL("../fixtures/wire-vectors.json", import.meta.url), "utf8")) as {
    vectors: Array<{ name: string; type: string; hex: string }>;
  };
  const byName = new Map(schemas.map((s) => [s.typeName, s]));
  const vectors = fixture.vectors.filter((v) => byName.has(v.type));

  it("has vectors for the gateway's messages", () => {
    expect(vectors.length).toBeGreaterThan(5);
  });

  it.each(vectors.map((v) => [v.name, v] as const))("%s", (_name, vector) => {
    const schema = byName.get(vector.type)!;
    const bytes = Uint8Array.from(Buffer.from(vector.hex, "hex"));
    expectSameDecode(schema, bytes);
    // And the decoded message encodes back to the same bytes.
    expect(Buffer.from(toBinary(schema, generatedDecoders.get(schema)!(bytes))).toString("hex")).toBe(vector.hex);
  });
});

// Inputs that random generation reaches rarely or never, each decoded both ways; `ok` says whether protobuf-es
// accepts it, so that a case that stops exercising what it names fails too.
describe("generated decoders on hand-made edge cases", () => {
  const cases: Array<[string, DescMessage, string, boolean]> = [
    ["negative int32 as a 10-byte varint", GRPCErrorResponseSchema, "08ffffffffffffffffff01", true],
    ["an 11-byte varint", GRPCErrorResponseSchema, "08ffffffffffffffffffff01", false],
    ["a varint cut short", GRPCErrorResponseSchema, "08ff", false],
    ["a tag alone", GRPCErrorResponseSchema, "08", false],
    ["a string cut short", GRPCErrorResponseSchema, "12056162", false],
    ["field number 0", GRPCErrorResponseSchema, "0001", false],
    ["wire type 6", GRPCErrorResponseSchema, "0e01", false],
    ["wire type 7", GRPCErrorResponseSchema, "0f01", false],
    ["a tag longer than 5 bytes", GRPCErrorResponseSchema, "808080808000", false],
    ["a 5-byte tag above uint32", GRPCErrorResponseSchema, "f8ffffff1f01", false],
    ["the last of two scalars wins", GRPCErrorResponseSchema, "08010802", true],
    ["a known field with the wrong wire type", GRPCErrorResponseSchema, "0a05", true],
    ["an unknown group", GRPCErrorResponseSchema, "a3010801a401", true],
    ["an unknown group with the wrong end", GRPCErrorResponseSchema, "a3010801ac01", false],
    ["an unknown group never ended", GRPCErrorResponseSchema, "a3010801", false],
    ["an end-group tag alone", GRPCErrorResponseSchema, "a401", false],
    ["unknown fixed32 and fixed64 fields", GRPCErrorResponseSchema, "fd0101020304f9010102030405060708", true],
    ["invalid UTF-8", GRPCErrorResponseSchema, "1201ff", false],
    ["invalid UTF-8 in a long string", GRPCErrorResponseSchema, `1230${"61".repeat(47)}ff`, false],
    ["a leading byte-order mark", GRPCErrorResponseSchema, "1203efbbbf", true],
    ["long multi-byte text", GRPCErrorResponseSchema, `1240${"e282ac".repeat(21)}21`, true],
    ["a map entry keyed __proto__", ContentDataSchema, "4a0e0a095f5f70726f746f5f5f120178", true],
    ["a map entry without key or value", ContentDataSchema, "4a00", true],
    ["a map entry with an unknown field", ContentDataSchema, "4a080a016b1801120176", true],
    ["a map entry with a bad group", ContentDataSchema, "4a040a016b1c", false],
    ["oneof members replacing each other", ContentDataSchema, "12016122016212017a", true],
    ["a message field seen twice merges", EvaluateResponseSchema, "1a030a01611a03120162", true],
    ["a sub-message whose last field runs past its length", EvaluateResponseSchema, "1a020a05616263646512017a", true],
    ["a sub-message longer than the input", EvaluateResponseSchema, "1a100a0161", false],
    ["repeated messages append", PrecheckFailureResponseSchema, "1a0208011a020802", true],
    [
      "a Value oneof struct seen twice merges",
      PrecheckFailureSchema,
      "1a0b2a090a070a0161120208001a0b2a090a070a016212020800",
      true,
    ],
    ["NaN with a payload and -0", JobResultSchema, "221459010000000000f87f5209110000000000000080", true],
    ["a negative Timestamp", JobResultSchema, "2a0b08ffffffffffffffffff01", true],
    ["a Timestamp cut inside a fixed field", JobResultSchema, "2a0311aabb", false],
  ];

  it.each(cases)("%s", (_name, schema, hex, ok) => {
    const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
    expectSameDecode(schema, bytes);
    expect(attempt(() => fromBinary(schema, bytes)).ok).toBe(ok);
  });

  it("keeps __proto__ as an own map key, the prototype untouched", () => {
    const decoded = generatedDecoders.get(ContentDataSchema)!(Buffer.from("4a0e0a095f5f70726f746f5f5f120178", "hex"));
    const metadata = (decoded as unknown as { metadata: Record<string, string> }).metadata;
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(metadata, "__proto__")?.value).toBe("x");
  });

  // PrecheckFailure.details is a Value, which nests through ListValue without end: 100 levels is protobuf-es's limit.
  function nestedValues(levels: number): Uint8Array {
    let value = Uint8Array.of(0x08, 0x00); // null_value
    for (let i = 0; i < levels; i++) {
      const list = Uint8Array.from([0x0a, ...varint(value.length), ...value]); // ListValue.values
      value = Uint8Array.from([0x32, ...varint(list.length), ...list]); // Value.list_value
    }
    return Uint8Array.from([0x1a, ...varint(value.length), ...value]); // PrecheckFailure.details
  }

  it.each([
    [40, true],
    [49, true],
    [50, false],
    [200, false],
  ])("nests Values %i deep: decoded %s, as protobuf-es", (levels, ok) => {
    const bytes = nestedValues(levels);
    expectSameDecode(PrecheckFailureSchema, bytes);
    expect(attempt(() => fromBinary(PrecheckFailureSchema, bytes)).ok).toBe(ok);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

// A message of 4 KiB or more makes each string once per distinct run of bytes and hands out that string again when
// the same bytes come back (wire_reader.ts, `repeated`). These are the cases where reusing a string would be wrong.
describe("generated decoders on large messages that repeat their strings", () => {
  const decode = generatedDecoders.get(GetBatchJobsRequestSchema)!;
  /** GetBatchJobsRequest.batch_job_ids (field 1, a repeated string) holding these byte strings in order. */
  function idsMessage(ids: Uint8Array[]): Uint8Array {
    const parts = ids.map((id) => Buffer.concat([Buffer.from([0x0a]), Buffer.from(varint(id.length)), id]));
    return new Uint8Array(Buffer.concat(parts));
  }
  /** Two different strings of the same length that agree on the bytes the table hashes (first, middle, last). */
  const first = Buffer.from(`a${"m".repeat(19)}M${"m".repeat(19)}z`);
  const twin = Buffer.from(first);
  twin[5] = "q".charCodeAt(0);

  it("decodes random runs of a few repeated strings as fromBinary() does", () => {
    const pool = fc.array(fc.string({ unit: "grapheme", minLength: 0, maxLength: 60 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        pool.chain((strings) => fc.array(fc.constantFrom(...strings), { minLength: 150, maxLength: 400 })),
        (ids) => {
          // Padding with one long id takes every case over the size at which strings are shared.
          const bytes = toBinary(
            GetBatchJobsRequestSchema,
            create(GetBatchJobsRequestSchema, { batchJobIds: [...ids, "p".repeat(4096)] }),
          );
          expectSameDecode(GetBatchJobsRequestSchema, bytes);
        },
      ),
      { seed: seedOf("repeated strings"), numRuns: Math.min(runs, 2_000) },
    );
  });

  it("tells apart strings whose hashed bytes agree", () => {
    const ids = Array.from({ length: 200 }, (_, i) => (i % 3 === 2 ? twin : first));
    const bytes = idsMessage(ids);
    expect(bytes.length).toBeGreaterThan(4096);
    expectSameDecode(GetBatchJobsRequestSchema, bytes);
    const decoded = decode(bytes) as unknown as { batchJobIds: string[] };
    expect(decoded.batchJobIds.filter((id) => id === twin.toString()).length).toBe(66);
  });

  it("rejects invalid UTF-8 that shares its length and hashed bytes with a string seen before", () => {
    const broken = Buffer.from(first);
    broken[7] = 0xff;
    const bytes = idsMessage([...Array.from({ length: 150 }, () => first), broken]);
    expect(attempt(() => fromBinary(GetBatchJobsRequestSchema, bytes)).ok).toBe(false);
    expectSameDecode(GetBatchJobsRequestSchema, bytes);
  });

  it("decodes the same multi-byte text many times over", () => {
    const text = Buffer.from("Moderation: été, 日本語, emoji 🚫 and more");
    const bytes = idsMessage(Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? text : first)));
    expect(bytes.length).toBeGreaterThan(4096);
    expectSameDecode(GetBatchJobsRequestSchema, bytes);
  });
});

/** Encodes `message` both ways and expects the same bytes, or the same error, from both. */
function expectSameEncode(schema: DescMessage, message: Message): void {
  const ours = attempt(() => generatedEncoders.get(schema)!(message));
  const theirs = attempt(() => toBinary(schema, message));
  if (theirs.ok) {
    if (!ours.ok) throw new Error(`toBinary encodes, the generated encoder throws: ${String(ours.error)}`);
    if (Buffer.compare(ours.value, theirs.value) !== 0) {
      expect(Buffer.from(ours.value).toString("hex")).toBe(Buffer.from(theirs.value).toString("hex"));
    }
  } else {
    if (ours.ok) throw new Error(`toBinary throws (${String(theirs.error)}), the generated encoder encodes`);
    if (String(ours.error) !== String(theirs.error)) expect(String(ours.error)).toBe(String(theirs.error));
  }
}

// Values a caller's own message objects may hold where the type says otherwise: toBinary() writes some of them and
// rejects others, and the generated encoders must do exactly the same with each.
const oddFieldValues: unknown[] = [
  undefined,
  null,
  0,
  -0,
  Number.NaN,
  1.5,
  2 ** 31,
  -1,
  "",
  "0",
  "x",
  "\ud800",
  0n,
  1n,
  true,
  false,
  [],
  [undefined],
  [1, "a"],
  {},
  { case: "text", value: 1 },
  { case: undefined },
  new Uint8Array(0),
  new Uint8Array([1, 2]),
  { $typeName: "other.Message" },
];

describe("generated encoders", () => {
  it("cover every message that has a decoder", () => {
    expect([...generatedEncoders.keys()]).toEqual(schemas);
  });

  describe.each(fuzzed.map((s) => [s.typeName, s] as const))("%s", (typeName, schema) => {
    const seed = seedOf(`encode ${typeName}`);

    it(
      "encode random messages to toBinary()'s bytes",
      () => {
        const fallbacks = encodeFallbacks.count;
        fc.assert(
          fc.property(arbitraryMessage(schema), (message) => expectSameEncode(schema, message)),
          // Up to 10,000 even in `npm run fuzz`: a run of 100,000 per message passed when the encoders were written
          // (220 s), and CI's time goes to the decoders, which read untrusted bytes.
          { seed, numRuns: Math.min(runs, 10_000) },
        );
        // Every one of them was written by the generated walk, none handed to toBinary().
        expect(encodeFallbacks.count).toBe(fallbacks);
      },
      timeout,
    );

    it(
      "encode or reject a message with an odd value in one field exactly as toBinary() does",
      () => {
        const members = schema.members.map((m) => m.localName);
        if (members.length === 0) return;
        fc.assert(
          fc.property(
            arbitraryMessage(schema),
            fc.constantFrom(...members),
            fc.constantFrom(...oddFieldValues),
            fc.boolean(),
            (message, name, value, delete_) => {
              const edited = { ...message } as Record<string, unknown>;
              if (delete_) delete edited[name];
              else edited[name] = value;
              expectSameEncode(schema, edited as unknown as Message);
            },
          ),
          { seed: seed ^ 1, numRuns: Math.min(runs, 5_000) },
        );
      },
      timeout,
    );
  });
});

describe("generated encoders on hand-made edge cases", () => {
  it("writes -0 and NaN scores, and leaves out 0, as toBinary() does", () => {
    for (const score of [0, -0, Number.NaN, Number.POSITIVE_INFINITY, 5e-324]) {
      expectSameEncode(
        PolicyEvaluationReport_ReviewResultSchema,
        create(PolicyEvaluationReport_ReviewResultSchema, { score }),
      );
    }
  });

  it("writes unknown fields after the known ones, and lone surrogates as U+FFFD", () => {
    const message = create(ContentDataSchema, {
      content: { case: "text", value: "a\ud800b" },
      metadata: { __proto__: "x", id: "1" } as Record<string, string>,
      title: "",
    });
    message.$unknown = [{ no: 99, wireType: 0, data: Uint8Array.of(7) }];
    expectSameEncode(ContentDataSchema, message);
    expect(Buffer.from(generatedEncoders.get(ContentDataSchema)!(message)).includes(Buffer.from("\ufffd"))).toBe(true);
  });

  it("rejects a message of another type with toBinary()'s error, and encodes the next one right", () => {
    const request = create(EvaluateRequestSchema, {
      policyId: "p",
      contentData: [{ content: { case: "text", value: "hi" } }],
    });
    const foreign = { ...request, contentData: [{ ...request.contentData[0]!, $typeName: "other.Message" }] };
    expectSameEncode(EvaluateRequestSchema, foreign as unknown as Message);
    expect(() => generatedEncoders.get(EvaluateRequestSchema)!(foreign as unknown as Message)).toThrow();
    expectSameEncode(EvaluateRequestSchema, request);
  });

  it("encodes a message larger than the kept writer, then small ones, right", () => {
    const big = create(CreateJobRequestSchema, {
      policyId: "p",
      contentData: [{ content: { case: "image", value: new Uint8Array(200_000).fill(7) } }],
    });
    const small = create(CreateJobRequestSchema, {
      policyId: "q",
      contentData: [{ content: { case: "text", value: "x" } }],
    });
    for (const message of [small, big, small, big, small]) expectSameEncode(CreateJobRequestSchema, message);
  });
});
