// Every receiver adapter behind a real node:http server on loopback: what it answers for good and bad calls, that it
// answers 2xx only after the callback, 500 when the callback fails, and that it stops reading an oversized body.
import { connect } from "node:net";
import { equals } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type Job, JobSchema } from "../../src/index.js";
import {
  createFetchWebhookHandler,
  createTestWebhookRequest,
  createWebhookMiddleware,
  WebhookVerificationError,
} from "../../src/webhooks/index.js";
import {
  ADAPTERS,
  type AdapterName,
  type BodyMode,
  expressLike,
  fastifyLike,
  type Loopback,
  listen,
  sampleJob,
} from "../support/webhook-servers.js";

const SECRET = "whsec-current-0123456789abcdef";
const OLD_SECRET = "whsec-previous-0123456789abcde";
const LIMIT = 64 * 1024;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: { error?: string; message?: string; received?: boolean } | undefined;
}

async function call(url: string, init: ConstructorParameters<typeof Request>[1]): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: Answer["json"];
  try {
    json = JSON.parse(text) as Answer["json"];
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Sends headers and `bytes` of a chunked body over a raw socket, never the final chunk; resolves when the server closes. */
function sendUnfinishedBody(port: number, bytes: number): Promise<{ response: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let response = "";
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedByServer: false });
    }, 10_000);
    socket.setEncoding("latin1");
    socket.on("data", (data: string) => (response += data));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A reset after the answer also means the server closed the connection.
      if (error.code === "ECONNRESET" || error.code === "EPIPE") return;
      clearTimeout(giveUp);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ response, closedByServer: true });
    });
    socket.on("connect", () => {
      socket.write(
        "POST /hooks/clavata HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
          `X-Webhook-Secret: ${SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = "x".repeat(4096);
      for (let sent = 0; sent < bytes; sent += chunk.length)
        socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      // No "0\r\n\r\n": the body never ends, so only a server that stops reading can answer and close.
    });
  });
}

describe.each(Object.keys(ADAPTERS) as AdapterName[])("%s on a loopback server", (name) => {
  let server: Loopback;
  let received: Job[];
  let errors: [unknown, number][];
  let onJob: (job: Job) => Promise<void>;

  beforeAll(async () => {
    server = await listen(
      ADAPTERS[name]({
        secret: [OLD_SECRET, SECRET],
        maxBodyBytes: LIMIT,
        onJob: async (job) => {
          received.push(job);
          await onJob(job);
        },
        onError: (error, status) => errors.push([error, status]),
      }),
    );
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    received = [];
    errors = [];
    onJob = async () => {};
  });

  const job = sampleJob();
  const valid = () => createTestWebhookRequest(job, { secret: SECRET });
  const expectRejected = (answer: Answer, status: number, reason: string) => {
    expect(answer.status).toBe(status);
    expect(answer.json?.error).toBe(reason);
    expect(answer.text).not.toContain(SECRET);
    expect(answer.text).not.toContain(OLD_SECRET);
    expect(received).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBeInstanceOf(WebhookVerificationError);
    expect((errors[0]![0] as WebhookVerificationError).reason).toBe(reason);
    expect(errors[0]![1]).toBe(status);
  };

  it("accepts the test helper's request: 200 once onJob has the parsed job", async () => {
    const answer = await call(server.url, valid());
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ received: true });
    expect(received).toHaveLength(1);
    expect(equals(JobSchema, received[0]!, job)).toBe(true);
    expect(errors).toEqual([]);
  });

  it("accepts the previous secret while secrets are rotated, and the {job} envelope", async () => {
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: OLD_SECRET, envelope: "job" }));
    expect(answer.status).toBe(200);
    expect(equals(JobSchema, received[0]!, job)).toBe(true);
  });

  it("answers 401 missing_secret without the secret header", async () => {
    const request = valid();
    delete request.headers["X-Webhook-Secret"];
    expectRejected(await call(server.url, request), 401, "missing_secret");
  });

  it("answers 401 wrong_secret for a wrong secret", async () => {
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: "whsec-an-attacker-guess-000000" }));
    expectRejected(answer, 401, "wrong_secret");
  });

  it("answers 400 wrong_content_type for a body that is not application/json", async () => {
    const request = valid();
    request.headers["Content-Type"] = "text/plain";
    const answer = await call(server.url, request);
    expectRejected(answer, 400, "wrong_content_type");
    expect(answer.json?.message).toContain("not application/json");
  });

  it("answers 400 bad_json for a body that is not JSON", async () => {
    const answer = await call(server.url, { ...valid(), body: '{"jobUuid": "cut off' });
    expectRejected(answer, 400, "bad_json");
  });

  it("answers 400 not_a_job for JSON that is not a job", async () => {
    expectRejected(await call(server.url, { ...valid(), body: '{"event":"ping"}' }), 400, "not_a_job");
  });

  it("answers 405 with Allow: POST for a GET, without calling onJob", async () => {
    const answer = await call(server.url, { method: "GET", headers: valid().headers });
    expectRejected(answer, 405, "method_not_allowed");
    expect(answer.headers.get("allow")).toBe("POST");
  });

  it("answers 413 too_large for a declared length over the limit", async () => {
    const answer = await call(server.url, { ...valid(), body: `{"jobUuid":"${"x".repeat(LIMIT)}"}` });
    expectRejected(answer, 413, "too_large");
    expect(answer.json?.message).toContain(`${LIMIT} bytes`);
  });

  it("answers 413 too_large for a streamed body without a length that grows over the limit", async () => {
    const body = new TextEncoder().encode(`{"jobUuid":"${"x".repeat(2 * LIMIT)}"}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.length; at += 8192) controller.enqueue(body.subarray(at, at + 8192));
        controller.close();
      },
    });
    const answer = await call(server.url, { ...valid(), body: stream, duplex: "half" } as ConstructorParameters<
      typeof Request
    >[1]);
    expectRejected(answer, 413, "too_large");
  });

  it("answers 500 when onJob throws, passes the error to onError, and keeps its message from the sender", async () => {
    const failure = new Error("database down at db-internal-7:5432");
    onJob = async () => {
      throw failure;
    };
    const answer = await call(server.url, valid());
    expect(answer.status).toBe(500);
    expect(answer.json?.error).toBe("handler_failed");
    expect(answer.text).not.toContain("db-internal-7");
    expect(errors).toEqual([[failure, 500]]);
  });

  it("answers 2xx only after onJob has resolved", async () => {
    const order: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    onJob = async () => {
      order.push("onJob started");
      await released;
      order.push("onJob resolved");
    };
    const answered = call(server.url, valid()).then((answer) => {
      order.push(`answered ${answer.status}`);
    });
    await vi.waitFor(() => expect(order).toEqual(["onJob started"]));
    // Give a premature answer every chance to arrive before onJob resolves.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(order).toEqual(["onJob started"]);
    release();
    await answered;
    expect(order).toEqual(["onJob started", "onJob resolved", "answered 200"]);
  });
});

