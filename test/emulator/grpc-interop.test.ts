// The emulator as gRPC peers that are not Connect see it: @grpc/grpc-js (as the official SDKs use) and raw
// node:http2 clients, for what testing with Python's grpcio found: the size of Job answers, request header limits,
// grpc-accept-encoding, unknown methods, the case of job UUIDs, and EvaluateLabels' prechecks.

import * as http2 from "node:http2";
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
import { contentHash, type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { MAX_HEADER_LIST_SIZE } from "../../src/emulator/server.js";
import {
  CreateJobRequestSchema,
  CreateJobResponseSchema,
  EvaluateLabelsRequestSchema,
  EvaluateLabelsResponseSchema,
  GetJobRequestSchema,
  GetJobResponseSchema,
  JobStatus,
  ListJobsRequestSchema,
  ListJobsResponseSchema,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RpcStatusSchema,
} from "../../src/index.js";

const KEY = "grpc-interop-key";
const GATEWAY = "/clavata.gateway.v1.GatewayService";
const LABELS = "/clavata.gateway.v1.LabelsService";
const UNKNOWN_JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const MiB = 1024 * 1024;
const GIF = new Uint8Array([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);
const text = (value: string) => ({ content: { case: "text" as const, value } });

let emulator: Emulator;
/** A grpc-js client with its defaults: among them a 4 MiB receive limit, as grpcio's. */
let client: grpc.Client;

beforeAll(async () => {
  emulator = await startEmulator({ logger: false, jobDelayMs: 1 });
  client = new grpc.Client(`127.0.0.1:${emulator.port}`, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await emulator.close();
});

function metadataOf(extra: Record<string, string> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${KEY}`);
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
  return metadata;
}

/** One unary call with grpc-js, by path. */
function unary<I extends DescMessage, O extends DescMessage>(
  path: string,
  input: I,
  output: O,
  init: MessageInitShape<I>,
  metadata = metadataOf(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
      (b: Buffer) => fromBinary(output, b),
      create(input, init),
      metadata,
      {},
      (err: grpc.ServiceError | null, res?: MessageShape<O>) => (err ? reject(err) : resolve(res!)),
    );
  });
}

async function serviceError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

/** A message in gRPC's framing: an uncompressed flag, its length, then the bytes. */
function grpcFrame(bytes: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

const getJobBody = grpcFrame(toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobUuid: UNKNOWN_JOB })));

/** The headers of a gRPC call over raw HTTP/2. */
function grpcHeaders(path: string, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  return {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${KEY}`,
    ...extra,
  };
}

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/** Sends a request on a raw HTTP/2 session; `send` ends it with a body (the answer resolves once the stream closes). */
function rawCall(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders) {
  const req = session.request(headers);
  const answer: RawAnswer = { headers: {}, trailers: undefined, rstCode: undefined };
  req.on("response", (h) => (answer.headers = h));
  req.on("trailers", (t) => (answer.trailers = t));
  req.on("error", () => {});
  req.resume();
  const done = new Promise<RawAnswer>((resolve) =>
    req.once("close", () => {
      answer.rstCode = req.rstCode;
      resolve(answer);
    }),
  );
  return { send: (body: Buffer = Buffer.alloc(0)) => req.end(body), done };
}

/** Opens a raw HTTP/2 session and waits for the emulator's SETTINGS. */
async function connect(): Promise<{ session: http2.ClientHttp2Session; settings: http2.Settings }> {
  // Node's client would refuse to send a header block over 64 KiB by default; the tests below send larger ones.
  const session = http2.connect(emulator.url, { maxSendHeaderBlockLength: 4 * MiB });
  session.on("error", () => {});
  const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
  return { session, settings };
}

/** Ends a session at once, even with a stream that a failed test left open. */
function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    session.once("close", resolve);
    session.destroy();
  });
}

