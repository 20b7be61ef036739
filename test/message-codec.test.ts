// messageCodec: the generated decoders and encoders for the gateway's messages, protobuf-es for the rest, and the
// switch (the client option generatedCodecs and the CLAVATA_GENERATED_CODECS environment variable) that turns them off.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generatedDecoders, generatedEncoders } from "../gen/clavata/binary_codec.js";
import { EvaluateResponseSchema, GetJobResponseSchema } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { resolveClientOptions } from "../src/client-options.js";
import { InvalidRequestError } from "../src/errors.js";
import { GENERATED_CODECS_ENV, generatedCodecsFromEnv, messageCodec } from "../src/message-codec.js";

const response = create(EvaluateResponseSchema, {
  jobUuid: "job-1",
  contentHash: "fnv1a128::00",
  policyEvaluationReport: { policyId: "p1", labelMatches: { spam: 0.5 }, contentMetadata: { id: "1" } },
});
const bytes = toBinary(EvaluateResponseSchema, response);
const generatedEvaluate = generatedDecoders.get(EvaluateResponseSchema)!;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("messageCodec", () => {
  it("decodes the gateway's messages with the generated decoder by default", () => {
    vi.stubEnv(GENERATED_CODECS_ENV, undefined);
    const codec = messageCodec(EvaluateResponseSchema);
    expect(codec.decode).toBe(generatedEvaluate);
    expect(codec.decode(bytes)).toStrictEqual(fromBinary(EvaluateResponseSchema, bytes));
    expect(messageCodec(GetJobResponseSchema).decode).toBe(generatedDecoders.get(GetJobResponseSchema));
  });

  it("encodes the gateway's messages with the generated encoder by default, to toBinary()'s bytes", () => {
    vi.stubEnv(GENERATED_CODECS_ENV, undefined);
    const codec = messageCodec(EvaluateResponseSchema);
    expect(codec.encode).toBe(generatedEncoders.get(EvaluateResponseSchema));
    expect(codec.encode(response)).toStrictEqual(bytes);
  });

  it("falls back to protobuf-es with generated: false", () => {
    const codec = messageCodec(EvaluateResponseSchema, { generated: false });
    expect(codec.decode).not.toBe(generatedEvaluate);
    expect(codec.encode).not.toBe(generatedEncoders.get(EvaluateResponseSchema));
    expect(codec.decode(bytes)).toStrictEqual(fromBinary(EvaluateResponseSchema, bytes));
    expect(codec.encode(response)).toStrictEqual(bytes);
  });

  it.each(["0", "false", "OFF", " no "])(
    "falls back to protobuf-es when %j is in CLAVATA_GENERATED_CODECS",
    (value) => {
      vi.stubEnv(GENERATED_CODECS_ENV, value);
      expect(messageCodec(EvaluateResponseSchema).decode).not.toBe(generatedEvaluate);
      // The option wins over the environment.
      expect(messageCodec(EvaluateResponseSchema, { generated: true }).decode).toBe(generatedEvaluate);
    },
  );

  it.each(["1", "true", ""])("keeps the generated decoders when %j is in CLAVATA_GENERATED_CODECS", (value) => {
    vi.stubEnv(GENERATED_CODECS_ENV, value);
    expect(messageCodec(EvaluateResponseSchema).decode).toBe(generatedEvaluate);
    expect(messageCodec(EvaluateResponseSchema, { generated: false }).decode).not.toBe(generatedEvaluate);
  });

  it("uses protobuf-es for messages outside proto/clavata", () => {
    const status = create(StatusSchema, { code: 8, message: "slow down" });
    const codec = messageCodec(StatusSchema, { generated: true });
    expect(generatedDecoders.has(StatusSchema)).toBe(false);
    expect(codec.decode(codec.encode(status))).toStrictEqual(status);
  });

  it("hands out one codec per schema and kind", () => {
    expect(messageCodec(EvaluateResponseSchema, { generated: true })).toBe(
      messageCodec(EvaluateResponseSchema, { generated: true }),
    );
    expect(messageCodec(EvaluateResponseSchema, { generated: false })).toBe(
      messageCodec(EvaluateResponseSchema, { generated: false }),
    );
  });
});

describe("generatedCodecsFromEnv", () => {
  it("is on unless the variable says 0, false, off or no", () => {
    expect(generatedCodecsFromEnv({})).toBe(true);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "1" })).toBe(true);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "yes" })).toBe(true);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "0" })).toBe(false);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "False" })).toBe(false);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "off" })).toBe(false);
    expect(generatedCodecsFromEnv({ CLAVATA_GENERATED_CODECS: "no" })).toBe(false);
  });
});

describe("the generatedCodecs client option", () => {
  const key = { apiKey: "test-key" };

  it("defaults to on", () => {
    expect(resolveClientOptions(key, {}).resolved.generatedCodecs).toBe(true);
  });

  it("follows CLAVATA_GENERATED_CODECS when not given", () => {
    expect(resolveClientOptions(key, { CLAVATA_GENERATED_CODECS: "0" }).resolved.generatedCodecs).toBe(false);
  });

  it("wins over the environment", () => {
    const env = { CLAVATA_GENERATED_CODECS: "0" };
    expect(resolveClientOptions({ ...key, generatedCodecs: true }, env).resolved.generatedCodecs).toBe(true);
    expect(resolveClientOptions({ ...key, generatedCodecs: false }, {}).resolved.generatedCodecs).toBe(false);
  });

  it("must be a boolean", () => {
    expect(() => resolveClientOptions({ ...key, generatedCodecs: "no" as never }, {})).toThrow(InvalidRequestError);
    expect(() => resolveClientOptions({ ...key, generatedCodecs: "no" as never }, {})).toThrow(
      "generatedCodecs must be true or false",
    );
  });
});