// The Fastify stand-in is left out: like Fastify, it reads the whole body (up to its bodyLimit) before the route runs.
describe.each(["node handler", "fetch handler", "Express middleware"] as const)(
  "%s reading an oversized body",
  (name) => {
    it("stops reading: answers 413 and closes the connection before the body ends", async () => {
      const received: Job[] = [];
      const server = await listen(
        ADAPTERS[name]({
          secret: SECRET,
          maxBodyBytes: LIMIT,
          onJob: (job) => void received.push(job),
          onError: () => {},
        }),
      );
      try {
        const { response, closedByServer } = await sendUnfinishedBody(server.port, 4 * LIMIT);
        expect(response).toMatch(/^HTTP\/1\.1 413 /);
        expect(response.toLowerCase()).toContain("connection: close");
        expect(response).toContain('"too_large"');
        expect(closedByServer).toBe(true);
        expect(received).toEqual([]);
      } finally {
        await server.close();
      }
    }, 20_000);
  },
);

describe("the middleware with the bodies Express and Fastify leave", () => {
  const servers: Loopback[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  async function serve(framework: "Express" | "Fastify", mode: BodyMode) {
    const received: Job[] = [];
    const errors: [unknown, number][] = [];
    const resolved: unknown[] = [];
    const middleware = createWebhookMiddleware({
      secret: SECRET,
      onJob: (job) => {
        received.push(job);
      },
      onError: (error, status) => errors.push([error, status]),
    });
    const server = await listen(
      framework === "Express" ? expressLike(middleware, mode) : fastifyLike(middleware, mode, resolved),
    );
    servers.push(server);
    return { server, received, errors, resolved };
  }

  const job = sampleJob();
  const modes: [string, "Express" | "Fastify", BodyMode][] = [
    ["Express with express.raw() (a Buffer body)", "Express", "raw"],
    ["Express with a verify hook that keeps req.rawBody", "Express", "rawBody"],
    ["Express 4 with a JSON parser that skipped the request (body {})", "Express", "express4-skipped"],
    ["Express with no body parser (the stream unread)", "Express", "unread"],
    ["Fastify with a buffer content type parser", "Fastify", "raw"],
    ["Fastify with fastify-raw-body (request.rawBody)", "Fastify", "rawBody"],
  ];
  it.each(modes)("accepts the raw body from %s", async (_, framework, mode) => {
    const { server, received, errors } = await serve(framework, mode);
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: SECRET }));
    expect(answer.status).toBe(200);
    expect(errors).toEqual([]);
    expect(equals(JobSchema, received[0]!, job)).toBe(true);
  });

  it("tells an Express app that express.json() parsed the body, and how to get the raw body (500 parsed_body)", async () => {
    const { server, received, errors } = await serve("Express", "json");
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: SECRET }));
    expect(answer.status).toBe(500);
    expect(answer.json?.error).toBe("parsed_body");
    expect(received).toEqual([]);
    const error = errors[0]![0] as WebhookVerificationError;
    expect(error.reason).toBe("parsed_body");
    expect(error.message).toContain("the request body is an object, not the raw bytes");
    expect(error.message).toContain("before app.use(express.json())");
    expect(error.message).toContain('express.raw({ type: "application/json" })');
    expect(error.message).not.toContain("addContentTypeParser");
  });

  it("tells a Fastify app that its JSON parser parsed the body, and how to get the raw body (500 parsed_body)", async () => {
    const { server, errors, resolved } = await serve("Fastify", "json");
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: SECRET }));
    expect(answer.status).toBe(500);
    expect(answer.json?.error).toBe("parsed_body");
    const error = errors[0]![0] as WebhookVerificationError;
    expect(error.message).toContain('addContentTypeParser("application/json", { parseAs: "buffer" }');
    expect(error.message).toContain("fastify-raw-body");
    expect(error.message).not.toContain("express");
    // As Fastify expects of an async handler that has sent the reply: it resolves to the reply.
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toHaveProperty("sent", true);
  });

  it("still checks the secret before anything else when the body was parsed", async () => {
    const { server } = await serve("Express", "json");
    const answer = await call(server.url, createTestWebhookRequest(job, { secret: "whsec-an-attacker-guess-000000" }));
    expect(answer.status).toBe(401);
  });
});