describe("Job answers", () => {
  it("carry no content_data (input only in the contract), so a 5 MiB job reads back under a 4 MiB receive limit", async () => {
    const big = "a".repeat(5 * MiB);
    const created = await unary(`${GATEWAY}/CreateJob`, CreateJobRequestSchema, CreateJobResponseSchema, {
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [text(big)],
      waitForCompletion: true,
    });
    const job = created.job!;
    expect(job.status).toBe(JobStatus.COMPLETED);
    expect(job.contentData).toEqual([]);
    // What is output only is filled: each result carries its item's content hash.
    expect(job.results).toHaveLength(1);
    expect(job.results[0]?.contentHash).toBe(contentHash(big));

    const got = await unary(`${GATEWAY}/GetJob`, GetJobRequestSchema, GetJobResponseSchema, { jobUuid: job.jobUuid });
    expect(got.job?.contentData).toEqual([]);
    expect(got.job?.results[0]?.contentHash).toBe(contentHash(big));

    const listed = await unary(`${GATEWAY}/ListJobs`, ListJobsRequestSchema, ListJobsResponseSchema, {});
    expect(listed.jobs.map((j) => j.jobUuid)).toContain(job.jobUuid);
    for (const j of listed.jobs) expect(j.contentData).toEqual([]);
  });

  it("are found by a job UUID in upper case, and keep the lower-case one", async () => {
    const { job } = await unary(`${GATEWAY}/CreateJob`, CreateJobRequestSchema, CreateJobResponseSchema, {
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [text("hello")],
    });
    const got = await unary(`${GATEWAY}/GetJob`, GetJobRequestSchema, GetJobResponseSchema, {
      jobUuid: job!.jobUuid.toUpperCase(),
    });
    expect(got.job?.jobUuid).toBe(job!.jobUuid);
    expect(got.job?.jobUuid).toBe(job!.jobUuid.toLowerCase());
  });
});

describe("EvaluateLabels", () => {
  const evaluateLabels = (init: MessageInitShape<typeof EvaluateLabelsRequestSchema>) =>
    unary(`${LABELS}/EvaluateLabels`, EvaluateLabelsRequestSchema, EvaluateLabelsResponseSchema, init);

  it("refuses content when none of the label ids is known", async () => {
    const error = await serviceError(
      evaluateLabels({ contentData: { content: { case: "image", value: GIF } }, labelVersionIds: ["nope"] }),
    );
    expect(error.code).toBe(grpc.status.CANCELLED);
    const [bin] = error.metadata.get("grpc-status-details-bin") as Buffer[];
    const failures = fromBinary(RpcStatusSchema, bin!).details.map((d) => anyUnpack(d, PrecheckFailureSchema)!);
    expect(failures.map((f) => f.type)).toEqual([PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT]);
  });

  it("answers the content's hash when none of the label ids is known", async () => {
    const res = await evaluateLabels({ contentData: text("hello"), labelVersionIds: ["nope"] });
    expect(res.contentHash).toBe(contentHash("hello"));
    expect(res.results.map((r) => r.error)).toEqual(['unknown label version id "nope"']);
  });
});

