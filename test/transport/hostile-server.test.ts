// The client's own transport against servers that misbehave: every case ends in a ClavataError subclass that names
// what happened, within the call's timeout, and the next call on the same client works. The cases that used to
// crash a host process also run in a child process with no 'uncaughtException' handler (hostile-peer-child.mjs).
import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ClavataClientOptions,
  type ClavataError,
  ConnectionError,
  GetJobResponseSchema,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  RetryInfoSchema,
  RpcStatusSchema,
  ServerError,
  TimeoutError,
  textContent,
} from "../../src/index.js";
import { drain, thrown } from "../support/calls.js";
import {
  evaluateFrame,
  frame,
  goawayAboveFirstStream,
  type HostileBehaviour,
  h2Frame,
  hostileClient,
  JOB,
  startHostile,
} from "./hostile.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(behaviour: HostileBehaviour, options: ClavataClientOptions = {}) {
  const server = await startHostile(behaviour);
  cleanup.push(() => server.close());
  const client = hostileClient(server, "sk-hostile-0123456789", options);
  cleanup.push(() => client.close());
  return { server, client };
}

/** The first call fails with `kind` and a message that matches `says`; the next call on the client works. */
async function expectFailureThenRecovery(
  behaviour: HostileBehaviour,
  kind: abstract new (...args: never[]) => ClavataError,
  says: RegExp,
  options: ClavataClientOptions = {},
): Promise<ClavataError> {
  const { client } = await setup(behaviour, options);
  const error = await thrown(client.getJob(JOB));
  expect(error).toBeInstanceOf(kind);
  expect(error.message).toMatch(says);
  expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
  return error;
}

const grpcHeaders = { ":status": 200, "content-type": "application/grpc+proto" };

/** A correct GetJob (and CreateJob) answer's message bytes. */
function jobBytes(): Uint8Array {
  return toBinary(GetJobResponseSchema, create(GetJobResponseSchema, { job: { jobUuid: JOB } }));
}

/** Answers with gRPC headers, `body`, then the trailers. */
function respond(body: Buffer, trailers: Record<string, string>) {
  return (stream: http2.ServerHttp2Stream) => {
    stream.respond(grpcHeaders, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    stream.end(body);
  };
}

describe("a peer that is not a gRPC server", () => {
  it("an HTTP/1.1 answer is a ConnectionError that says the peer does not speak HTTP/2", async () => {
    await expectFailureThenRecovery(
      { raw: (s) => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") },
      ConnectionError,
      /HTTP\/2/,
    );
  });

  it("random bytes are a ConnectionError that says the peer does not speak HTTP/2", async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255));
    await expectFailureThenRecovery({ raw: (s) => s.end(bytes) }, ConnectionError, /HTTP\/2/);
  });

  it("a CONTINUATION flood is a ConnectionError", async () => {
    const parts = [h2Frame(4, 0, 0), h2Frame(1, 0, 1, Buffer.from([0x88]))];
    for (let i = 0; i < 20_000; i++) parts.push(h2Frame(9, 0, 1, Buffer.from([0x40, 1, 0x78, 1, 0x79])));
    await expectFailureThenRecovery({ raw: (s) => s.end(Buffer.concat(parts)) }, ConnectionError, /HTTP\/2|connection/);
  });

  it("10 MB of response headers end the call with a ConnectionError", async () => {
    // SETTINGS, then a HEADERS frame for stream 1 and CONTINUATION frames of literal headers, 10 MB in all.
    const value = Buffer.alloc(16_000, "a");
    const field = Buffer.concat([
      Buffer.from([0x00, 0x05]),
      Buffer.from("x-big"),
      Buffer.from([0x7f]),
      hpackInt(value.length - 127),
      value,
    ]);
    const parts = [h2Frame(4, 0, 0), h2Frame(1, 0, 1, Buffer.from([0x88]))];
    for (let sent = 0; sent < 10_000_000; sent += field.length) parts.push(h2Frame(9, 0, 1, field));
    parts.push(h2Frame(9, 4, 1, field));
    await expectFailureThenRecovery(
      { raw: (s) => s.end(Buffer.concat(parts)) },
      ConnectionError,
      /HTTP\/2|connection|stream/,
    );
  });

  it("a wrong content-type is a ServerError that names it", async () => {
    await expectFailureThenRecovery(
      {
        stream: (stream) => {
          stream.respond({ ":status": 200, "content-type": "text/plain" });
          stream.end("hello");
        },
      },
      ServerError,
      /content-type "text\/plain" instead of application\/grpc/,
    );
  });

  it("HTTP 500 with an HTML body is a ServerError that names the status", async () => {
    await expectFailureThenRecovery(
      {
        stream: (stream) => {
          stream.respond({ ":status": 500, "content-type": "text/html" });
          stream.end("<html><body>Internal Server Error</body></html>");
        },
      },
      ServerError,
      /HTTP 500 \(text\/html\) instead of gRPC/,
    );
  });

  it("HTTP 503 with an HTML body is a ConnectionError (UNAVAILABLE, per gRPC's HTTP table)", async () => {
    const error = await expectFailureThenRecovery(
      {
        stream: (stream) => {
          stream.respond({ ":status": 503, "content-type": "text/html" });
          stream.end("<html><body>Service Unavailable</body></html>");
        },
      },
      ConnectionError,
      /HTTP 503 \(text\/html\) instead of gRPC/,
    );
    expect(error.codeName).toBe("UNAVAILABLE");
  });
});

