// Deadlines and cancellations on the emulator, read off the wire with a bare HTTP/2 client (a client with deadlines
// of its own would report its own DEADLINE_EXCEEDED, whatever the emulator answered): a call whose deadline passes
// while the emulator waits ends with DEADLINE_EXCEEDED (it was INTERNAL "internal error"), a cancelled one with
// CANCELLED, and a deadline longer than a timer can take (about 24.8 days) is as good as none (it fired at once).

import * as http2 from "node:http2";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CreateJobRequestSchema,
  EvaluateRequestSchema,
  GatewayService,
  GetJobRequestSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { PolicyEngine } from "../../src/emulator/engine.js";
import { type Emulator, SAMPLE_POLICIES, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { JobStore } from "../../src/emulator/jobs.js";
import { gatewayService, kCustomerId, runJob } from "../../src/emulator/service.js";

const KEY = "deadline-test-key-0123456789";
const UNKNOWN_JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const GATEWAY = "/clavata.gateway.v1.GatewayService";

/** A message in a gRPC frame: a flag byte, its 32-bit length, then the message. */
function grpcFrame<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  const message = toBinary(schema, create(schema, init));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

interface Answer {
  /** The HTTP status. */
  httpStatus: number | undefined;
  /** grpc-status, from the trailers or a trailers-only answer. */
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  body: string;
}

let emulator: Emulator;
let session: http2.ClientHttp2Session | undefined;
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeEach(() => {
  warnings.length = 0;
  process.on("warning", onWarning);
});
afterEach(async () => {
  process.off("warning", onWarning);
  session?.close();
  session = undefined;
  await emulator?.close();
});

/** One call on a shared HTTP/2 session, with the given headers on top of the gRPC ones; resolves when it ends. */
function call(path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  if (session === undefined) {
    session = http2.connect(emulator.url);
    session.on("error", () => {});
  }
  return new Promise((resolve) => {
    const req = session!.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${KEY}`,
      ...headers,
    });
    const answer: Answer = { httpStatus: undefined, grpcStatus: undefined, grpcMessage: undefined, body: "" };
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) answer.grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) answer.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", (h) => {
      answer.httpStatus = Number(h[":status"]);
      take(h);
    });
    req.on("trailers", take);
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (answer.body += chunk));
    req.on("error", () => {});
    req.on("close", () => resolve(answer));
    req.end(body);
  });
}

const evaluate = () =>
  grpcFrame(EvaluateRequestSchema, {
    policyId: SAMPLE_POLICY_IDS.violence,
    contentData: [
      { content: { case: "text", value: "hello" } },
      { content: { case: "text", value: "I will hurt you" } },
    ],
  });
const getUnknownJob = () => grpcFrame(GetJobRequestSchema, { jobUuid: UNKNOWN_JOB });
const overflowWarnings = () => warnings.filter((w) => w.name === "TimeoutOverflowWarning");

describe("a deadline that passes while the emulator waits", () => {
  it("ends an Evaluate whose answers are held back (evaluateJitterMs) with DEADLINE_EXCEEDED", async () => {
    emulator = await startEmulator({ logger: false, evaluateJitterMs: 600_000 });
    const answer = await call(`${GATEWAY}/Evaluate`, evaluate(), { "grpc-timeout": "50m" });
    expect(answer.grpcStatus).toBe(String(Code.DeadlineExceeded));
  });

  it("ends a call held back by a delay fault with DEADLINE_EXCEEDED", async () => {
    emulator = await startEmulator({ logger: false });
    emulator.faults.delay("GetJob", 600_000);
    const answer = await call(`${GATEWAY}/GetJob`, getUnknownJob(), { "grpc-timeout": "50m" });
    expect(answer.grpcStatus).toBe(String(Code.DeadlineExceeded));
  });
});

describe("a CreateJob waiting for its job (wait_for_completion) without a deadline", () => {
  it("gives up after 10 minutes with DEADLINE_EXCEEDED, not INTERNAL", async () => {
    vi.useFakeTimers();
    const engine = new PolicyEngine({ policies: SAMPLE_POLICIES, blockedHashes: [] });
    const jobs = new JobStore({ run: (job) => runJob(engine, job), delayMs: 3_600_000 });
    try {
      const service = gatewayService({ engine, jobs, maxMessageBytes: 1 << 20, evaluateJitterMs: 0 });
      const ctx = createHandlerContext({
        service: GatewayService,
        method: GatewayService.method.createJob,
        protocolName: "grpc",
        requestMethod: "POST",
        url: `http://127.0.0.1${GATEWAY}/CreateJob`,
        requestSignal: new AbortController().signal,
        contextValues: createContextValues().set(kCustomerId, "customer-test"),
      });
      const request = create(CreateJobRequestSchema, {
        policyId: SAMPLE_POLICY_IDS.violence,
        contentData: [{ content: { case: "text", value: "hello" } }],
        waitForCompletion: true,
      });
      const outcome = Promise.resolve(service.createJob!(request, ctx)).then(
        () => undefined,
        (e: unknown) => e,
      );
      await vi.advanceTimersByTimeAsync(600_000);
      const error = await outcome;
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
      expect((error as ConnectError).rawMessage).toMatch(/did not end within 600000 ms \(it is PENDING\)/);
    } finally {
      jobs.close();
      vi.useRealTimers();
    }
  });
});

