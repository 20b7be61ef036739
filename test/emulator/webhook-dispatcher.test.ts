import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { create, equals, fromJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type CreateJobRequest_Webhook,
  CreateJobRequest_WebhookSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { type Job, JobSchema, JobStatus, JobType, Outcome } from "../../gen/clavata/shared/v1/public_pb.js";
import { isLoopbackHost, WebhookDispatcher } from "../../src/emulator/webhook-dispatcher.js";

// A throwaway self-signed certificate for "localhost", made for this test only. The dispatcher does not verify
// loopback certificates, so its validity dates do not matter.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcyWvQruQA45iMM9B
5TuUVbjxJh+7ByH4U/BPmTERMdihRANCAARuviluv9GZEHC2Irhf4/rWgNglOWr9
l/JLh1oURfsVUpJy++3q9W9ssrZl/EpoLDuDPWbCzVGz/6csZ92hjJHw
-----END PRIVATE KEY-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUFTETw/aqu/i3ziDOCu2Q/MF3M3gwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjAxNTMxMloYDzIxMjYxMDI5
MDE1MzEyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARuviluv9GZEHC2Irhf4/rWgNglOWr9l/JLh1oURfsVUpJy++3q9W9s
srZl/EpoLDuDPWbCzVGz/6csZ92hjJHwo28wbTAdBgNVHQ4EFgQUkDR1S95bKC1J
x7UkKOib3SPAdZEwHwYDVR0jBBgwFoAUkDR1S95bKC1Jx7UkKOib3SPAdZEwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAOaG4hErHZPR2QIVQSDS8VyckLJepVCdzuXTY2cOBflDAiAB
a577Bfba3Q9THhAhm+n1Li9WCg8wEw33e5KXqmAdUw==
-----END CERTIFICATE-----
`;

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 that answers each request with the next of `statuses` (the last one repeats). */
interface Receiver {
  port: number;
  received: Received[];
  close(): Promise<void>;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startReceiver(statuses: number[], options: { tls?: boolean; hang?: boolean } = {}): Promise<Receiver> {
  const received: Received[] = [];
  const handler: http.RequestListener = (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      if (options.hang) return; // never answer
      response.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      response.end("ok");
    });
  };
  const server = options.tls
    ? https.createServer({ key: TEST_KEY, cert: TEST_CERT }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return { port: (server.address() as AddressInfo).port, received, close };
}

function makeDispatcher(options: ConstructorParameters<typeof WebhookDispatcher>[0] = {}) {
  const dispatcher = new WebhookDispatcher(options);
  cleanups.push(() => dispatcher.close());
  return dispatcher;
}

function completedJob(): Job {
  const now = timestampFromDate(new Date("2025-05-06T07:08:09.010Z"));
  return create(JobSchema, {
    jobUuid: "9b2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    customerId: "cust-a",
    status: JobStatus.COMPLETED,
    contentData: [{ content: { case: "text", value: "hello" }, metadata: { id: "1" } }],
    results: [
      {
        jobUuid: "9b2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        created: now,
        report: {
          policyId: "p1",
          reviewResult: { outcome: Outcome.TRUE, score: 0.9 },
          contentMetadata: { id: "1" },
          threshold: 0.5,
        },
      },
    ],
    created: now,
    updated: now,
    completed: now,
    policyId: "p1",
    policyVersionId: "v1",
    threshold: 0.5,
    jobType: JobType.STANDARD,
  });
}

function webhook(url: string, extraHeaders: Record<string, string> = {}): CreateJobRequest_Webhook {
  return create(CreateJobRequest_WebhookSchema, { url, extraHeaders });
}

function validationError(hook: CreateJobRequest_Webhook): ConnectError | undefined {
  try {
    WebhookDispatcher.validate(hook);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  }
}

describe("WebhookDispatcher.validate", () => {
  it("accepts https anywhere and http on loopback hosts", () => {
    for (const url of [
      "https://example.com/hook",
      "https://hooks.example.com:8443/a/b?token=x",
      "http://127.0.0.1:8080/hook",
      "http://127.45.6.7/hook",
      "http://localhost:3000/",
      "http://[::1]:9000/hook",
      "http://127.1/hook", // shorthand for 127.0.0.1
    ]) {
      expect(validationError(webhook(url, { Secret: "s3cr3t", "X-Trace_id.v2": "a b\tc" })), url).toBeUndefined();
    }
  });

  it("rejects plain http to a non-loopback host, other schemes and relative URLs, saying what to fix", () => {
    const cases: Array<[string, RegExp]> = [
      ["http://example.com/hook", /must use https; plain http is accepted only for loopback hosts.*not example\.com/],
      ["http://128.0.0.1/hook", /plain http is accepted only for loopback/],
      ["http://localhost.example.com/hook", /plain http is accepted only for loopback/],
      ["ftp://example.com/hook", /must use https \(or http on a loopback host\), not ftp/],
      ["file:///etc/passwd", /not file/],
      ["/relative/hook", /must be an absolute URL/],
      ["example.com/hook", /must be an absolute URL/],
      ["", /must be an absolute URL/],
      ["https://user:pass@example.com/hook", /must not contain a user name or password/],
    ];
    for (const [url, message] of cases) {
      const error = validationError(webhook(url));
      expect(error?.code, url).toBe(Code.InvalidArgument);
      expect(error?.rawMessage, url).toMatch(message);
    }
  });

  it("rejects header names that are not HTTP tokens and values with CR, LF or NUL, without quoting the value", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ "Bad Name": "value-xyz" }, /"Bad Name" is not a valid header name/],
      [{ "Bad:Name": "value-xyz" }, /is not a valid header name/],
      [{ "": "value-xyz" }, /is not a valid header name/],
      [{ Naïve: "value-xyz" }, /is not a valid header name/],
      [{ Secret: "line\r\nInjected: yes" }, /value of "Secret" contains CR, LF or NUL/],
      [{ Secret: "a\nb" }, /contains CR, LF or NUL/],
      [{ Secret: "a\0b" }, /contains CR, LF or NUL/],
      [{ Secret: "a\u0001b" }, /control character/],
      [{ Secret: "snow ☃" }, /non-ASCII/],
      [{ Secret: "café" }, /non-ASCII/],
    ];
    for (const [headers, message] of cases) {
      const error = validationError(webhook("https://example.com/hook", headers));
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toMatch(message);
      for (const value of Object.values(headers)) expect(error?.rawMessage).not.toContain(value);
    }
  });

  it("knows the loopback hosts: the client's one rule (src/loopback.ts)", () => {
    for (const host of [
      "127.0.0.1",
      "127.255.255.254",
      "localhost",
      "[::1]",
      "localhost.",
      "my.localhost",
      "[::ffff:7f00:1]",
    ])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["128.0.0.1", "10.0.0.1", "example.com", "localhost.example.com", "[::2]", "0.0.0.0"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe("WebhookDispatcher.deliver", () => {
  it("POSTs the job as proto3 JSON with the content type, user agent and X-Webhook- headers", async () => {
    const receiver = await startReceiver([204]);
    const lines: string[] = [];
    const dispatcher = makeDispatcher({ logger: (line) => lines.push(line) });
    const job = completedJob();
    const url = `http://127.0.0.1:${receiver.port}/hooks/clavata?source=emulator`;
    await dispatcher.deliver(job, webhook(url, { Secret: "top-secret-value", "Trace-Id": "abc" }));

    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("/hooks/clavata?source=emulator");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toBe("clavata-emulator");
    expect(request.headers["x-webhook-secret"]).toBe("top-secret-value");
    expect(request.headers["x-webhook-trace-id"]).toBe("abc");
    expect(request.headers.host).toBe(`127.0.0.1:${receiver.port}`);
    const sent = fromJsonString(JobSchema, request.body);
    expect(equals(JobSchema, sent, job)).toBe(true);
    expect(JSON.parse(request.body)).toMatchObject({ jobUuid: job.jobUuid, status: "JOB_STATUS_COMPLETED" });

    expect(dispatcher.deliveries).toHaveLength(1);
    const delivery = dispatcher.deliveries[0]!;
    expect(delivery).toMatchObject({
      jobUuid: job.jobUuid,
      url,
      attempt: 1,
      outcome: "delivered",
      final: true,
      status: 204,
    });
    expect(delivery.body).toBe(request.body);
    expect(delivery.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "clavata-emulator",
      "x-webhook-secret": "top-secret-value",
      "x-webhook-trace-id": "abc",
    });
    expect(delivery.at).toBeInstanceOf(Date);
    await expect(dispatcher.waitForDelivery(job.jobUuid)).resolves.toBe(delivery);

    // The log names the host and path but never a header value or the query string.
    expect(lines.join("\n")).toContain(`127.0.0.1:${receiver.port}/hooks/clavata`);
    expect(lines.join("\n")).not.toContain("top-secret-value");
    expect(lines.join("\n")).not.toContain("source=emulator");
  });

  it("retries a failed attempt with backoff: 500, 500, then 200 makes three attempts, delivered", async () => {
    const receiver = await startReceiver([500, 500, 200]);
    const dispatcher = makeDispatcher({ backoffMs: 10 });
    const job = completedJob();
    const waiting = dispatcher.waitForDelivery(job.jobUuid);
    await dispatcher.deliver(job, webhook(`http://localhost:${receiver.port}/hook`, { Secret: "s" }));

    expect(receiver.received).toHaveLength(3);
    expect(receiver.received.every((request) => request.headers["x-webhook-secret"] === "s")).toBe(true);
    // localhost is reached at 127.0.0.1 (the only address the receiver listens on) and keeps its Host header.
    expect(receiver.received[0]!.headers.host).toBe(`localhost:${receiver.port}`);
    expect(dispatcher.deliveries.map((d) => [d.attempt, d.outcome, d.status, d.final])).toEqual([
      [1, "failed", 500, false],
      [2, "failed", 500, false],
      [3, "delivered", 200, true],
    ]);
    const final = await waiting;
    expect(final.attempt).toBe(3);
    expect(final.outcome).toBe("delivered");
  });

  it("gives up after maxAttempts", async () => {
    const receiver = await startReceiver([503]);
    const lines: string[] = [];
    const dispatcher = makeDispatcher({ maxAttempts: 2, backoffMs: 5, logger: (line) => lines.push(line) });
    const job = completedJob();
    await dispatcher.deliver(job, webhook(`http://127.0.0.1:${receiver.port}/hook`));
    expect(receiver.received).toHaveLength(2);
    expect(dispatcher.deliveries.map((d) => [d.attempt, d.outcome, d.status, d.final])).toEqual([
      [1, "failed", 503, false],
      [2, "failed", 503, true],
    ]);
    const final = await dispatcher.waitForDelivery(job.jobUuid);
    expect(final.attempt).toBe(2);
    expect(lines.at(-1)).toMatch(/attempt 2\/2 failed \(HTTP 503\); giving up/);
  });

  it("records network errors and timeouts as failed attempts", async () => {
    const refused = await startReceiver([200]);
    const port = refused.port;
    await refused.close(); // nothing listens there now
    const dispatcher = makeDispatcher({ maxAttempts: 2, backoffMs: 1 });
    const job = completedJob();
    await dispatcher.deliver(job, webhook(`http://127.0.0.1:${port}/hook`));
    expect(dispatcher.deliveries.map((d) => d.outcome)).toEqual(["failed", "failed"]);
    expect(dispatcher.deliveries[1]!.error).toMatch(/ECONNREFUSED/);
    expect(dispatcher.deliveries[1]!.status).toBeUndefined();

    const silent = await startReceiver([200], { hang: true });
    const impatient = makeDispatcher({ maxAttempts: 1, timeoutMs: 100 });
    await impatient.deliver(job, webhook(`http://127.0.0.1:${silent.port}/hook`));
    expect(silent.received).toHaveLength(1);
    expect(impatient.deliveries).toHaveLength(1);
    expect(impatient.deliveries[0]).toMatchObject({ outcome: "failed", final: true, error: "no answer within 100 ms" });
  });

  it("delivers over https to a loopback receiver with a self-signed certificate", async () => {
    const receiver = await startReceiver([200], { tls: true });
    const dispatcher = makeDispatcher();
    const job = completedJob();
    await dispatcher.deliver(job, webhook(`https://localhost:${receiver.port}/secure`, { Secret: "s" }));
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.headers["x-webhook-secret"]).toBe("s");
    expect(equals(JobSchema, fromJsonString(JobSchema, receiver.received[0]!.body), job)).toBe(true);
    expect(dispatcher.deliveries[0]).toMatchObject({ outcome: "delivered", status: 200 });
  });

  it("does not contact a non-loopback host, and records what it would have sent", async () => {
    const lines: string[] = [];
    const dispatcher = makeDispatcher({ logger: (line) => lines.push(line) });
    const job = completedJob();
    // .invalid can never resolve, so an attempt to contact it could not succeed either way; the outcome shows none was made.
    await dispatcher.deliver(job, webhook("https://hooks.example.invalid/clavata", { Secret: "hidden" }));
    expect(dispatcher.deliveries).toHaveLength(1);
    const delivery = dispatcher.deliveries[0]!;
    expect(delivery).toMatchObject({ outcome: "not-contacted", attempt: 1, final: true });
    expect(delivery.status).toBeUndefined();
    expect(delivery.error).toBeUndefined();
    expect(delivery.headers["x-webhook-secret"]).toBe("hidden");
    expect(equals(JobSchema, fromJsonString(JobSchema, delivery.body), job)).toBe(true);
    await expect(dispatcher.waitForDelivery(job.jobUuid)).resolves.toBe(delivery);
    expect(lines.join("\n")).toMatch(/hooks\.example\.invalid\/clavata not contacted/);
    expect(lines.join("\n")).not.toContain("hidden");
  });

  it("records an invalid webhook as one final failed delivery instead of rejecting", async () => {
    const dispatcher = makeDispatcher();
    const job = completedJob();
    await expect(dispatcher.deliver(job, webhook("ftp://example.com/x"))).resolves.toBeUndefined();
    expect(dispatcher.deliveries).toHaveLength(1);
    expect(dispatcher.deliveries[0]).toMatchObject({ outcome: "failed", final: true });
    expect(dispatcher.deliveries[0]!.error).toMatch(/must use https/);
  });

  it("close() cancels a pending retry", async () => {
    const receiver = await startReceiver([500]);
    // A backoff far longer than the test timeout: the test only ends in time if close() cuts it short.
    const dispatcher = makeDispatcher({ backoffMs: 600_000 });
    const job = completedJob();
    const waiting = dispatcher.waitForDelivery(job.jobUuid, 600_000);
    const delivering = dispatcher.deliver(job, webhook(`http://127.0.0.1:${receiver.port}/hook`));
    await vi.waitFor(() => expect(dispatcher.deliveries).toHaveLength(1));
    dispatcher.close();
    dispatcher.close(); // idempotent
    await expect(delivering).resolves.toBeUndefined();
    await expect(waiting).rejects.toThrow(/dispatcher was closed/);
    expect(receiver.received).toHaveLength(1);
    expect(dispatcher.deliveries).toHaveLength(1);
    // Nothing more is sent once closed.
    await dispatcher.deliver(job, webhook(`http://127.0.0.1:${receiver.port}/hook`));
    expect(receiver.received).toHaveLength(1);
  });

  it("close() cancels an in-flight request", async () => {
    const receiver = await startReceiver([200], { hang: true });
    const dispatcher = makeDispatcher({ timeoutMs: 600_000 });
    const job = completedJob();
    const delivering = dispatcher.deliver(job, webhook(`http://127.0.0.1:${receiver.port}/hook`));
    await vi.waitFor(() => expect(receiver.received).toHaveLength(1));
    dispatcher.close();
    await delivering;
    expect(dispatcher.deliveries).toHaveLength(1);
    expect(dispatcher.deliveries[0]).toMatchObject({
      outcome: "failed",
      final: true,
      error: "canceled: the webhook dispatcher was closed",
    });
  });

  it("rejects waitForDelivery on timeout", async () => {
    const dispatcher = makeDispatcher();
    await expect(dispatcher.waitForDelivery("nobody", 20)).rejects.toThrow(/did not end within 20 ms/);
  });

  it("rejects bad options", () => {
    expect(() => new WebhookDispatcher({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => new WebhookDispatcher({ backoffMs: -1 })).toThrow(/backoffMs/);
    expect(() => new WebhookDispatcher({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
