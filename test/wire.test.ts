// Every golden encoding of the wire contract must decode with our generated
// schemas to the documented JSON, and re-encode to exactly the same bytes.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  createRegistry,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  CreateJobRequestSchema,
  EvaluateRequestSchema,
  EvaluateResponseSchema,
  GetJobResponseSchema,
  ListJobsRequestSchema,
  type PrecheckFailure,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RpcStatusSchema,
} from "../src/index.js";

interface Vector {
  name: string;
  type: string;
  hex: string;
  json: JsonValue | null;
  note: string;
}

const fixture = fileURLToPath(new URL("./fixtures/wire-vectors.json", import.meta.url));
// The project's shared folder sits beside the checkout; when it is there, the
// committed copy must not have drifted from it.
const shared = fileURLToPath(new URL("../../shared/wire-vectors.json", import.meta.url));
const vectors = (JSON.parse(readFileSync(fixture, "utf8")) as { vectors: Vector[] }).vectors;

const schemas: Record<string, DescMessage> = {
  "clavata.gateway.v1.EvaluateRequest": EvaluateRequestSchema,
  "clavata.gateway.v1.EvaluateResponse": EvaluateResponseSchema,
  "clavata.gateway.v1.CreateJobRequest": CreateJobRequestSchema,
  "clavata.gateway.v1.ListJobsRequest": ListJobsRequestSchema,
  "clavata.gateway.v1.GetJobResponse": GetJobResponseSchema,
  "clavata.gateway.v1.PrecheckFailure": PrecheckFailureSchema,
  "google.rpc.Status": RpcStatusSchema,
};
const registry = createRegistry(PrecheckFailureSchema);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytesOf = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

/** Rounds every number to float32 precision, so a `float` field's decoded value compares equal to its JSON literal. */
function roundFloats(value: unknown): unknown {
  if (typeof value === "number") return Math.fround(value);
  if (Array.isArray(value)) return value.map(roundFloats);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundFloats(v)]));
  }
  return value;
}

describe("wire vectors", () => {
  it("the committed copy matches ../shared/wire-vectors.json when it is present", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(8);
    if (existsSync(shared)) {
      expect(readFileSync(fixture, "utf8")).toBe(readFileSync(shared, "utf8"));
    }
  });

  it("has a schema for every vector type", () => {
    for (const v of vectors) expect(schemas[v.type], v.type).toBeDefined();
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const schema = schemas[v.type]!;

      it("decodes and re-encodes to exactly the same bytes", () => {
        const msg = fromBinary(schema, bytesOf(v.hex));
        expect(hex(toBinary(schema, msg))).toBe(v.hex);
      });

      if (v.json !== null) {
        it("decodes to the vector's JSON", () => {
          const json = toJson(schema, fromBinary(schema, bytesOf(v.hex)), { registry });
          expect(roundFloats(json)).toEqual(roundFloats(v.json));
        });

        it("encodes the vector's JSON to the same bytes", () => {
          const msg = fromJson(schema, v.json!, { registry });
          expect(hex(toBinary(schema, msg))).toBe(v.hex);
        });
      }
    });
  }

  it("decodes refusal_status_details_bin into its three PrecheckFailure details", () => {
    const v = vectors.find((x) => x.name === "refusal_status_details_bin")!;
    const status = fromBinary(RpcStatusSchema, bytesOf(v.hex));
    expect(status.code).toBe(1); // CANCELLED
    expect(status.message).toBe("content refused");
    expect(status.details).toHaveLength(3);
    const failures = status.details.map((any) => {
      expect(any.typeUrl).toBe("type.googleapis.com/clavata.gateway.v1.PrecheckFailure");
      return anyUnpack(any, PrecheckFailureSchema) as PrecheckFailure;
    });
    expect(failures.map((f) => f.type)).toEqual([
      PrecheckFailureType.NCMEC,
      PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
      PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
    ]);
    expect(failures.map((f) => f.details?.kind)).toEqual([
      { case: "stringValue", value: "fnv1a128::aa" },
      { case: "stringValue", value: "fnv1a128::bb" },
      { case: "stringValue", value: "fnv1a128::cc" },
    ]);
    expect(failures[0]!.message).toBe("content matched a known CSAM hash");
  });
});
