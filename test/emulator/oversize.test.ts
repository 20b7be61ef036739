// Oversize requests get INVALID_ARGUMENT, as docs/emulator.md says, however large they are and whatever the
// protocol: also those over the emulator's hard ceiling on a message (twice maxMessageBytes plus 1 MiB), which
// Connect's own limit answered with RESOURCE_EXHAUSTED, the code the wire contract keeps for rate limiting and that
// clients retry.

import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayService, GetJobRequestSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { drain } from "../support/calls.js";

const KEY = "oversize-test-key-0123456789";
const MAX_MESSAGE_BYTES = 1024;
/** The emulator's ceiling on one request message for this maxMessageBytes. */
const CEILING = MAX_MESSAGE_BYTES * 2 + 1024 * 1024;
const GATEWAY = "/clavata.gateway.v1.GatewayService";

let emulator: Emulator;
const sessions: Http2SessionManager[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.abort();
  await emulator?.close();
});

async function start(): Promise<void> {
  emulator = await startEmulator({ logger: false, maxMessageBytes: MAX_MESSAGE_BYTES });
}

function transport(make: typeof createGrpcTransport, options: Record<string, unknown> = {}): Transport {
  const sessionManager = new Http2SessionManager(emulator.url);
  sessions.push(sessionManager);
  return make({
    baseUrl: emulator.url,
    httpVersion: "2",
    sessionManager,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${KEY}`);
        return next(req);
      },
    ],
    ...options,
  } as Parameters<typeof createGrpcTransport>[0]);
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

const overCeiling =
  /the request message( is \d+ bytes,|, once decompressed, is) over the emulator's limit of 1050624 bytes per message \(twice maxMessageBytes, which is 1024, plus 1 MiB\): send fewer or smaller items per call/;

function evaluateText(t: Transport, text: string) {
  return drain(
    createClient(GatewayService, t).evaluate({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [{ content: { case: "text", value: text } }],
    }),
  );
}

/** A raw HTTP/2 call; resolves with the HTTP status, grpc-status and body once the stream ends. */
function raw(headers: http2.OutgoingHttpHeaders, body: Buffer) {
  const session = http2.connect(emulator.url);
  session.on("error", () => {});
  return new Promise<{ status: number; grpcStatus: string | undefined; body: string }>((resolve) => {
    const req = session.request({ ":method": "POST", authorization: `Bearer ${KEY}`, ...headers });
    const out = { status: 0, grpcStatus: undefined as string | undefined, body: "" };
    req.on("response", (h) => {
      out.status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) out.grpcStatus = String(h["grpc-status"]);
    });
    req.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) out.grpcStatus = String(h["grpc-status"]);
    });
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (out.body += chunk));
    req.on("error", () => {});
    req.on("close", () => {
      session.close();
      resolve(out);
    });
    req.end(body);
  });
}

describe("a request over the emulator's ceiling on a message", () => {
  it("gets INVALID_ARGUMENT over gRPC, gRPC-Web and Connect streaming", async () => {
    await start();
    const big = "x".repeat(CEILING + 1000);
    // Each made the same way: the options they do not know are ignored.
    const makers = [
      createGrpcTransport,
      createGrpcWebTransport,
      createConnectTransport,
    ] as (typeof createGrpcTransport)[];
    for (const make of makers) {
      const err = await failure(evaluateText(transport(make), big));
      expect(err.code, make.name).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(overCeiling);
    }
    // Under the ceiling but over maxMessageBytes: the content check, as before.
    const err = await failure(evaluateText(transport(createGrpcTransport), "x".repeat(CEILING - 1000)));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/accepts at most 1024 bytes per request \(maxMessageBytes\)/);
  });

  it("gets INVALID_ARGUMENT from the length in a gRPC frame's prefix, before the message arrives", async () => {
    await start();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(0xffff_fff0, 1); // about 4 GiB announced, 10 bytes sent
    const answer = await raw(
      { ":path": `${GATEWAY}/Evaluate`, "content-type": "application/grpc", te: "trailers" },
      Buffer.concat([prefix, Buffer.alloc(10)]),
    );
    expect(answer.grpcStatus).toBe(String(Code.InvalidArgument));
  });

  it("ends the stream with NO_ERROR after its answer when the client is still sending (RFC 9113, 8.1)", async () => {
    await start();
    const session = http2.connect(emulator.url);
    session.on("error", () => {});
    const req = session.request({
      ":method": "POST",
      ":path": `${GATEWAY}/Evaluate`,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${KEY}`,
    });
    req.on("error", () => {});
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("trailers", resolve));
    const closed = new Promise<void>((resolve) => req.once("close", resolve));
    req.resume();
    // About 4 GiB announced; the client goes on writing what fills the emulator's flow-control window and more,
    // and would wait for the window to open forever if the stream were left open.
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(0xffff_fff0, 1);
    req.write(prefix);
    const chunk = Buffer.alloc(64 * 1024);
    let writing = true;
    void (async () => {
      while (writing && !req.closed) {
        if (!req.write(chunk)) await new Promise((resolve) => req.once("drain", resolve).once("close", resolve));
      }
    })();
    expect((await trailers)["grpc-status"]).toBe(String(Code.InvalidArgument));
    await closed;
    writing = false;
    expect(req.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    session.close();
  });

  it("gets INVALID_ARGUMENT when a compressed message is over the ceiling once decompressed", async () => {
    await start();
    const t = transport(createGrpcTransport, { sendCompression: compressionGzip, compressMinBytes: 1 });
    const err = await failure(evaluateText(t, "x".repeat(CEILING * 2)));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(overCeiling);
    expect(err.rawMessage).toContain("the request message, once decompressed, is over");
  });

  it("gets INVALID_ARGUMENT (HTTP 400) as a Connect unary call, by its Content-Length or by its bytes", async () => {
    await start();
    const body = Buffer.from(
      toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobUuid: "x".repeat(CEILING) })),
    );
    const headers = {
      ":path": `${GATEWAY}/GetJob`,
      "content-type": "application/proto",
      "connect-protocol-version": "1",
    };
    for (const withLength of [true, false]) {
      const answer = await raw(withLength ? { ...headers, "content-length": String(body.length) } : headers, body);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({
        code: "invalid_argument",
        message: expect.stringMatching(overCeiling),
      });
    }
  });
});
