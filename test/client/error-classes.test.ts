// Errors classed by meaning: protocol failures the client detects itself are not "the gateway rejected the
// request", a peer that is not HTTP/2 is a ConnectionError, and TLS to a plaintext port points at `insecure`.

import net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { startEmulator } from "../../src/emulator/index.js";
import {
  ClavataClient,
  ConnectionError,
  InvalidRequestError,
  RateLimitError,
  ServerError,
  toClavataError,
} from "../../src/index.js";
import { thrown } from "../support/calls.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const KEY = "error-classes-test-key-0123456789";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A gRPC server that answers GetJob with `body` as the response data and an OK trailer. */
async function answering(body: Buffer, headers: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer({
    raw(req, res) {
      req.resume();
      res.writeHead(200, { "content-type": "application/grpc", ...headers });
      res.write(body);
      res.addTrailers({ "grpc-status": "0" });
      res.end();
      return true;
    },
  });
  cleanup.push(() => server.close());
  return server;
}

function clientOf(url: string): ClavataClient {
  const client = new ClavataClient({ apiKey: KEY, baseUrl: url, insecure: true, maxRetries: 0 });
  cleanup.push(() => client.close());
  return client;
}

function envelope(flags: number, length: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, payload]);
}

describe("protocol failures the client detects", () => {
  it("an answer cut off mid-message is a ServerError (a malformed answer), not an InvalidRequestError", async () => {
    const server = await answering(envelope(0, 100, Buffer.alloc(10)));
    const error = await thrown(clientOf(server.url).getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(error).not.toBeInstanceOf(InvalidRequestError);
    expect(error.message).toMatch(/cut off|truncated|ended in the middle|incomplete/);
  });

  it("a giant length prefix is not the gateway's verdict on the request, nor a rate limit", async () => {
    // Over the client's maxReceiveMessageBytes (4 MiB by default), it is refused before anything is buffered.
    const server = await answering(envelope(0, 0x7fffffff, Buffer.alloc(10)));
    const error = await thrown(clientOf(server.url).getJob(JOB));
    expect(error).not.toBeInstanceOf(InvalidRequestError);
    expect(error).not.toBeInstanceOf(RateLimitError);
    expect(error).toBeInstanceOf(ServerError);
  });

  it("a message over the read limit is a ServerError", async () => {
    const error = toClavataError(
      new ConnectError("message size 9999999 is larger than configured readMaxBytes 1000", Code.ResourceExhausted),
      { method: "GetJob" },
    );
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/larger than the client reads/);
    expect(error).not.toBeInstanceOf(RateLimitError);
  });

  it("undecodable compressed data is a ServerError", async () => {
    const server = await answering(envelope(1, 8, Buffer.from("notgzip!")), { "grpc-encoding": "gzip" });
    const error = await thrown(clientOf(server.url).getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(error).not.toBeInstanceOf(InvalidRequestError);
    expect(error.message).toMatch(/could not be decoded|compress/);
  });

  it("a status the gateway really sent keeps its meaning", async () => {
    const server = await startTestServer({
      raw(req, res) {
        req.resume();
        res.writeHead(200, { "content-type": "application/grpc" });
        res.addTrailers({ "grpc-status": "3", "grpc-message": "protocol error: incomplete envelope" });
        res.end();
        return true;
      },
    });
    cleanup.push(() => server.close());
    const error = await thrown(clientOf(server.url).getJob(JOB));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).field).toBeUndefined();
  });
});

describe("a peer that is not HTTP/2", () => {
  it.each([
    ["an HTTP/1.1 server", Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")],
    ["random bytes", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255))],
  ])("%s is a ConnectionError that says so", async (_name, answer) => {
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => socket.end(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as net.AddressInfo).port;
    const error = await thrown(clientOf(`http://127.0.0.1:${String(port)}`).getJob(JOB));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/does not speak HTTP\/2/);
  });
});

describe("TLS hints that point at the real cause", () => {
  it("TLS to a plaintext port suggests insecure, not a private CA", async () => {
    const emulator = await startEmulator({ logger: false });
    cleanup.push(() => emulator.close());
    const client = new ClavataClient({ apiKey: KEY, host: "127.0.0.1", port: emulator.port, maxRetries: 0 });
    cleanup.push(() => client.close());
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/does not speak TLS.*insecure: true/);
    expect(error.message).not.toMatch(/tls\.ca/);
  });
});
