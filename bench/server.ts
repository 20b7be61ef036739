// The bench server: the gateway's GatewayService over gRPC on plaintext HTTP/2
// (h2c) on 127.0.0.1, answering with precomputed, pre-encoded messages so that
// the figures measure the clients, not a policy engine or the server's own
// serialisation. Both clients speak to it unchanged: ours with `insecure: true`
// and an http:// base URL, the official one with `insecure: true`.
//
// Run by itself (`node dist-bench/bench/server.js [--port N] [--precompute N]`) it prints its URL
// and serves until interrupted; forked by run.ts it reports its URL and CPU
// time over IPC.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  type CreateJobResponse,
  CreateJobResponseSchema,
  type EvaluateRequest,
  EvaluateRequestSchema,
  type EvaluateResponse,
  EvaluateResponseSchema,
  GatewayService,
  type GetJobResponse,
  GetJobResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
import {
  BENCH_JOB_UUID,
  completedJobResponse,
  evaluateResponse,
  framed,
  HOLD_POLICY_ID,
  pendingJobResponse,
  preEncoded,
} from "./responses.js";

/** How to start the bench server. */
export interface BenchServerOptions {
  /** The port on 127.0.0.1; 0 (the default) picks a free ephemeral port. */
  port?: number;
  /**
   * Encode the Evaluate answers for the metadata ids "0" to "n-1" before listening, so that no measurement pays
   * for a first encoding. Default 0 (each answer is encoded when first asked for, then cached).
   */
  precompute?: number;
  /**
   * Serve with a lean gRPC responder of the bench's own on node:http2 instead of Connect-node's server: it sends the
   * same pre-encoded answers at a fraction of the server's cost per call, to show what the clients do when the
   * server is not what sets the pace (a diagnostic: `npm run bench -- --lean-server`). Default false.
   */
  lean?: boolean;
}

/** A running bench server. */
export interface BenchServer {
  /** "http://127.0.0.1:<port>". */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends every open session. Idempotent. */
  close(): Promise<void>;
}

/** The HTTP/2 flow-control windows the server grants, as a gateway that has grown its windows would. */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

/** Evaluate answers are cached by the item's metadata id; more distinct ids than this are encoded afresh. */
const MAX_CACHED_ANSWERS = 100_000;

function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * The lean responder (`lean: true`): reads the request body, answers GetJob and CreateJob with their framed bytes
 * and Evaluate with one framed answer per item (with flow control), then the OK status in trailers. The same
 * answers as the Connect-node server, byte for byte; no deadlines, compression or error handling beyond the bench's
 * needs.
 */
function leanHandler(
  answerFor: (metadata: Record<string, string>) => EvaluateResponse,
  getJob: GetJobResponse,
  createJob: CreateJobResponse,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void {
  const getJobFrame = framed(toBinary(GetJobResponseSchema, getJob));
  const createJobFrame = framed(toBinary(CreateJobResponseSchema, createJob));
  const answerFrames = new Map<EvaluateResponse, Buffer>();
  const frameOf = (answer: EvaluateResponse) => {
    let frame = answerFrames.get(answer);
    if (frame === undefined) {
      frame = framed(toBinary(EvaluateResponseSchema, answer));
      // Answers too many to cache are made afresh each time: keep their frames only while the answers are cached.
      if (answerFrames.size < MAX_CACHED_ANSWERS) answerFrames.set(answer, frame);
    }
    return frame;
  };
  return (stream, headers) => {
    const path = String(headers[":path"]);
    const chunks: Buffer[] = [];
    stream.on("error", () => {});
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      if (path.endsWith("/GetJob")) stream.end(getJobFrame);
      else if (path.endsWith("/CreateJob")) stream.end(createJobFrame);
      else if (path.endsWith("/Evaluate")) {
        const body = Buffer.concat(chunks);
        const request: MessageShape<typeof EvaluateRequestSchema> = fromBinary(EvaluateRequestSchema, body.subarray(5));
        if (request.policyId === HOLD_POLICY_ID) {
          const first = request.contentData[0];
          if (first !== undefined) stream.write(frameOf(answerFor(first.metadata)));
          return;
        }
        let next = 0;
        const pump = () => {
          while (next < request.contentData.length && !stream.destroyed) {
            if (!stream.write(frameOf(answerFor(request.contentData[next++]!.metadata)))) {
              stream.once("drain", pump);
              return;
            }
          }
          if (!stream.destroyed) stream.end();
        };
        pump();
      } else {
        stream.end();
      }
    });
  };
}

/**
 * Starts the bench server on 127.0.0.1. Evaluate answers each item with a full report echoing the item's metadata
 * (policy id HOLD_POLICY_ID: answers the first item, then holds the stream open until the client cancels it);
 * GetJob answers every uuid with a completed job of JOB_RESULTS results; CreateJob with a new PENDING job.
 * ListJobs is not served. Rejects if the port cannot be bound.
 */
