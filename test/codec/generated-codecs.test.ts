// Differential tests of the generated decoders (gen/clavata/binary_codec.ts) against protobuf-es's fromBinary, for
// every message type of proto/clavata: seeded fast-check runs, CODEC_FUZZ_RUNS cases per message and property
// (1,000 by default; `npm run fuzz` runs 100,000), plus the golden wire vectors.

import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { type DescMessage, equals, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generatedDecoders } from "../../gen/clavata/binary_codec.js";
import { EvaluateResponseSchema, GetJobResponseSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { arbitraryMessage, arbitraryMutation, seedOf } from "./message-arbitrary.js";

const runs = Number(process.env.CODEC_FUZZ_RUNS ?? 1_000);

type Outcome = { ok: true; value: Message } | { ok: false; error: unknown };

function attempt(decode: () => Message): Outcome {
  try {
    return { ok: true, value: decode() };
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
    expect(String(ours.error)).toBe(String(theirs.error));
  }
}

const schemas = [...generatedDecoders.keys()];

describe("generated decoders", () => {
  it("cover every message of proto/clavata", () => {
    expect(schemas.length).toBeGreaterThanOrEqual(29);
    expect(generatedDecoders.has(EvaluateResponseSchema)).toBe(true);
    expect(generatedDecoders.has(GetJobResponseSchema)).toBe(true);
  });

  describe.each(schemas.map((s) => [s.typeName, s] as const))("%s", (typeName, schema) => {
    const decode = generatedDecoders.get(schema)!;
    const seed = seedOf(typeName);

    it("decodes random messages to what create() made and what fromBinary() decodes", () => {
      fc.assert(
        fc.property(arbitraryMessage(schema, { noNaN: true }), (message) => {
          const bytes = toBinary(schema, message);
          const decoded = decode(bytes);
          expect(equals(schema, decoded, message)).toBe(true);
          const theirs = fromBinary(schema, bytes);
          if (!isDeepStrictEqual(decoded, theirs)) expect(decoded).toStrictEqual(theirs);
        }),
        { seed, numRuns: runs },
      );
    });

    it("decodes or rejects random bytes and edited encodings exactly as fromBinary() does", () => {
      fc.assert(
        fc.property(arbitraryMutation(schema), (bytes) => expectSameDecode(schema, bytes)),
        { seed: seed ^ 1, numRuns: runs },
      );
    });
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
