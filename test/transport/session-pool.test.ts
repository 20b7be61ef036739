// The connections of the client's own transport: another connection when the server limits streams per
// connection, keepalive PINGs that find a dead connection, a new connection after GOAWAY, and no ref held by an
// idle connection (a process exits by itself).
import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ClavataClient, type ClavataClientOptions, ConnectionError } from "../../src/index.js";
import { thrown } from "../support/calls.js";
import { answerCorrectly, JOB } from "./hostile.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** An h2c server; `onStream` answers (default: correctly). Counts sessions. */
async function server(
  settings: http2.Settings = {},
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void = answerCorrectly,
) {
  const h2 = http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  let sessionCount = 0;
  h2.on("session", (session) => {
    sessionCount++;
    sessions.add(session);
    session.on("error", () => {});
    session.on("close", () => sessions.delete(session));
  });
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const port = (h2.address() as net.AddressInfo).port;
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        h2.close(() => resolve());
      }),
  );
  return { port, url: `http://127.0.0.1:${String(port)}`, sessions, sessionCount: () => sessionCount };
}

function clientFor(url: string, options: ClavataClientOptions = {}): ClavataClient {
  const client = new ClavataClient({ apiKey: "sk-pool-0123456789", baseUrl: url, insecure: true, ...options });
  cleanup.push(() => client.close());
  return client;
}

describe("the session pool", () => {
  it("opens another connection when the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached", async () => {
    const held: [http2.ServerHttp2Stream, http2.IncomingHttpHeaders][] = [];
    const s = await server({ maxConcurrentStreams: 1 }, (stream, headers) => {
      // Answer only once all three calls are in: queued behind one stream, they never would be.
      held.push([stream, headers]);
      if (held.length === 3) for (const [st, h] of held) answerCorrectly(st, h);
    });
    const client = clientFor(s.url);
    // The first call lets the client learn the server's limit before the others start.
    const first = client.getJob(JOB);
    await expect.poll(() => held.length).toBe(1);
    const jobs = await Promise.all([first, client.getJob(JOB), client.getJob(JOB)]);
    expect(jobs.map((j) => j.jobUuid)).toEqual([JOB, JOB, JOB]);
    expect(s.sessionCount()).toBe(3);
  });

  it("a new connection takes no more calls than the server's last SETTINGS allowed, before its own arrive", async () => {
    let streams = 0;
    const s = await server({ maxConcurrentStreams: 1 }, (stream, headers) => {
      streams++;
      answerCorrectly(stream, headers);
    });
    // No retries: a call the server refused (it was over the limit) would fail.
    const client = clientFor(s.url, { maxRetries: 0 });
    await client.getJob(JOB);
    const jobs = await Promise.all(Array.from({ length: 20 }, () => client.getJob(JOB)));
    expect(jobs.every((j) => j.jobUuid === JOB)).toBe(true);
    expect(streams).toBe(21);
  });

  it("reconnects after a GOAWAY", async () => {
    const s = await server({}, (stream, headers) => {
      answerCorrectly(stream, headers);
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR);
    });
    const client = clientFor(s.url);
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    expect(s.sessionCount()).toBe(2);
  });

  it("a connection that stops answering PINGs fails the call in flight; the next call reconnects", async () => {
    const s = await server({}, (stream, headers) => {
      if (String(headers["x-hold"]) === "yes") return; // never answered
      answerCorrectly(stream, headers);
    });
    // A TCP relay that can stop passing bytes, like a network path that died without a reset.
    let blackhole = false;
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(s.port, "127.0.0.1");
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on("error", () => {});
      }
      inbound.on("data", (d) => void (blackhole || outbound.write(d)));
      outbound.on("data", (d) => void (blackhole || inbound.write(d)));
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          relay.close(() => resolve());
        }),
    );
    const port = (relay.address() as net.AddressInfo).port;
    const client = clientFor(`http://127.0.0.1:${String(port)}`, {
      keepalive: { pingIntervalMs: 50, pingTimeoutMs: 100 },
      maxRetries: 0,
    });
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    const held = client.getJob(JOB, { headers: { "x-hold": "yes" } });
    blackhole = true;
    const error = await thrown(held);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/did not answer a keepalive PING within 100 ms/);
    blackhole = false;
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
  });

  it("an idle connection holds no ref: a process that made a call exits by itself", async () => {
    const s = await server();
    const child = fileURLToPath(new URL("../fixtures/idle-exit-child.mjs", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [child, s.url, "grpc"], { timeout: 15_000 });
    expect(stdout).toContain(`got job ${JOB}`);
  });
});