export async function startBenchServer(options: BenchServerOptions = {}): Promise<BenchServer> {
  const answers = new Map<string, EvaluateResponse>();
  const answerFor = (metadata: Record<string, string>): EvaluateResponse => {
    // Metadata beyond the id (evaluateBatch's correlation key) is part of the answer, so part of the cache key.
    let extra = false;
    for (const k in metadata) if (k !== "id") extra = true;
    const key = extra ? JSON.stringify(metadata) : (metadata.id ?? "");
    let answer = answers.get(key);
    if (answer === undefined) {
      const full = evaluateResponse(metadata, BENCH_JOB_UUID);
      answer = preEncoded(EvaluateResponseSchema, toBinary(EvaluateResponseSchema, full));
      if (answers.size < MAX_CACHED_ANSWERS) answers.set(key, answer);
    }
    return answer;
  };
  for (let i = 0; i < (options.precompute ?? 0); i++) answerFor({ id: String(i) });
  const getJob = preEncoded(GetJobResponseSchema, toBinary(GetJobResponseSchema, completedJobResponse()));
  const createJob = preEncoded(CreateJobResponseSchema, toBinary(CreateJobResponseSchema, pendingJobResponse()));

  const handler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    // Both clients offer gzip, and connect-node would compress every answer over 1 KiB; a gateway compresses
    // nothing unless configured to, and compression would put zlib, not the clients, in the figures.
    acceptCompression: [],
    routes(router) {
      router.service(GatewayService, {
        async *evaluate(request: EvaluateRequest, context: HandlerContext) {
          if (request.policyId === HOLD_POLICY_ID) {
            const first = request.contentData[0];
            if (first !== undefined) yield answerFor(first.metadata);
            await whenAborted(context.signal);
            return;
          }
          for (const item of request.contentData) yield answerFor(item.metadata);
        },
        getJob: () => getJob,
        createJob: () => createJob,
      });
    },
  });

  const sessions = new Set<http2.ServerHttp2Session>();
  const settings = { settings: { initialWindowSize: STREAM_WINDOW_BYTES } };
  const server =
    options.lean === true
      ? http2.createServer(settings).on("stream", leanHandler(answerFor, getJob, createJob))
      : http2.createServer(settings, handler);
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    // Without a listener a client that vanishes (a child process that exits) would crash the server.
    session.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      });
      return closing;
    },
  };
}

/** A garbage-collection pause at least this long counts as long: one such pause alone can be a scenario's p99. */
export const LONG_GC_PAUSE_MS = 4;

/** The bench server's garbage collection as it reports it (PerformanceObserver "gc" entries). */
export interface GcTally {
  /** Milliseconds of garbage-collection pauses since the server started. */
  ms: number;
  /** Pauses of LONG_GC_PAUSE_MS or more since the server started. */
  longPauses: number;
  /** The longest pause since the previous report. */
  longestMs: number;
}

/** A message from run.ts to a forked bench server. @private */
export type ServerCommand = { type: "cpu"; id: number } | { type: "close" };

/** A message from a forked bench server to run.ts. @private */
export type ServerReport =
  | { type: "ready"; url: string; port: number }
  | { type: "cpu"; id: number; user: number; system: number; gc: GcTally };

/** Tallies this process's garbage-collection pauses; `take()` reports them and starts a new longest pause. */
function watchGarbageCollection(): { take(): GcTally } {
  const tally: GcTally = { ms: 0, longPauses: 0, longestMs: 0 };
  const add = (entries: readonly PerformanceEntry[]) => {
    for (const entry of entries) {
      tally.ms += entry.duration;
      if (entry.duration >= LONG_GC_PAUSE_MS) tally.longPauses++;
      tally.longestMs = Math.max(tally.longestMs, entry.duration);
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ type: "gc" });
  return {
    take() {
      // Entries not yet delivered to the callback belong to the interval that is ending.
      add(observer.takeRecords());
      const taken = { ...tally };
      tally.longestMs = 0;
      return taken;
    },
  };
}

async function main(): Promise<void> {
  const arg = (name: string) => {
    const at = process.argv.indexOf(name);
    return at >= 0 ? Number(process.argv[at + 1]) : 0;
  };
  const server = await startBenchServer({
    port: arg("--port"),
    precompute: arg("--precompute"),
    lean: process.argv.includes("--lean"),
  });
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stdout.write(`bench server listening on ${server.url}\n`);
    process.once("SIGINT", () => void server.close().then(() => process.exit(0)));
    return;
  }
  const gc = watchGarbageCollection();
  process.on("message", (command: ServerCommand) => {
    if (command.type === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", id: command.id, user, system, gc: gc.take() } satisfies ServerReport);
    } else {
      void server.close().then(() => process.exit(0));
    }
  });
  // The parent going away ends the server too, so no stray process survives a crashed run.
  process.once("disconnect", () => void server.close().then(() => process.exit(0)));
  send({ type: "ready", url: server.url, port: server.port } satisfies ServerReport);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench server failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