describe("a broken gRPC response", () => {
  it("a truncated frame is a ServerError, not a rejected request", async () => {
    const cut = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]);
    await expectFailureThenRecovery({ stream: respond(cut, { "grpc-status": "0" }) }, ServerError, /truncated frame/);
  });

  it("a 4 GiB length prefix is refused before buffering, and never retried as a rate limit", async () => {
    const { client, server } = await setup(
      { stream: respond(Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]), { "grpc-status": "0" }) },
      { maxRetries: 3, retryBackoff: { initialDelayMs: 1 } },
    );
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(error).not.toBeInstanceOf(RateLimitError);
    expect(error.message).toMatch(/4294967295 bytes, more than maxReceiveMessageBytes \(4194304\)/);
    expect(server.paths).toHaveLength(1);
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
  });

  it("maxReceiveMessageBytes is configurable", async () => {
    const { client } = await setup({}, { maxReceiveMessageBytes: 10 });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/more than maxReceiveMessageBytes \(10\)/);
  });

  it("a compressed frame the client did not ask for is a ServerError that says so", async () => {
    await expectFailureThenRecovery(
      { stream: respond(frame(Buffer.from([1, 2, 3]), 1), { "grpc-status": "0" }) },
      ServerError,
      /compressed message, which the client did not ask for/,
    );
  });

  it("invalid protobuf is a ServerError that names the message type", async () => {
    await expectFailureThenRecovery(
      { stream: respond(frame(Buffer.from([0xff, 0xff, 0xff, 0xff])), { "grpc-status": "0" }) },
      ServerError,
      /not a valid clavata\.gateway\.v1\.GetJobResponse/,
    );
  });

  it("garbage status details do not hide the status and its message", async () => {
    const error = await expectFailureThenRecovery(
      {
        stream: respond(Buffer.alloc(0), {
          "grpc-status": "5",
          "grpc-message": "no such job",
          "grpc-status-details-bin": "!!!not base64, not a Status!!!",
        }),
      },
      NotFoundError,
      /no such job/,
    );
    expect(error.rawMessage).toBe("no such job");
  });

  it("reads status details in base64 with or without padding, and percent-decodes grpc-message", async () => {
    const status = create(RpcStatusSchema, {
      code: 8,
      message: "slow",
      details: [
        {
          typeUrl: "type.googleapis.com/google.rpc.RetryInfo",
          value: toBinary(
            RetryInfoSchema,
            create(RetryInfoSchema, { retryDelay: { seconds: 1n, nanos: 500_000_000 } }),
          ),
        },
      ],
    });
    const padded = Buffer.from(toBinary(RpcStatusSchema, status)).toString("base64");
    expect(padded.endsWith("=")).toBe(true);
    for (const bin of [padded, padded.replace(/=+$/, "")]) {
      const error = await expectFailureThenRecovery(
        {
          stream: respond(Buffer.alloc(0), {
            "grpc-status": "8",
            "grpc-message": "slow%20down%20%E2%9C%8B",
            "grpc-status-details-bin": bin,
          }),
        },
        RateLimitError,
        /slow down ✋/,
      );
      expect((error as RateLimitError).retryDelayMs).toBe(1500);
    }
  });

  it("grpc-status without a message is named by its code", async () => {
    const error = await expectFailureThenRecovery(
      { stream: respond(Buffer.alloc(0), { "grpc-status": "13" }) },
      ServerError,
      /\(INTERNAL\)/,
    );
    expect(error.rawMessage).toBe("");
  });

  it("a trailers-only response carries the status in its headers", async () => {
    await expectFailureThenRecovery(
      {
        stream: (stream) => {
          stream.respond({ ...grpcHeaders, "grpc-status": "7", "grpc-message": "not%20yours" }, { endStream: true });
        },
      },
      PermissionDeniedError,
      /not yours/,
    );
  });

  it("a grpc-status in headers that do not end the stream is not the call's status", async () => {
    // Headers with grpc-status 0 but without END_STREAM, one message, then a reset: the call was cut off.
    const cutOff: HostileBehaviour = {
      stream: (stream) => {
        stream.respond({ ...grpcHeaders, "grpc-status": "0" });
        stream.write(frame(jobBytes()), () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      },
    };
    const error = await expectFailureThenRecovery(
      cutOff,
      ServerError,
      /RST_STREAM INTERNAL_ERROR|without a grpc-status/,
    );
    expect(error.codeName).toBe("INTERNAL");
    const { client } = await setup({
      stream: (stream) => {
        stream.respond({ ...grpcHeaders, "grpc-status": "0" });
        stream.write(evaluateFrame("h::1"), () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      },
    });
    const seen: string[] = [];
    const streamError = await thrown(
      (async () => {
        for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a"), textContent("b")] }))
          seen.push(r.contentHash);
      })(),
    );
    expect(seen).toEqual(["h::1"]);
    expect(streamError).toBeInstanceOf(ServerError);
  });

  it("a response without grpc-status is a ServerError that says so", async () => {
    await expectFailureThenRecovery(
      {
        stream: (stream) => {
          stream.respond(grpcHeaders);
          stream.end(frame(Buffer.alloc(0)));
        },
      },
      ServerError,
      /without a grpc-status/,
    );
  });
});

