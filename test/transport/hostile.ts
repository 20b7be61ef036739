// A gRPC server of the test's own that misbehaves on purpose, on 127.0.0.1: the first call (or the first
// connection) gets the hostile answer, every later one a correct gRPC answer, so a test can check that the client
// fails the first call with the right error and that its next call works.
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  ClavataClient,
  type ClavataClientOptions,
  EvaluateResponseSchema,
  GetJobResponseSchema,
  JobStatus,
} from "../../src/index.js";

/** A job uuid the correct answers carry. */
export const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/** One gRPC message with its 5-byte prefix. */
export function frame(bytes: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** One raw HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const jobBytes = toBinary(
  GetJobResponseSchema,
  create(GetJobResponseSchema, { job: { jobUuid: JOB, status: JobStatus.COMPLETED } }),
);

/** One framed EvaluateResponse whose content hash is `hash`. */
export function evaluateFrame(hash: string): Buffer {
  return frame(toBinary(EvaluateResponseSchema, create(EvaluateResponseSchema, { contentHash: hash })));
}

/** The correct answer to a call: a GetJob job, or two Evaluate results. */
export function answerCorrectly(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  if (stream.destroyed) return;
  stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  if (String(headers[":path"]).endsWith("/Evaluate")) {
    stream.end(Buffer.concat([evaluateFrame("h::1"), evaluateFrame("h::2")]));
  } else stream.end(frame(jobBytes));
}

/** How the hostile server misbehaves: on the first stream, or on the first connection's raw socket. */
export interface HostileBehaviour {
  /** Answers the first stream. */
  stream?: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    session: http2.ServerHttp2Session,
  ) => void;
  /** Answers the first connection's first bytes with raw bytes instead of HTTP/2. */
  raw?: (socket: net.Socket) => void;
  /** How many streams get the hostile answer (default 1). */
  times?: number;
}

/** A running hostile server. */
export interface HostileServer {
  readonly url: string;
  /** The :path of every stream received. */
  readonly paths: string[];
  /** Streams the client reset, with their RST_STREAM codes. */
  readonly resets: number[];
  close(): Promise<void>;
}

/** Starts a hostile server on 127.0.0.1. */
export async function startHostile(behaviour: HostileBehaviour): Promise<HostileServer> {
  const h2 = http2.createServer();
  const paths: string[] = [];
  const resets: number[] = [];
  const sockets = new Set<net.Socket>();
  let hostileStreams = behaviour.times ?? 1;
  h2.on("session", (session) => session.on("error", () => {}));
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    paths.push(String(headers[":path"]));
    stream.on("close", () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) resets.push(stream.rstCode);
    });
    if (behaviour.stream && hostileStreams > 0) {
      hostileStreams--;
      behaviour.stream(stream, headers, stream.session as http2.ServerHttp2Session);
    } else answerCorrectly(stream, headers);
  });
  let connections = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    if (connections++ === 0 && behaviour.raw) socket.once("data", () => behaviour.raw!(socket));
    else h2.emit("connection", socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    paths,
    resets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client of `server` for these tests: plaintext, no retries and a 5 s timeout, unless `options` say otherwise. */
export function hostileClient(
  server: HostileServer,
  apiKey: string,
  options: ClavataClientOptions = {},
): ClavataClient {
  return new ClavataClient({
    apiKey,
    baseUrl: server.url,
    insecure: true,
    maxRetries: 0,
    timeoutMs: 5_000,
    ...options,
  });
}

/**
 * Holds the first stream; on the second, sends GOAWAY naming the first as the last stream processed (so the second
 * was not), then answers the first. For a call on the first stream and a call above it.
 */
export function goawayAboveFirstStream(): HostileBehaviour {
  let held: { stream: http2.ServerHttp2Stream; headers: http2.IncomingHttpHeaders } | undefined;
  return {
    times: 2,
    stream: (stream, headers, session) => {
      if (held === undefined) {
        held = { stream, headers };
        return;
      }
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, held.stream.id!);
      answerCorrectly(held.stream, held.headers);
    },
  };
}
