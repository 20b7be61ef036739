// How an Evaluate stream lets go of what it holds, the same on both transports: a stream the client paused for a
// slow reader (its answers buffered) is released when the reader leaves the loop or the deadline passes, so that
// its connection idles; return() before the first result cancels the call on the wire; readers sharing one stream
// split its results; and an already aborted signal sends nothing. A small HTTP/2 server of the test's own answers,
// so each test decides when the server's answer is complete, and knows that the client has it (a PING round trip
// after the answer left).
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AbortedError, ClavataClient, textContent } from "../../src/index.js";
import { drain, thrown } from "../support/calls.js";
import { TRANSPORT } from "../support/transports.js";
import { answerCorrectly, evaluateFrame, JOB } from "../transport/hostile.js";

const KEY = "sk-lifecycle-0123456789abcdef";
const EVALUATE = "/clavata.gateway.v1.GatewayService/Evaluate";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** How the server answers one stream. */
type Answer = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

interface Server {
  readonly url: string;
  /** The :path of every stream received. */
  readonly paths: string[];
  /** The RST_STREAM codes of the streams the client reset. */
  readonly resets: number[];
  /** How many client connections are open. */
  openSessions(): number;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 that answers Evaluate with `evaluate`, and anything else correctly. */
async function startServer(evaluate: Answer): Promise<Server> {
  const h2 = http2.createServer();
  const paths: string[] = [];
  const resets: number[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => {});
    session.on("close", () => sessions.delete(session));
  });
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    paths.push(String(headers[":path"]));
    stream.on("close", () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) resets.push(stream.rstCode);
    });
    if (headers[":path"] === EVALUATE) evaluate(stream, headers);
    else answerCorrectly(stream, headers);
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const server: Server = {
    url: `http://127.0.0.1:${String((h2.address() as AddressInfo).port)}`,
    paths,
    resets,
    openSessions: () => sessions.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        h2.close(() => resolve());
      }),
  };
  cleanup.push(() => server.close());
  return server;
}

/** A client of `server` on the transport under test, that closes a connection 50 ms after its last call ended. */
function clientOf(server: Server, timeoutMs?: number): ClavataClient {
  const client = new ClavataClient({
    apiKey: KEY,
    baseUrl: server.url,
    insecure: true,
    transport: TRANSPORT,
    maxRetries: 0,
    keepalive: { idleConnectionTimeoutMs: 50 },
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  cleanup.push(() => client.close());
  return client;
}

function items(count: number) {
  return Array.from({ length: count }, (_, i) => textContent(`item ${String(i)}`));
}

/**
 * `count` results of about 1 KB each. 60 of them are enough for the client to pause the stream (32 unread on its own
 * transport), and fit in an HTTP/2 stream's default flow-control window (64 KiB), so the server can send them all.
 */
function results(count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => evaluateFrame(`h::${String(i)}::${"x".repeat(1000)}`)));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once the client has read everything `session` sent so far: the answer to a PING sent after it. */
function roundTrip(session: http2.ServerHttp2Session): Promise<void> {
  return new Promise((resolve) => session.ping(() => resolve()));
}

/**
 * A complete answer of `count` results, that the client has whole (and, unread, buffered) when `delivered` resolves:
 * the stream is then over on the wire, and only the client's reader can end it.
 */
function answerOf(count: number) {
  const delivered = deferred();
  const answer: Answer = (stream) => {
    const session = stream.session as http2.ServerHttp2Session;
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    // 'close' on the server: the trailers went out and the client's request had ended.
    stream.on("close", () => void roundTrip(session).then(delivered.resolve));
    stream.end(results(count));
  };
  return { answer, delivered: delivered.promise };
}

describe(`a paused stream is released on the ${TRANSPORT} transport`, () => {
  it("when the reader leaves the loop after the server ended the stream: the connection then idles", async () => {
    const { answer, delivered } = answerOf(60);
    const server = await startServer(answer);
    const client = clientOf(server);
    let read = 0;
    for await (const _ of client.evaluate({ policyId: "p", contentData: items(60) })) {
      read++;
      // The rest of the answer is in the client, unread, and the stream is over on the wire.
      await delivered;
      break;
    }
    expect(read).toBe(1);
    // The stream no longer holds the connection, which the client closes once idle.
    await expect.poll(() => server.openSessions()).toBe(0);
    expect(server.resets).toEqual([]);
  });

  it("when the deadline of a stream its reader abandoned passes: the connection then idles", async () => {
    const { answer, delivered } = answerOf(60);
    const server = await startServer(answer);
    const client = clientOf(server, 500);
    // Read once, then dropped: no return(), no close().
    const stream = client.evaluate({ policyId: "p", contentData: items(60) });
    expect((await stream.next()).done).toBe(false);
    await delivered;
    await expect.poll(() => server.openSessions()).toBe(0);
  });
});

describe(`return() before the first result on the ${TRANSPORT} transport`, () => {
  it("cancels the call on the wire, and the pending next() ends the stream", async () => {
    const received = deferred();
    let held: http2.ServerHttp2Stream | undefined;
    const server = await startServer((stream) => {
      held = stream;
      received.resolve();
    });
    const client = clientOf(server);
    const stream = client.evaluate({ policyId: "p", contentData: items(2) });
    const first = stream.next();
    await received.promise;
    await stream.return();
    // The server answers now (if the reset has not reached it yet): the reader left, so none of it is read.
    if (!held!.closed) answerCorrectly(held!, { ":path": EVALUATE });
    expect(await first).toEqual({ done: true, value: undefined });
    await expect.poll(() => server.resets).toEqual([http2.constants.NGHTTP2_CANCEL]);
    await expect.poll(() => server.openSessions()).toBe(0);
  });
});

describe(`two readers of one stream on the ${TRANSPORT} transport`, () => {
  it("split its results between them, and both loops end with the stream", async () => {
    const count = 20;
    // One result at a time, each after the last one left: each finds the readers waiting.
    const server = await startServer((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      let sent = 0;
      const send = () => {
        if (stream.destroyed) return;
        if (sent === count) stream.end();
        else stream.write(evaluateFrame(`h::${String(sent++)}`), () => setImmediate(send));
      };
      send();
    });
    const client = clientOf(server);
    const stream = client.evaluate({ policyId: "p", contentData: items(count) });
    const reader = async () => (await drain(stream)).length;
    const [a, b] = await Promise.all([reader(), reader()]);
    expect(a + b).toBe(count);
    // Their reads take turns.
    expect(Math.min(a, b)).toBeGreaterThan(0);
  });
});

describe(`an already aborted signal on the ${TRANSPORT} transport`, () => {
  it("sends no Evaluate, from evaluateOne or evaluate", async () => {
    const server = await startServer(answerCorrectly);
    const client = clientOf(server);
    const signal = AbortSignal.abort();
    const one = await thrown(client.evaluateOne({ policyId: "p", contentData: textContent("a") }, { signal }));
    expect(one).toBeInstanceOf(AbortedError);
    const many = await thrown(drain(client.evaluate({ policyId: "p", contentData: items(2) }, { signal })));
    expect(many).toBeInstanceOf(AbortedError);
    // A call after them on the same connection arrives after anything they sent.
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    expect(server.paths).toEqual(["/clavata.gateway.v1.GatewayService/GetJob"]);
  });
});