describe("unknown methods", () => {
  const call = (path: string) => serviceError(unary(path, GetJobRequestSchema, GetJobResponseSchema, {}));

  it("get UNIMPLEMENTED with a message over gRPC, as from a gRPC server", async () => {
    const unknown = await call(`${GATEWAY}/Nope`);
    expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(unknown.details).toContain(`unknown method ${GATEWAY}/Nope`);
    expect(unknown.details).toContain(`${GATEWAY}/GetJob`);
    const typo = await call(`${GATEWAY}/GetJobs`);
    expect(typo.details).toContain(`did you mean ${GATEWAY}/GetJob?`);
    // BatchJobService is the gateway's, but on its REST surface only.
    const batch = await call("/clavata.gateway.v1.BatchJobService/GetBatchJobs");
    expect(batch.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(batch.details).toMatch(/BatchJobService exists only on the gateway's REST surface/);
  });

  it("are answered trailers-only (HTTP 200) over gRPC and gRPC-Web, and with HTTP 404 otherwise", async () => {
    const { session } = await connect();
    try {
      for (const contentType of ["application/grpc", "application/grpc+proto", "application/grpc-web+proto"]) {
        const nope = rawCall(session, grpcHeaders(`${GATEWAY}/Nope`, { "content-type": contentType }));
        nope.send(getJobBody);
        const answer = await nope.done;
        expect(answer.headers[":status"], contentType).toBe(200);
        expect(answer.headers["grpc-status"], contentType).toBe(String(grpc.status.UNIMPLEMENTED));
        expect(answer.headers["content-type"], contentType).toBe(contentType);
        // One HEADERS frame that ends the stream: no trailers after it.
        expect(answer.trailers, contentType).toBeUndefined();
      }
      for (const contentType of [undefined, "application/json", "application/proto"]) {
        const nope = rawCall(session, {
          ":method": "POST",
          ":path": `${GATEWAY}/Nope`,
          ...(contentType ? { "content-type": contentType } : {}),
        });
        nope.send();
        const answer = await nope.done;
        expect(answer.headers[":status"], String(contentType)).toBe(404);
        expect(answer.headers["grpc-status"], String(contentType)).toBeUndefined();
      }
    } finally {
      await closeSession(session);
    }
  });
});

describe("grpc-accept-encoding", () => {
  it("is on every gRPC answer: a successful one, an error, and UNIMPLEMENTED for an encoding it lacks", async () => {
    const { session } = await connect();
    try {
      const notFound = rawCall(session, grpcHeaders(`${GATEWAY}/GetJob`));
      notFound.send(getJobBody);
      const a = await notFound.done;
      expect(a.trailers?.["grpc-status"]).toBe(String(grpc.status.NOT_FOUND));
      expect(a.headers["grpc-accept-encoding"]).toBe("gzip,br");

      const labels = rawCall(session, grpcHeaders(`${LABELS}/EvaluateLabels`));
      labels.send(
        grpcFrame(
          toBinary(
            EvaluateLabelsRequestSchema,
            create(EvaluateLabelsRequestSchema, { contentData: text("hi"), labelVersionIds: ["label-threats-v1"] }),
          ),
        ),
      );
      const b = await labels.done;
      expect(b.trailers?.["grpc-status"]).toBe("0");
      expect(b.headers["grpc-accept-encoding"]).toBe("gzip,br");

      // The compression spec: UNIMPLEMENTED for a request encoding the server lacks, with what it accepts.
      const deflated = rawCall(session, grpcHeaders(`${GATEWAY}/GetJob`, { "grpc-encoding": "deflate" }));
      const flagged = Buffer.from(getJobBody);
      flagged[0] = 1;
      deflated.send(flagged);
      const c = await deflated.done;
      expect(c.trailers?.["grpc-status"] ?? c.headers["grpc-status"]).toBe(String(grpc.status.UNIMPLEMENTED));
      expect(c.headers["grpc-accept-encoding"]).toBe("gzip,br");

      const nope = rawCall(session, grpcHeaders(`${GATEWAY}/Nope`));
      nope.send(getJobBody);
      expect((await nope.done).headers["grpc-accept-encoding"]).toBe("gzip,br");
    } finally {
      await closeSession(session);
    }
  });
});

describe("request header limits", () => {
  it("are advertised in SETTINGS_MAX_HEADER_LIST_SIZE", async () => {
    const { session, settings } = await connect();
    await closeSession(session);
    expect(MAX_HEADER_LIST_SIZE).toBe(64 * 1024);
    expect(settings.maxHeaderListSize).toBe(MAX_HEADER_LIST_SIZE);
  });

  it("take hundreds of metadata entries under the size (Node's default stops at 128)", async () => {
    const entries = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-entry-${i}`, "v"]));
    const error = await serviceError(
      unary(
        `${GATEWAY}/GetJob`,
        GetJobRequestSchema,
        GetJobResponseSchema,
        { jobUuid: UNKNOWN_JOB },
        metadataOf(entries),
      ),
    );
    // Answered: the job does not exist (not a reset stream, which grpc-js reports as RESOURCE_EXHAUSTED).
    expect(error.code).toBe(grpc.status.NOT_FOUND);
  });

  it("reset only the stream of a header block over the size; a call open on the connection goes on", async () => {
    const { session } = await connect();
    try {
      // A call whose headers are sent and whose message is not yet: it is open while the oversized one comes.
      const open = rawCall(session, grpcHeaders(`${GATEWAY}/GetJob`));
      // Ten fields of 7 KiB: each well under nghttp2's 64 KiB per field, together over the advertised size.
      const fields = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x-big-${i}`, "v".repeat(7 * 1024)]));
      const oversized = rawCall(session, grpcHeaders(`${GATEWAY}/GetJob`, fields));
      oversized.send(getJobBody);
      const refused = await oversized.done;
      expect(refused.rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      expect(session.destroyed || session.closed).toBe(false);
      open.send(getJobBody);
      const answer = await open.done;
      expect(answer.trailers?.["grpc-status"]).toBe(String(grpc.status.NOT_FOUND));
      expect(answer.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      await closeSession(session);
    }
  });
});
