// The client's own transport against a server that is not Connect-based: @grpc/grpc-js (what the official SDKs and
// many gateways use), in plaintext, over TLS with a test CA, and with a client certificate (mutual TLS). The
// certificates in test/fixtures were made with openssl, valid for 100 years: test-ca-cert.pem signs
// server-cert.pem (localhost, 127.0.0.1, gateway.test) and client-cert.pem. Also: Connect's createClient and
// ConnectError over the transport, and client-streaming methods refused with a clear error.
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import {
  ClavataClient,
  type ClavataClientOptions,
  ConnectionError,
  EvaluateRequestSchema,
  EvaluateResponseSchema,
  EvaluationRefusedError,
  GatewayService,
  GetJobRequestSchema,
  GetJobResponseSchema,
  InvalidRequestError,
  JobStatus,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RateLimitError,
  RetryInfoSchema,
  RpcStatusSchema,
  textContent,
  toClavataError,
} from "../../src/index.js";
import { createChannelTransport } from "../../src/transport/channel-transport.js";
import { GrpcChannel } from "../../src/transport/grpc-channel.js";
import { drain, thrown } from "../support/calls.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const ca = fixture("test-ca-cert.pem");
const serverCert = { private_key: fixture("server-key.pem"), cert_chain: fixture("server-cert.pem") };
const clientCert = { cert: fixture("client-cert.pem"), key: fixture("client-key.pem") };
const KEY = "sk-interop-0123456789";
const GIF = new Uint8Array([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0, 0x3b]);
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const codec = <T>(schema: Parameters<typeof toBinary>[0]) => ({
  serialize: (m: T) => Buffer.from(toBinary(schema, m as never)),
  deserialize: (b: Buffer) => fromBinary(schema, b) as T,
});

/** What the grpc-js server saw of each call. */
interface Seen {
  method: string;
  metadata: Record<string, string>;
  deadline: boolean;
}

/** A grpc-js server for GetJob, Evaluate (two results) and CreateJob (rate limited, then refused). */
async function grpcJsServer(credentials: grpc.ServerCredentials): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const record = (
    method: string,
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ) => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = String(v);
    seen.push({ method, metadata, deadline: Number.isFinite(Number(call.getDeadline())) });
  };
  const req = codec(GetJobRequestSchema);
  const server = new grpc.Server();
  let createJobs = 0;
  server.addService(
    {
      GetJob: {
        path: "/clavata.gateway.v1.GatewayService/GetJob",
        requestStream: false,
        responseStream: false,
        ...requests(req),
        ...responses(codec(GetJobResponseSchema)),
      },
      Evaluate: {
        path: "/clavata.gateway.v1.GatewayService/Evaluate",
        requestStream: false,
        responseStream: true,
        ...requests(codec(EvaluateRequestSchema)),
        ...responses(codec(EvaluateResponseSchema)),
      },
      CreateJob: {
        path: "/clavata.gateway.v1.GatewayService/CreateJob",
        requestStream: false,
        responseStream: false,
        ...requests(codec(EvaluateRequestSchema)),
        ...responses(codec(GetJobResponseSchema)),
      },
    },
    {
      GetJob: (call: grpc.ServerUnaryCall<{ jobUuid: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        record("GetJob", call);
        callback(
          null,
          create(GetJobResponseSchema, { job: { jobUuid: call.request.jobUuid, status: JobStatus.COMPLETED } }),
        );
      },
      Evaluate: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        record("Evaluate", call);
        call.write(create(EvaluateResponseSchema, { contentHash: "h::1" }));
        call.write(create(EvaluateResponseSchema, { contentHash: "h::2" }));
        call.end();
      },
      CreateJob: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        record("CreateJob", call);
        const metadata = new grpc.Metadata();
        const status =
          createJobs++ === 0
            ? create(RpcStatusSchema, {
                code: Code.ResourceExhausted,
                message: "slow down",
                details: [anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { nanos: 1_000_000 } }))],
              })
            : create(RpcStatusSchema, {
                code: Code.InvalidArgument,
                message: "refused",
                details: [
                  anyPack(
                    PrecheckFailureSchema,
                    create(PrecheckFailureSchema, {
                      type: PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
                      message: "gif",
                    }),
                  ),
                ],
              });
        metadata.set("grpc-status-details-bin", Buffer.from(toBinary(RpcStatusSchema, status)));
        callback({ code: status.code, details: status.message, metadata });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  // forceShutdown: a graceful shutdown would wait on the server side of sessions the client has already closed.
  cleanup.push(async () => server.forceShutdown());
  return { port, seen };
}

