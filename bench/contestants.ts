// The clients under test behind one small interface: ours (ClavataClient,
// Connect-ES over node:http2), the official @clavata/sdk (@grpc/grpc-js), and
// a diagnostic bare Connect-ES client. Each takes its input in its own format,
// prepared before the clock starts, and is used the way its README shows; the
// bench touches one field of each result, as any caller would. Each
// measurement process loads only the client it measures (a dynamic import),
// so none pays for loading another.

import type OfficialClient from "@clavata/sdk";
import type { EvaluateResponse as OfficialEvaluateMessage } from "@clavata/sdk";
import type { ClavataClient, ContentDataInit, EvaluateResponse } from "../src/index.js";
import { BENCH_POLICY_ID, framed } from "./responses.js";

type OurModule = typeof import("../src/index.js");
type OfficialModule = typeof import("@clavata/sdk");
type BareHttp2Modules = [
  typeof import("node:http2"),
  typeof import("@bufbuild/protobuf"),
  typeof import("../gen/clavata/gateway/v1/gateway_pb.js"),
  typeof import("../gen/clavata/binary_codec.js"),
  typeof import("../gen/clavata/shared/v1/public_pb.js"),
];
type BareModules = [
  typeof import("@connectrpc/connect"),
  typeof import("@connectrpc/connect-node"),
  typeof import("../gen/clavata/gateway/v1/gateway_pb.js"),
  typeof import("../gen/clavata/shared/v1/public_pb.js"),
];

/**
 * Which client: "ours" (clavata-connect), "theirs" (@clavata/sdk), or "connect", a diagnostic: the generated
 * service used through bare Connect-ES (createClient over createGrpcTransport, only an auth header added), which
 * shows how much of our figures is Connect-ES itself and how much is our client's own layer.
 */
export type ContestantName = "ours" | "theirs" | "connect" | "http2";

/** The display name of each client. */
export const CONTESTANT_LABELS: Readonly<Record<ContestantName, string>> = {
  ours: "clavata-connect",
  theirs: "@clavata/sdk",
  connect: "bare Connect-ES",
  http2: "bare node:http2",
};

/** The diagnostic clients, one of which `--with-connect` or `--with-http2` adds as a third column. */
export type DiagnosticName = "connect" | "http2";

/** One content item as the bench describes it; `id` goes into the item's metadata and comes back in its report. */
export interface BenchItem {
  readonly id: string;
  readonly text?: string;
  readonly image?: Uint8Array;
}

/** Content items in a client's own input format, built before a measurement starts. */
export interface PreparedItems {
  /** The client's own item objects. @private */
  readonly items: unknown;
}

/** What the bench needs from a client. Every method throws what the client throws. */
export interface Contestant {
  readonly name: ContestantName;
  /** Turns items into the client's input format (outside the timed part). */
  prepare(items: readonly BenchItem[]): PreparedItems;
  /** Starts an Evaluate stream; iterating yields one result per item. Ending the iteration early cancels it. */
  evaluate(items: PreparedItems, policyId?: string): AsyncIterable<unknown>;
  /** Creates a job for the items and returns it. */
  createJob(items: PreparedItems): Promise<unknown>;
  /** Gets a job. */
  getJob(jobUuid: string): Promise<unknown>;
  /**
   * Whether a result's review outcome is TRUE: the one field the bench reads from every result. Throws the
   * stream's failure when the client delivers it as an item.
   */
  matched(result: unknown): boolean;
  /** A result's echoed metadata id and its number of section reports, for checking answers. */
  describeResult(result: unknown): { id: string | undefined; sections: number };
  /** A job's uuid and its number of results, for checking answers. */
  describeJob(job: unknown): { uuid: string | undefined; results: number };
  /** Closes what can be closed. */
  close(): Promise<void>;
}

/** The API key both clients send; the bench server accepts any. */
const BENCH_API_KEY = "bench-api-key";

/** Our client, speaking gRPC over plaintext HTTP/2 to `port` on 127.0.0.1. */
function createOurs(port: number, { ClavataClient, imageContent, Outcome, textContent }: OurModule): Contestant {
  const client = new ClavataClient({
    apiKey: BENCH_API_KEY,
    baseUrl: `http://127.0.0.1:${String(port)}`,
    insecure: true,
  });
  const items = (p: PreparedItems) => p.items as ContentDataInit[];
  return {
    name: "ours",
    prepare(list) {
      const prepared = list.map((item) =>
        item.image !== undefined
          ? imageContent(item.image, { metadata: { id: item.id } })
          : textContent(item.text ?? "", { metadata: { id: item.id } }),
      );
      return { items: prepared };
    },
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: (p) => client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) }),
    getJob: (uuid) => client.getJob(uuid),
    matched: (r) => (r as EvaluateResponse).policyEvaluationReport?.reviewResult?.outcome === Outcome.TRUE,
    describeResult(r) {
      const report = (r as EvaluateResponse).policyEvaluationReport;
      return { id: report?.contentMetadata.id, sections: report?.sectionEvaluationReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<ClavataClient["getJob"]>>;
      return { uuid: job.jobUuid, results: job.results.length };
    },
    close: () => client.close(),
  };
}