describe("a server that stalls, resets or goes away", () => {
  it("a stream that stalls forever ends with TimeoutError at the call's timeout, and is reset on the wire", async () => {
    const { client, server } = await setup({ stream: (stream) => stream.respond(grpcHeaders) }, { timeoutMs: 300 });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(/timeoutMs \(300 ms\)/);
    await expect.poll(() => server.resets).toEqual([http2.constants.NGHTTP2_CANCEL]);
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
  });

  it("GOAWAY in the middle of a stream ends it with a ConnectionError after the messages that came first", async () => {
    const { client } = await setup({
      stream: (stream, _headers, session) => {
        stream.respond(grpcHeaders);
        stream.write(evaluateFrame("h::1"), () => {
          session.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, 0);
          session.destroy();
        });
      },
    });
    const seen: string[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a")] }))
          seen.push(r.contentHash);
      })(),
    );
    expect(seen).toEqual(["h::1"]);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/GOAWAY|connection/);
    expect(
      await drain(client.evaluate({ policyId: "p", contentData: [textContent("a"), textContent("b")] })),
    ).toHaveLength(2);
  });

  const resets: [string, number, abstract new (...args: never[]) => ClavataError][] = [
    ["PROTOCOL_ERROR", http2.constants.NGHTTP2_PROTOCOL_ERROR, ServerError],
    ["INTERNAL_ERROR", http2.constants.NGHTTP2_INTERNAL_ERROR, ServerError],
    ["FLOW_CONTROL_ERROR", http2.constants.NGHTTP2_FLOW_CONTROL_ERROR, ServerError],
    ["REFUSED_STREAM", http2.constants.NGHTTP2_REFUSED_STREAM, ConnectionError],
    ["CANCEL", http2.constants.NGHTTP2_CANCEL, ConnectionError],
    ["ENHANCE_YOUR_CALM", http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, RateLimitError],
    ["INADEQUATE_SECURITY", http2.constants.NGHTTP2_INADEQUATE_SECURITY, PermissionDeniedError],
    ["HTTP_1_1_REQUIRED", http2.constants.NGHTTP2_HTTP_1_1_REQUIRED, ServerError],
  ];
  for (const [name, code, kind] of resets) {
    it(`RST_STREAM ${name} is a ${kind.name} that names the reset`, async () => {
      await expectFailureThenRecovery(
        // Reset before any answer, as a proxy or an overloaded server does (after its headers, Node's server would
        // end the stream cleanly before it resets it). REFUSED_STREAM twice: the first is sent again at once.
        { stream: (stream) => stream.close(code), times: code === http2.constants.NGHTTP2_REFUSED_STREAM ? 2 : 1 },
        kind,
        new RegExp(name === "REFUSED_STREAM" ? "refused the stream" : `RST_STREAM ${name}`),
      );
    });
  }
});

