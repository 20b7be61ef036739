// The emulator against broken and ordinary clients: connections that break the HTTP/2 protocol are closed and
// leave no file descriptor behind, ordinary disconnects are not logged as errors, and @grpc/grpc-js clients read
// status messages as the emulator wrote them (not percent-encoded).

import { readdirSync } from "node:fs";
import * as http2 from "node:http2";
import net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { GetJobRequestSchema, GetJobResponseSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { encodeGrpcMessage, startEmulator } from "../../src/emulator/server.js";
import { ClavataClient, NotFoundError } from "../../src/index.js";

const KEY = "robustness-test-key-0123456789";
const UNKNOWN_JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/** Open file descriptors of this process: the emulator runs in it. */
function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** What broken clients send: each ends the connection in an HTTP/2 protocol error (or never speaks HTTP/2). */
const brokenOpenings: Buffer[] = [
  // SETTINGS on a stream, with a bad length, then junk: a connection error after which nghttp2 sends GOAWAY and
  // stops reading the socket, so not even the peer's hang-up is noticed.
  Buffer.concat([PREFACE, frame(4, 0, 1, Buffer.alloc(4)), Buffer.alloc(7, 0xff)]),
  // A SETTINGS frame whose length is not a multiple of 6.
  Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(5))]),
  // A DATA frame on stream 0.
  Buffer.concat([PREFACE, frame(4, 0, 0), frame(0, 0, 0, Buffer.from("x"))]),
  // Not HTTP/2 at all.
  Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
  // The preface, then silence.
  PREFACE,
];

/** Opens a connection, sends the bytes, and hangs up as a broken client would; resolves once the socket is closed. */
function brokenConnection(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    socket.on("close", () => resolve());
    socket.once("connect", () => {
      socket.write(bytes, () => socket.destroy());
    });
  });
}

describe("broken connections", () => {
  it("600 of them leave the emulator's file descriptor count where it started", async () => {
    const lines: string[] = [];
    const emulator = await startEmulator({ logger: (line) => lines.push(line), sessionTimeoutMs: 200 });
    try {
      const before = openFds();
      for (let batch = 0; batch < 12; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            brokenConnection(emulator.port, brokenOpenings[(batch * 50 + i) % brokenOpenings.length]!),
          ),
        );
      }
      await expect.poll(() => emulator.openSessions(), { timeout: 30_000, interval: 100 }).toBe(0);
      await expect.poll(openFds, { timeout: 30_000, interval: 100 }).toBeLessThanOrEqual(before);
      // And it still serves.
      const client = new ClavataClient({ apiKey: KEY, baseUrl: emulator.url, insecure: true, maxRetries: 0 });
      await expect(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6")).rejects.toBeInstanceOf(NotFoundError);
      await client.close();
    } finally {
      await emulator.close();
    }
  }, 120_000);

  it("a connection that broke the protocol is closed even while the peer keeps its socket open", async () => {
    const emulator = await startEmulator({ logger: false, sessionTimeoutMs: 200 });
    const socket = net.connect(emulator.port, "127.0.0.1");
    socket.on("error", () => {});
    try {
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(brokenOpenings[0]!);
      socket.resume();
      // The emulator ends it: the client never hangs up.
      await closed;
      await expect.poll(() => emulator.openSessions(), { timeout: 30_000 }).toBe(0);
    } finally {
      socket.destroy();
      await emulator.close();
    }
  }, 60_000);
});

describe("ordinary clients", () => {
  it("closing a client is not logged as a session error", async () => {
    const lines: string[] = [];
    const emulator = await startEmulator({ logger: (line) => lines.push(line) });
    try {
      for (let i = 0; i < 3; i++) {
        const client = new ClavataClient({ apiKey: KEY, baseUrl: emulator.url, insecure: true });
        await client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6").catch(() => undefined);
        await client.close();
        await expect.poll(() => emulator.openSessions(), { timeout: 10_000 }).toBe(0);
      }
      expect(lines.filter((line) => /session error|closed a connection|error code/i.test(line))).toEqual([]);
    } finally {
      await emulator.close();
    }
  });
});