type OfficialItem = Parameters<OfficialClient["evaluate"]>[0]["contentData"][number];

/**
 * The official client, plaintext to `port` on 127.0.0.1 (its `insecure` option), with its default retry and
 * keepalive settings. It has no close(): its channel lives as long as the process.
 */
function createTheirs(port: number, { default: OfficialClient, StreamError }: OfficialModule): Contestant {
  const client = new OfficialClient({ apiKey: BENCH_API_KEY, server: `127.0.0.1:${String(port)}`, insecure: true });
  const items = (p: PreparedItems) => p.items as OfficialItem[];
  return {
    name: "theirs",
    prepare(list) {
      const prepared: OfficialItem[] = list.map((item) => ({
        content:
          item.image !== undefined ? { $case: "image", value: item.image } : { $case: "text", value: item.text ?? "" },
        contentType: item.image !== undefined ? "image/png" : "text",
        metadata: { id: item.id },
      }));
      return { items: prepared };
    },
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: (p) => client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) }),
    getJob: (uuid) => client.getJob(uuid),
    matched(r) {
      // The official stream yields a failure as a StreamError item instead of throwing (its README checks each item).
      if (r instanceof StreamError) throw r;
      return (r as OfficialEvaluateMessage).result === "TRUE";
    },
    describeResult(r) {
      if (r instanceof StreamError) throw r;
      const message = r as OfficialEvaluateMessage;
      const id = message.metadata?.id;
      return { id: typeof id === "string" ? id : undefined, sections: message.report?.sectionReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<OfficialClient["getJob"]>>;
      return { uuid: job?.jobUuid, results: job?.results.length ?? 0 };
    },
    close: async () => {},
  };
}

/**
 * What the two diagnostic clients share: they take content as the generated messages' init shape (as our client
 * does) and read the generated message types.
 */