describe("a call cancelled while the emulator waits", () => {
  it("ends with CANCELLED, not the AbortError of timers/promises", async () => {
    const engine = new PolicyEngine({ policies: SAMPLE_POLICIES, blockedHashes: [] });
    const jobs = new JobStore({ run: (job) => runJob(engine, job) });
    const service = gatewayService({ engine, jobs, maxMessageBytes: 1 << 20, evaluateJitterMs: 600_000 });
    try {
      // Connect-node aborts a call's signal with CANCELLED when the client resets its stream with CANCEL, and with no
      // reason when the stream just closes.
      const reasons = [new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled), undefined];
      for (const reason of reasons) {
        const client = new AbortController();
        const ctx = createHandlerContext({
          service: GatewayService,
          method: GatewayService.method.evaluate,
          protocolName: "grpc",
          requestMethod: "POST",
          url: `http://127.0.0.1${GATEWAY}/Evaluate`,
          requestSignal: client.signal,
          contextValues: createContextValues().set(kCustomerId, "customer-test"),
        });
        const answers = service.evaluate!(
          create(EvaluateRequestSchema, {
            policyId: SAMPLE_POLICY_IDS.violence,
            contentData: [{ content: { case: "text", value: "hello" } }],
          }),
          ctx,
        ) as AsyncIterable<unknown>;
        const next = answers[Symbol.asyncIterator]().next();
        client.abort(reason);
        const error = await next.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ConnectError);
        expect((error as ConnectError).code).toBe(Code.Canceled);
      }
    } finally {
      jobs.close();
    }
  });
});

describe("a deadline longer than a timer can take", () => {
  for (const timeout of ["2147484S", "2592000S", "99999999S", "99999999H"]) {
    it(`grpc-timeout ${timeout} is as good as none: the call gets its answer`, async () => {
      emulator = await startEmulator({ logger: false });
      emulator.faults.delay("GetJob", 30);
      const answer = await call(`${GATEWAY}/GetJob`, getUnknownJob(), { "grpc-timeout": timeout });
      expect(answer.grpcStatus).toBe(String(Code.NotFound));
      expect(overflowWarnings()).toEqual([]);
    });
  }

  it("a Connect call with connect-timeout-ms 9999999999 gets its answer", async () => {
    emulator = await startEmulator({ logger: false });
    emulator.faults.delay("GetJob", 30);
    const answer = await call(
      `${GATEWAY}/GetJob`,
      Buffer.from(toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobUuid: UNKNOWN_JOB }))),
      {
        "content-type": "application/proto",
        "connect-protocol-version": "1",
        "connect-timeout-ms": "9999999999",
      },
    );
    expect(answer.httpStatus).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "not_found" });
    expect(overflowWarnings()).toEqual([]);
  });

  it("a CreateJob waiting for its job with a 30-day deadline gets the job once it ends", async () => {
    emulator = await startEmulator({ logger: false, jobDelayMs: 10 });
    const body = grpcFrame(CreateJobRequestSchema, {
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [{ content: { case: "text", value: "hello" } }],
      waitForCompletion: true,
    });
    const answer = await call(`${GATEWAY}/CreateJob`, body, { "grpc-timeout": "2592000S" });
    expect(answer.grpcStatus).toBe("0");
    expect(overflowWarnings()).toEqual([]);
  });

  it("over REST, grpc-timeout 99999999S is as good as none too", async () => {
    emulator = await startEmulator({ logger: false, restPort: 0 });
    emulator.faults.delay("GetJob", 30);
    const res = await fetch(`${emulator.restUrl}/v1/jobs/${UNKNOWN_JOB}`, {
      headers: { authorization: `Bearer ${KEY}`, "grpc-timeout": "99999999S" },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: Code.NotFound });
    expect(overflowWarnings()).toEqual([]);
  });
});