describe("default onError", () => {
  const servers: Loopback[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const s of servers.splice(0)) await s.close();
  });

  it("logs failures of onJob and parsed bodies (5xx), never the secret, and stays quiet for rejected calls (4xx)", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const failure = new Error("onJob failed");
    let fail = false;
    const middleware = createWebhookMiddleware({
      secret: SECRET,
      onJob: () => {
        if (fail) throw failure;
      },
    });
    const plain = await listen(expressLike(middleware, "unread"));
    const parsed = await listen(expressLike(middleware, "json"));
    servers.push(plain, parsed);
    const request = createTestWebhookRequest(sampleJob(), { secret: SECRET });

    expect(
      (
        await call(plain.url, {
          ...request,
          headers: { ...request.headers, "X-Webhook-Secret": "whsec-wrong-0000000000000000" },
        })
      ).status,
    ).toBe(401);
    expect((await call(plain.url, { ...request, body: "{" })).status).toBe(400);
    expect(log).not.toHaveBeenCalled();

    fail = true;
    expect((await call(plain.url, request)).status).toBe(500);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0]).toContain(failure);

    expect((await call(parsed.url, request)).status).toBe(500);
    expect(log).toHaveBeenCalledTimes(2);
    expect(String(log.mock.calls[1]![0])).toContain("express.raw");
    expect(JSON.stringify(log.mock.calls.map((c) => c.map(String)))).not.toContain(SECRET);
  });

  it("is replaced by onError, and an onError that throws does not change the answer", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const handler = createFetchWebhookHandler({
      secret: SECRET,
      onJob: () => {
        throw new Error("boom");
      },
      onError: () => {
        throw new Error("reporter down");
      },
    });
    const response = await handler(
      new Request("http://127.0.0.1/hooks", createTestWebhookRequest(sampleJob(), { secret: SECRET })),
    );
    expect(response.status).toBe(500);
    expect(log).not.toHaveBeenCalled();
  });
});

describe("adapter options", () => {
  it("refuse a missing onJob or secret when the adapter is made, saying what to pass", () => {
    const noOnJob = { secret: SECRET } as unknown as Parameters<typeof createWebhookMiddleware>[0];
    expect(() => createWebhookMiddleware(noOnJob)).toThrow(/onJob/);
    expect(() => createFetchWebhookHandler({ secret: [], onJob: () => {} })).toThrow(/pass `secret`/);
    expect(() => createFetchWebhookHandler({ secret: SECRET, onJob: () => {}, onError: "log" as never })).toThrow(
      /onError/,
    );
  });
});