function generatedMessageParts(
  Outcome: BareModules[3]["Outcome"],
): Pick<Contestant, "prepare" | "matched" | "describeResult" | "describeJob"> {
  return {
    prepare(list) {
      const prepared: ContentDataInit[] = list.map((item) => ({
        content:
          item.image !== undefined ? { case: "image", value: item.image } : { case: "text", value: item.text ?? "" },
        metadata: { id: item.id },
      }));
      return { items: prepared };
    },
    matched: (r) => (r as EvaluateResponse).policyEvaluationReport?.reviewResult?.outcome === Outcome.TRUE,
    describeResult(r) {
      const report = (r as EvaluateResponse).policyEvaluationReport;
      return { id: report?.contentMetadata.id, sections: report?.sectionEvaluationReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<ClavataClient["getJob"]>> | undefined;
      return { uuid: job?.jobUuid, results: job?.results.length ?? 0 };
    },
  };
}

/** The generated GatewayService through bare Connect-ES: no retries, deadlines, logging or error mapping. */
function createBareConnect(
  port: number,
  [{ createClient }, { createGrpcTransport, Http2SessionManager }, { GatewayService }, { Outcome }]: BareModules,
): Contestant {
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${BENCH_API_KEY}`);
        return next(req);
      },
    ],
  });
  const client = createClient(GatewayService, transport);
  const items = (p: PreparedItems) => p.items as ContentDataInit[];
  return {
    name: "connect",
    ...generatedMessageParts(Outcome),
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: async (p) => (await client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) })).job,
    getJob: async (uuid) => (await client.getJob({ jobUuid: uuid })).job,
    close: async () => sessionManager.abort(),
  };
}

/**
 * Bare node:http2, a diagnostic: the least any JavaScript client on node:http2 must do for a call, and nothing more. It encodes the
 * request with protobuf-es, sends it on one HTTP/2 connection with the gRPC headers, cuts the answer into messages
 * and decodes them with the generated decoders; it has no deadlines, retries, validation, pooling, keepalive or
 * error mapping (a status other than 0 rejects with the raw grpc-message). How close a client comes to it shows
 * what the client's own layers cost; how far it is above the official client bounds what any client can reach
 * against this server.
 */
function createBareHttp2(
  port: number,
  [http2, { create, toBinary }, gateway, { generatedDecoders }, { Outcome }]: BareHttp2Modules,
): Contestant {
  const session = http2.connect(`http://127.0.0.1:${String(port)}`);
  session.on("error", () => {});
  const decoder = <T>(schema: { typeName: string }) => {
    const decode = generatedDecoders.get(schema as never);
    if (decode === undefined) throw new Error(`no generated decoder for ${schema.typeName}`);
    return decode as unknown as (bytes: Uint8Array) => T;
  };
  const decodeEvaluate = decoder<EvaluateResponse>(gateway.EvaluateResponseSchema);
  const decodeGetJob = decoder<{ job?: unknown }>(gateway.GetJobResponseSchema);
  const decodeCreateJob = decoder<{ job?: unknown }>(gateway.CreateJobResponseSchema);
  /** Runs one call; `onMessage` gets each response message's bytes. Resolves at the end of a status-0 stream. */
  const call = (method: string, request: Uint8Array, onMessage: (bytes: Uint8Array) => void) =>
    new Promise<void>((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": `/clavata.gateway.v1.GatewayService/${method}`,
        "content-type": "application/grpc+proto",
        te: "trailers",
        authorization: `Bearer ${BENCH_API_KEY}`,
      });
      let pending: Buffer = Buffer.alloc(0);
      let status: string | undefined;
      let message = "";
      stream.on("response", (headers) => {
        if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
      });
      stream.on("data", (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 5) {
          const length = pending.readUInt32BE(1);
          if (pending.length < 5 + length) break;
          const bytes = pending.subarray(5, 5 + length);
          onMessage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          pending = pending.subarray(5 + length);
        }
      });
      stream.on("trailers", (trailers) => {
        status = String(trailers["grpc-status"]);
        message = String(trailers["grpc-message"] ?? "");
      });
      stream.on("error", reject);
      stream.on("close", () => {
        stream.removeAllListeners();
        stream.on("error", () => {});
        if (status === "0") resolve();
        else reject(new Error(`${method} ended with grpc-status ${String(status)}: ${message}`));
      });
      stream.end(framed(request));
    });
  const unary = async <T>(method: string, request: Uint8Array, decode: (bytes: Uint8Array) => T): Promise<T> => {
    let answer: T | undefined;
    await call(method, request, (bytes) => {
      answer = decode(bytes);
    });
    if (answer === undefined) throw new Error(`${method} answered without a message`);
    return answer;
  };
  const items = (p: PreparedItems) => p.items as ContentDataInit[];
  return {
    name: "http2",
    ...generatedMessageParts(Outcome),
    async *evaluate(p, policyId = BENCH_POLICY_ID) {
      const request = toBinary(
        gateway.EvaluateRequestSchema,
        create(gateway.EvaluateRequestSchema, { policyId, contentData: items(p) }),
      );
      // A queue between the stream's 'data' events and this generator, as any streaming client needs one.
      const queue: EvaluateResponse[] = [];
      let wake: (() => void) | undefined;
      let ended = false;
      let failure: unknown;
      const done = call("Evaluate", request, (bytes) => {
        queue.push(decodeEvaluate(bytes));
        wake?.();
      }).then(
        () => {
          ended = true;
          wake?.();
        },
        (error: unknown) => {
          failure = error;
          ended = true;
          wake?.();
        },
      );
      for (;;) {
        if (queue.length > 0) {
          yield* queue.splice(0);
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      await done;
      if (failure !== undefined) throw failure;
    },
    createJob: async (p) =>
      (
        await unary(
          "CreateJob",
          toBinary(
            gateway.CreateJobRequestSchema,
            create(gateway.CreateJobRequestSchema, { policyId: BENCH_POLICY_ID, contentData: items(p) }),
          ),
          decodeCreateJob,
        )
      ).job,
    getJob: async (uuid) =>
      (
        await unary(
          "GetJob",
          toBinary(gateway.GetJobRequestSchema, create(gateway.GetJobRequestSchema, { jobUuid: uuid })),
          decodeGetJob,
        )
      ).job,
    close: async () => {
      session.close();
    },
  };
}

/** Loads and makes the named client for a bench server on `port`. */
export async function createContestant(name: ContestantName, port: number): Promise<Contestant> {
  switch (name) {
    case "ours":
      return createOurs(port, await import("../src/index.js"));
    case "theirs":
      return createTheirs(port, await import("@clavata/sdk"));
    case "connect":
      return createBareConnect(
        port,
        await Promise.all([
          import("@connectrpc/connect"),
          import("@connectrpc/connect-node"),
          import("../gen/clavata/gateway/v1/gateway_pb.js"),
          import("../gen/clavata/shared/v1/public_pb.js"),
        ]),
      );
    case "http2":
      return createBareHttp2(
        port,
        await Promise.all([
          import("node:http2"),
          import("@bufbuild/protobuf"),
          import("../gen/clavata/gateway/v1/gateway_pb.js"),
          import("../gen/clavata/binary_codec.js"),
          import("../gen/clavata/shared/v1/public_pb.js"),
        ]),
      );
  }
}