describe("retries that are safe by construction", () => {
  it("a stream refused with REFUSED_STREAM is retried transparently, CreateJob included, even with maxRetries 0", async () => {
    const { client, server } = await setup(
      { stream: (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM) },
      { maxRetries: 0 },
    );
    const created = await client.createJob({ policyId: "p", contentData: [textContent("a")] });
    expect(created.jobUuid).toBe(JOB);
    expect(server.paths.filter((p) => p.endsWith("/CreateJob"))).toHaveLength(2);
  });

  it("a second refusal follows the ordinary retry rules", async () => {
    const refuse: HostileBehaviour = {
      times: 2,
      stream: (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM),
    };
    const none = await setup(refuse, { maxRetries: 0 });
    const error = await thrown(none.client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(none.server.paths).toHaveLength(2);
    const one = await setup(refuse, { maxRetries: 1, retryBackoff: { initialDelayMs: 1 } });
    expect((await one.client.createJob({ policyId: "p", contentData: [textContent("a")] })).jobUuid).toBe(JOB);
    expect(one.server.paths).toHaveLength(3);
  });

  it("REFUSED_STREAM after the server began to answer is not retried: CreateJob may have been processed", async () => {
    const { client, server } = await setup(
      {
        times: 3,
        stream: (stream) => {
          stream.respond(grpcHeaders);
          stream.write(frame(jobBytes()), () => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
        },
      },
      { maxRetries: 2, retryBackoff: { initialDelayMs: 1 } },
    );
    const error = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/REFUSED_STREAM\) after it had begun to answer; the call may have been processed/);
    expect(server.paths).toHaveLength(1);
  });

  it("a stream above a GOAWAY's last stream id is retried transparently, CreateJob included", async () => {
    // The GetJob on the first stream is processed; the CreateJob above it is not.
    const { client, server } = await setup(goawayAboveFirstStream(), {
      maxRetries: 2,
      retryBackoff: { initialDelayMs: 1 },
    });
    const job = client.getJob(JOB);
    await expect.poll(() => server.paths.length).toBe(1);
    const created = await client.createJob({ policyId: "p", contentData: [textContent("a")] });
    expect(created.jobUuid).toBe(JOB);
    expect((await job).jobUuid).toBe(JOB);
    expect(server.paths.filter((p) => p.endsWith("/CreateJob"))).toHaveLength(2);
  });

  it("a connection lost after the request went out is retried for GetJob, but not for CreateJob", async () => {
    const lose: HostileBehaviour = { times: 1, stream: (stream) => stream.session?.destroy() };
    const options = { maxRetries: 2, retryBackoff: { initialDelayMs: 1 } };
    const first = await setup(lose, options);
    const error = await thrown(first.client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.codeName).toBe("UNAVAILABLE");
    expect(first.server.paths).toHaveLength(1);
    const second = await setup(lose, options);
    expect((await second.client.getJob(JOB)).jobUuid).toBe(JOB);
    expect(second.server.paths).toHaveLength(2);
  });
});

describe("the host process survives", () => {
  const run = promisify(execFile);
  const child = fileURLToPath(new URL("../fixtures/hostile-peer-child.mjs", import.meta.url));
  for (const variant of [
    "http1",
    "random",
    "continuation-flood",
    "headers-10mb",
    "goaway-garbage",
    "push-promise",
    "push-promise-early",
  ]) {
    it(`four calls in a row against a ${variant} peer each fail, and the process exits 0`, async () => {
      const { stdout } = await run(process.execPath, [child, variant, "grpc"], { timeout: 20_000 });
      expect(stdout).toContain("4 of 4 calls failed with a ClavataError");
    });
  }
});

/** An HPACK integer continuation (after a 7-bit prefix of all ones). */
function hpackInt(rest: number): Buffer {
  const bytes: number[] = [];
  while (rest >= 128) {
    bytes.push((rest & 127) | 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