describe("many cancelled calls", () => {
  it("a client that resets streams faster than nghttp2 allows is told apart from one that broke the protocol", async () => {
    const lines: string[] = [];
    const emulator = await startEmulator({ logger: (line) => lines.push(line) });
    emulator.faults.delay("GetJob", 600_000); // every call stays open until its client cancels it
    const session = http2.connect(emulator.url);
    session.on("error", () => {});
    let goaway: number | undefined;
    session.on("goaway", (code) => (goaway = code));
    const body = Buffer.from(toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobUuid: UNKNOWN_JOB })));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
    try {
      await new Promise((resolve) => session.once("remoteSettings", resolve));
      // Calls cancelled as soon as they are made, 100 at a time, until nghttp2's rapid-reset protection (1000 at
      // once, then 33 a second) ends the connection: its GOAWAY says so.
      for (let sent = 0; goaway === undefined && sent < 10_000; sent += 100) {
        await Promise.all(
          Array.from({ length: 100 }, () => {
            const req = session.request({
              ":method": "POST",
              ":path": "/clavata.gateway.v1.GatewayService/GetJob",
              "content-type": "application/grpc",
              te: "trailers",
              authorization: `Bearer ${KEY}`,
            });
            req.on("error", () => {});
            req.end(frame);
            req.close(http2.constants.NGHTTP2_CANCEL);
            return new Promise((resolve) => req.on("close", resolve));
          }),
        );
      }
      // The protection is still on...
      expect(goaway).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
      // ...and the log says what happened, once, and not that the client broke the protocol.
      await expect
        .poll(() => lines.filter((line) => line.includes("CVE-2023-44487")))
        .toEqual([
          expect.stringMatching(
            /client reset (\d{4,}) streams \(RST_STREAM.*faster than Node's HTTP\/2 server allows \(1000 at once, then 33 a second\).*rapid-reset attack.*GOAWAY INTERNAL_ERROR/,
          ),
        ]);
      expect(lines.filter((line) => line.includes("broke the HTTP/2 protocol"))).toEqual([]);
    } finally {
      session.destroy();
      await emulator.close();
    }
  }, 60_000);
});

describe("status messages for @grpc/grpc-js clients", () => {
  it("encodes only what the gRPC spec asks, so decodeURI gives the message back", () => {
    const message = 'policy "x" not found; this emulator has: a, b — 100% sure';
    const encoded = encodeGrpcMessage(message);
    expect(encoded).toContain("not found; this emulator has: a, b");
    expect(encoded).toContain("100%25 sure");
    expect(decodeURI(encoded)).toBe(message);
    expect(decodeURIComponent(encoded)).toBe(message);
  });

  it("grpc-js shows the emulator's message as written, with ; : and , intact", async () => {
    const emulator = await startEmulator({ logger: false });
    const Client = grpc.makeGenericClientConstructor(
      {
        GetJob: {
          path: "/clavata.gateway.v1.GatewayService/GetJob",
          requestStream: false,
          responseStream: false,
          requestSerialize: (m: ReturnType<typeof create<typeof GetJobRequestSchema>>) =>
            Buffer.from(toBinary(GetJobRequestSchema, m)),
          requestDeserialize: (b: Buffer) => fromBinary(GetJobRequestSchema, b),
          responseSerialize: () => Buffer.alloc(0),
          responseDeserialize: (b: Buffer) => fromBinary(GetJobResponseSchema, b),
        },
      },
      "GatewayService",
    );
    const client = new Client(`127.0.0.1:${String(emulator.port)}`, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, (...args: unknown[]) => unknown>;
    try {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${KEY}`);
      const error = await new Promise<grpc.ServiceError>((resolve) => {
        client.GetJob!(create(GetJobRequestSchema, { jobUuid: "" }), metadata, (e: grpc.ServiceError) => resolve(e));
      });
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toBe("job_uuid is empty: send the id of the job");
      const unknown = await new Promise<grpc.ServiceError>((resolve) => {
        client.GetJob!(
          create(GetJobRequestSchema, { jobUuid: "3fa85f64-5717-4562-b3fc-2c963f66afa6" }),
          metadata,
          (e: grpc.ServiceError) => resolve(e),
        );
      });
      expect(unknown.code).toBe(grpc.status.NOT_FOUND);
      expect(unknown.details).not.toMatch(/%[0-9A-F]{2}/);
    } finally {
      client.close();
      await emulator.close();
    }
  });
});
