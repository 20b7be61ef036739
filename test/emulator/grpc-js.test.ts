// A client that is not Connect-based (@grpc/grpc-js, as the official SDKs use) against the emulator: Evaluate,
// CreateJob, and a refusal decoded by hand from the grpc-status-details-bin trailer.

import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import {
  CreateJobRequestSchema,
  CreateJobResponseSchema,
  EvaluateRequestSchema,
  type EvaluateResponse,
  EvaluateResponseSchema,
  JobStatus,
  Outcome,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RpcStatusSchema,
} from "../../src/index.js";

function method<I extends DescMessage, O extends DescMessage>(
  name: string,
  input: I,
  output: O,
  responseStream: boolean,
) {
  return {
    path: `/clavata.gateway.v1.GatewayService/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (m: MessageShape<O>) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}

const GatewayClient = grpc.makeGenericClientConstructor(
  {
    Evaluate: method("Evaluate", EvaluateRequestSchema, EvaluateResponseSchema, true),
    CreateJob: method("CreateJob", CreateJobRequestSchema, CreateJobResponseSchema, false),
  },
  "GatewayService",
);

describe("@grpc/grpc-js against the emulator", () => {
  let emulator: Emulator;
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const metadata = new grpc.Metadata();
  metadata.set("authorization", "Bearer grpc-js-key");

  beforeAll(async () => {
    emulator = await startEmulator({ logger: false });
    client = new GatewayClient(`127.0.0.1:${emulator.port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  afterAll(async () => {
    client.close();
    await emulator.close();
  });

  function evaluate(
    init: MessageInitShape<typeof EvaluateRequestSchema>,
  ): Promise<{ results: EvaluateResponse[]; error?: grpc.ServiceError }> {
    return new Promise((resolve) => {
      const results: EvaluateResponse[] = [];
      const call = client.Evaluate!(
        create(EvaluateRequestSchema, init),
        metadata,
      ) as grpc.ClientReadableStream<EvaluateResponse>;
      call.on("data", (r: EvaluateResponse) => results.push(r));
      call.on("error", (error: grpc.ServiceError) => resolve({ results, error }));
      call.on("end", () => resolve({ results }));
    });
  }

  it("streams Evaluate results", async () => {
    const { results, error } = await evaluate({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [
        { content: { case: "text", value: "I will kill you" } },
        { content: { case: "text", value: "lovely weather" } },
      ],
    });
    expect(error).toBeUndefined();
    expect(results.map((r) => r.policyEvaluationReport?.reviewResult?.outcome).sort()).toEqual([
      Outcome.FALSE,
      Outcome.TRUE,
    ]);
  });

  function createJob(
    init: MessageInitShape<typeof CreateJobRequestSchema>,
    options: grpc.CallOptions = {},
  ): Promise<MessageShape<typeof CreateJobResponseSchema>> {
    return new Promise((resolve, reject) => {
      client.CreateJob!(
        create(CreateJobRequestSchema, init),
        metadata,
        options,
        (err: grpc.ServiceError | null, r: MessageShape<typeof CreateJobResponseSchema>) =>
          err ? reject(err) : resolve(r),
      );
    });
  }

  it("creates a job", async () => {
    const res = await createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [{ content: { case: "text", value: "hi" } }],
    });
    expect(res.job?.status).toBe(JobStatus.PENDING);
    expect(res.job?.jobUuid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps a CreateJob with wait_for_completion open until the job is final, as the official SDKs expect", async () => {
    const res = await createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [
        { content: { case: "text", value: "I will kill you" } },
        { content: { case: "text", value: "lovely weather" } },
      ],
      waitForCompletion: true,
    });
    expect(res.job?.status).toBe(JobStatus.COMPLETED);
    // What the official evaluate_one reads: results[0], with the JobResult's own uuid and content hash.
    expect(res.job?.results).toHaveLength(2);
    for (const result of res.job!.results) {
      expect(result.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(result.jobUuid).toBe(res.job?.jobUuid);
      expect(result.contentHash).toMatch(/^fnv1a128::[0-9a-f]{32}$/);
      expect(result.contentHash).toBe(result.report?.contentHash);
    }
  });

  it("ends a waiting CreateJob with DEADLINE_EXCEEDED when its deadline passes first", async () => {
    // Jobs on this emulator stay PENDING for a minute, far past the call's deadline.
    const slow = await startEmulator({ logger: false, jobDelayMs: 60_000 });
    const slowClient = new GatewayClient(`127.0.0.1:${slow.port}`, grpc.credentials.createInsecure()) as typeof client;
    try {
      const call = new Promise((resolve, reject) => {
        slowClient.CreateJob!(
          create(CreateJobRequestSchema, {
            policyId: SAMPLE_POLICY_IDS.violence,
            contentData: [{ content: { case: "text", value: "hi" } }],
            waitForCompletion: true,
          }),
          metadata,
          { deadline: Date.now() + 300 },
          (err: grpc.ServiceError | null, r: unknown) => (err ? reject(err) : resolve(r)),
        );
      });
      await expect(call).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    } finally {
      slowClient.close();
      await slow.close();
    }
  });

  it("decodes a refusal from the grpc-status-details-bin trailer", async () => {
    const gif = new Uint8Array([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);
    const { error } = await evaluate({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [
        { content: { case: "image", value: gif } },
        { content: { case: "image", value: gif.subarray(0, 8) } },
      ],
    });
    expect(error?.code).toBe(grpc.status.CANCELLED);
    const [bin] = error!.metadata.get("grpc-status-details-bin") as Buffer[];
    expect(bin).toBeInstanceOf(Buffer);
    const status = fromBinary(RpcStatusSchema, bin!);
    expect(status.code).toBe(grpc.status.CANCELLED);
    const failures = status.details.map((d) => anyUnpack(d, PrecheckFailureSchema)!);
    expect(failures.map((f) => f.type)).toEqual([
      PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
      PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
    ]);
    expect(failures[0]?.details?.kind.case).toBe("stringValue");
  });
});