function requests(c: ReturnType<typeof codec>) {
  return { requestSerialize: c.serialize, requestDeserialize: c.deserialize };
}

function responses(c: ReturnType<typeof codec>) {
  return { responseSerialize: c.serialize, responseDeserialize: c.deserialize };
}

function clientFor(options: ClavataClientOptions): ClavataClient {
  const client = new ClavataClient({ apiKey: KEY, retryBackoff: { initialDelayMs: 1 }, ...options });
  cleanup.push(() => client.close());
  return client;
}

async function everyMethod(client: ClavataClient, seen: Seen[]): Promise<void> {
  expect((await client.getJob(JOB)).status).toBe(JobStatus.COMPLETED);
  const results = await drain(client.evaluate({ policyId: "p", contentData: [textContent("a"), textContent("b")] }));
  expect(results.map((r) => r.contentHash)).toEqual(["h::1", "h::2"]);
  // CreateJob is not retried on RESOURCE_EXHAUSTED (it may have been processed): its hint reaches the error.
  const limited = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
  expect(limited).toBeInstanceOf(RateLimitError);
  expect((limited as RateLimitError).retryDelayMs).toBe(1);
  const refused = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
  expect(refused).toBeInstanceOf(EvaluationRefusedError);
  expect((refused as EvaluationRefusedError).refusals[0]?.message).toBe("gif");
  expect(seen.map((s) => s.method)).toEqual(["GetJob", "Evaluate", "CreateJob", "CreateJob"]);
  for (const s of seen) {
    expect(s.metadata.authorization).toBe(`Bearer ${KEY}`);
    expect(s.metadata["x-clavata-client"]).toMatch(/^clavata-connect:/);
    expect(s.metadata["user-agent"]).toMatch(/clavata-connect\//);
    expect(s.deadline).toBe(true);
  }
}

describe("the client's gRPC transport against @grpc/grpc-js", () => {
  it("speaks plaintext HTTP/2 (h2c): every method, headers, deadlines, status details", async () => {
    const { port, seen } = await grpcJsServer(grpc.ServerCredentials.createInsecure());
    await everyMethod(clientFor({ baseUrl: `http://127.0.0.1:${String(port)}`, insecure: true }), seen);
  });

  it("speaks TLS with a private CA", async () => {
    const { port, seen } = await grpcJsServer(grpc.ServerCredentials.createSsl(null, [serverCert], false));
    await everyMethod(clientFor({ baseUrl: `https://127.0.0.1:${String(port)}`, tls: { ca } }), seen);
  });

  it("verifies the certificate against tls.servername when it is given", async () => {
    const { port, seen } = await grpcJsServer(grpc.ServerCredentials.createSsl(null, [serverCert], false));
    const client = clientFor({ baseUrl: `https://127.0.0.1:${String(port)}`, tls: { ca, servername: "gateway.test" } });
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    expect(seen).toHaveLength(1);
    const wrong = clientFor({
      baseUrl: `https://127.0.0.1:${String(port)}`,
      tls: { ca, servername: "elsewhere.test" },
    });
    const error = await thrown(wrong.getJob(JOB));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/TLS connection failed/);
  });

  it("speaks mutual TLS with a client certificate, and fails clearly without one", async () => {
    const { port, seen } = await grpcJsServer(grpc.ServerCredentials.createSsl(ca, [serverCert], true));
    await everyMethod(clientFor({ baseUrl: `https://127.0.0.1:${String(port)}`, tls: { ca, ...clientCert } }), seen);
    // Without a certificate, against a server of the test's own that closes what it accepted: grpc-js keeps the
    // server side of a refused handshake open, beyond the reach of its shutdown.
    const strict = http2.createSecureServer({
      ca,
      cert: serverCert.cert_chain,
      key: serverCert.private_key,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const sockets = new Set<import("node:net").Socket>();
    strict.on("connection", (socket: import("node:net").Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => strict.listen(0, "127.0.0.1", resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          strict.close(() => resolve());
        }),
    );
    const strictPort = (strict.address() as import("node:net").AddressInfo).port;
    const anonymous = clientFor({ baseUrl: `https://127.0.0.1:${String(strictPort)}`, tls: { ca }, maxRetries: 0 });
    const error = await thrown(anonymous.getJob(JOB));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/TLS connection failed .*pass tls\.cert and tls\.key/);
  });
});

describe("Connect over the client's gRPC transport", () => {
  it("createClient, ConnectError with details and interceptors work against the emulator", async () => {
    const emu = await startEmulator({ logger: false });
    cleanup.push(() => emu.close());
    const channel = new GrpcChannel({
      url: new URL(emu.url),
      tls: undefined,
      keepalive: {
        pingIntervalMs: Infinity,
        pingTimeoutMs: 1000,
        pingIdleConnection: false,
        idleConnectionTimeoutMs: 60_000,
      },
      proxy: undefined,
      maxReceiveMessageBytes: 4 << 20,
    });
    cleanup.push(async () => channel.close("test over"));
    const seen: string[] = [];
    const transport = createChannelTransport(
      channel,
      [
        (next) => (req) => {
          seen.push(req.method.name);
          req.header.set("authorization", "Bearer sk-connect-over-grpc");
          return next(req);
        },
      ],
      emu.url,
    );
    const gateway = createClient(GatewayService, transport);
    const stream = gateway.evaluate({
      policyId: "p-unknown",
      contentData: [{ content: { case: "text", value: "x" } }],
    });
    const error = await drain(stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    const refusal = await gateway
      .createJob({
        policyId: SAMPLE_POLICY_IDS.violence,
        contentData: [{ content: { case: "image", value: GIF } }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refusal, String(refusal)).toBeInstanceOf(ConnectError);
    expect(toClavataError(refusal), String(refusal)).toBeInstanceOf(EvaluationRefusedError);
    expect(seen).toEqual(["Evaluate", "CreateJob"]);
  });

  it("refuses client-streaming and bidi methods with a clear error", async () => {
    const channel = new GrpcChannel({
      url: new URL("http://127.0.0.1:9"),
      tls: undefined,
      keepalive: {
        pingIntervalMs: Infinity,
        pingTimeoutMs: 1000,
        pingIdleConnection: false,
        idleConnectionTimeoutMs: 60_000,
      },
      proxy: undefined,
      maxReceiveMessageBytes: 4 << 20,
    });
    cleanup.push(async () => channel.close("test over"));
    const transport = createChannelTransport(channel, [], "http://127.0.0.1:9");
    for (const kind of ["client_streaming", "bidi_streaming"] as const) {
      const method = {
        ...GatewayService.method.evaluate,
        methodKind: kind,
      } as unknown as typeof GatewayService.method.evaluate;
      const error = await transport.stream(method, undefined, undefined, undefined, (async function* () {})()).then(
        () => undefined,
        (e: unknown) => e,
      );
      const mapped = toClavataError(error);
      expect(mapped).toBeInstanceOf(InvalidRequestError);
      expect(mapped.message).toMatch(
        /is a (client|bidi) streaming method, which the client's gRPC transport does not support/,
      );
    }
  });

  it("a RateLimitError keeps its hint through the fast path", async () => {
    const { port } = await grpcJsServer(grpc.ServerCredentials.createInsecure());
    const client = clientFor({ baseUrl: `http://127.0.0.1:${String(port)}`, insecure: true, maxRetries: 0 });
    const error = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryDelayMs).toBe(1);
  });
});
