// What only the REST protocol has: NDJSON framing read incrementally (chunk boundaries anywhere, even inside a
// character), results yielded as they arrive, cancellation of the response, the transcoding of query parameters,
// and HTTP-level errors (Retry-After, bodies that are not JSON).
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  EvaluateResponseSchema,
  GatewayService,
  ListJobsRequestSchema,
} from "../../../gen/clavata/gateway/v1/gateway_pb.js";
import { JobStatus } from "../../../gen/clavata/shared/v1/public_pb.js";
import {
  AbortedError,
  ClavataClient,
  ConnectionError,
  type EvaluateResponse,
  InvalidRequestError,
  jobQuery,
  RateLimitError,
  ServerError,
  TimeoutError,
  textContent,
  transportFailureOf,
} from "../../../src/index.js";
import {
  createRouteTable,
  httpBindingOf,
  requestFromHttp,
  transcodeRequest,
} from "../../../src/transport/rest/http-rule.js";
import { ndjsonLines } from "../../../src/transport/rest/ndjson.js";
import { createRestTransport } from "../../../src/transport/rest/rest-transport.js";
import { retryAfterMs } from "../../../src/transport/rest/status-body.js";
import { drain, thrown } from "../../support/calls.js";
import { json, type ScriptedServer, startScriptedServer } from "./http-server.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function serve(
  answer: Parameters<typeof startScriptedServer>[0],
  options: { timeoutMs?: number; maxRetries?: number; attemptTimeoutMs?: number; apiKey?: string } = {},
): Promise<{ server: ScriptedServer; client: ClavataClient }> {
  const server = await startScriptedServer(answer);
  cleanup.push(() => server.close());
  const client = new ClavataClient({
    apiKey: "sk-test",
    baseUrl: server.url,
    insecure: true,
    protocol: "rest",
    retryBackoff: { initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  cleanup.push(() => client.close());
  return { server, client };
}

const line = (jobUuid: string, id: string) =>
  `${JSON.stringify({ result: { jobUuid, contentHash: "fnv1a128::00", policyEvaluationReport: { contentMetadata: { id } }, someFutureField: 1 } })}\n`;

function writeAndFlush(res: import("node:http").ServerResponse, chunk: string | Buffer): Promise<void> {
  return new Promise((resolve) => res.write(chunk, () => resolve()));
}

describe("NDJSON framing", () => {
  it("reads lines split anywhere, even inside a UTF-8 character, with blank lines and no final newline", async () => {
    const text = `${line("j", "ünïcödé ✓")}\n\n${line("j", "second")}${line("j", "third").trimEnd()}`;
    const bytes = Buffer.from(text, "utf8");
    const { client } = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      // Three bytes at a time: every line and the multibyte characters straddle chunks.
      for (let i = 0; i < bytes.length; i += 3) await writeAndFlush(res, bytes.subarray(i, i + 3));
      res.end();
    });
    const contentData = [textContent("a"), textContent("b"), textContent("c")];
    const results = await drain(client.evaluate({ policyId: "p", contentData }));
    expect(results.map((r) => r.policyEvaluationReport?.contentMetadata.id)).toEqual(["ünïcödé ✓", "second", "third"]);
  });

  it("yields each result as it arrives: the server sends the next line only after the client has the first", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { client } = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      await writeAndFlush(res, line("j", "first"));
      await released;
      res.end(line("j", "second"));
    });
    const seen: string[] = [];
    for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a"), textContent("b")] })) {
      seen.push(r.policyEvaluationReport!.contentMetadata.id!);
      if (seen.length === 1) release();
    }
    expect(seen).toEqual(["first", "second"]);
  });

  it("reads the body only as results are asked for (backpressure reaches the network)", async () => {
    // A body that produces a chunk (one line) only when the reader pulls, as a socket under backpressure does.
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          controller.enqueue(new TextEncoder().encode(line("j", String(pulls))));
        },
      },
      { highWaterMark: 0 },
    );
    const lines = ndjsonLines(body);
    expect(JSON.parse((await lines.next()).value!).result.policyEvaluationReport.contentMetadata.id).toBe("1");
    // Event-loop turns pass; a reader that read ahead would pull again meanwhile.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(pulls).toBe(1);
    await lines.next();
    expect(pulls).toBe(2);
    // Ending early cancels the body.
    await lines.return(undefined);
    await expect(body.getReader().read()).resolves.toEqual({ done: true, value: undefined });
  });

  it("leaving the loop early cancels the response on the wire", async () => {
    let closed!: Promise<unknown>;
    const { client } = await serve(async (_req, res) => {
      closed = once(res, "close");
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      await writeAndFlush(res, line("j", "first"));
      // Never ends by itself: only the client's cancel closes it.
    });
    for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a")] })) {
      expect(r.jobUuid).toBe("j");
      break;
    }
    await closed;
  });

  it("a line that is not JSON ends the stream with a ServerError", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200);
      res.end(`${line("j", "ok")}<html>oops</html>\n`);
    });
    const seen: EvaluateResponse[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a")] })) seen.push(r);
      })(),
    );
    expect(seen).toHaveLength(1);
    expect(error).toBeInstanceOf(ServerError);
  });
});

describe("answers the client cannot use", () => {
  const MiB4 = 4 * 1024 * 1024;

  /** A stream line of exactly `bytes` bytes (its newline not counted) that decodes to a result. */
  const lineOfSize = (bytes: number) => {
    const shell = JSON.stringify({ result: { jobUuid: "" } });
    return `${JSON.stringify({ result: { jobUuid: "a".repeat(bytes - shell.length) } })}\n`;
  };

  /** Answers with a body that never ends: chunks of `chunk` for as long as the client reads. */
  function endless(res: import("node:http").ServerResponse, status: number, first: string, chunk: string) {
    res.writeHead(status, { "content-type": status === 200 ? "application/x-ndjson" : "application/json" });
    res.write(first);
    const more = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once("drain", more);
    };
    more();
    return once(res, "close");
  }

  it.each([
    ["null", '{"result":null}'],
    ["a field of the wrong type", '{"result":{"jobUuid":5}}'],
  ])(
    "a stream result that is not the method's message (%s) is a malformed answer: a ServerError, never sent again",
    async (_name, text) => {
      const { server, client } = await serve(
        (_req, res) => {
          res.writeHead(200, { "content-type": "application/x-ndjson" });
          res.end(`${text}\n`);
        },
        { maxRetries: 2 },
      );
      const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
      expect(error).toBeInstanceOf(ServerError);
      expect(transportFailureOf(error)?.kind).toBe("malformed-response");
      expect(error.message).toMatch(/cannot be decoded/);
      // Each attempt is evaluated (and billed) again by the gateway: a malformed answer is never retried.
      expect(server.requests).toHaveLength(1);
    },
  );

  it("a unary answer that is not the method's message is the same malformed answer, and CreateJob is sent once", async () => {
    const { server, client } = await serve(
      (_req, res) =>
        json(res, 200, { job: { jobUuid: "3f1c0c6e-0000-4000-8000-000000000001", created: "not a time" } }),
      { maxRetries: 2 },
    );
    const error = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(ServerError);
    expect(transportFailureOf(error)?.kind).toBe("malformed-response");
    expect(server.requests).toHaveLength(1);
  });

  it("a unary body cut off by the network is a ConnectionError, not a malformed answer", async () => {
    const { client } = await serve(
      async (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
        await writeAndFlush(res, '{"jobs":[');
        res.socket?.destroy();
      },
      { maxRetries: 0 },
    );
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe(Code.Unavailable);
  });

  it("a stream line is read up to maxReceiveMessageBytes (4 MiB by default); one byte more fails, never retried", async () => {
    let size = MiB4;
    const { server, client } = await serve(
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.end(lineOfSize(size));
      },
      { maxRetries: 2 },
    );
    const [result] = await drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] }));
    expect(result!.jobUuid).toHaveLength(MiB4 - JSON.stringify({ result: { jobUuid: "" } }).length);
    size = MiB4 + 1;
    const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
    expect(error).toBeInstanceOf(ServerError);
    expect(transportFailureOf(error)?.kind).toBe("message-too-large");
    expect(error.message).toMatch(/maxReceiveMessageBytes \(4194304 bytes\)/);
    expect(server.requests).toHaveLength(2);
  });

  it("a stream line that never ends fails once it passes the limit, and the response is cancelled", async () => {
    let closed!: Promise<unknown>;
    const { client } = await serve(
      (_req, res) => {
        closed = endless(res, 200, '{"result":{"jobUuid":"', "a".repeat(64 * 1024));
      },
      { maxRetries: 0, timeoutMs: 10_000 },
    );
    const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
    expect(error).toBeInstanceOf(ServerError);
    expect(transportFailureOf(error)?.kind).toBe("message-too-large");
    await closed;
  });

  it("ndjsonLines buffers no more than the limit of a line: it fails at the chunk that passes it", async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          // 5000 bytes at most, so that a reader without a limit ends (with one long line) instead of reading forever.
          if (pulls > 50) controller.close();
          else controller.enqueue(new Uint8Array(100).fill(0x61));
        },
      },
      { highWaterMark: 0 },
    );
    const lines = ndjsonLines(body, 1000);
    const error = await lines.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(transportFailureOf(error)?.kind).toBe("message-too-large");
    // 1000 bytes are ten chunks; the eleventh passes the limit and is not kept.
    expect(pulls).toBe(11);
    // The body was cancelled.
    await expect(body.getReader().read()).resolves.toEqual({ done: true, value: undefined });
    // Lines of exactly the limit, split anywhere, pass.
    const fits = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`${"b".repeat(600)}`));
        controller.enqueue(new TextEncoder().encode(`${"b".repeat(400)}\n${"c".repeat(1000)}`));
        controller.close();
      },
    });
    expect((await drain(ndjsonLines(fits, 1000))).map((l) => l.length)).toEqual([1000, 1000]);
  });

  it("a unary body over the limit fails as message-too-large, and ListJobs is not retried", async () => {
    const { server, client } = await serve(
      (_req, res) => json(res, 200, { jobs: [], nextPageToken: "t".repeat(MiB4) }),
      { maxRetries: 2 },
    );
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(ServerError);
    expect(transportFailureOf(error)?.kind).toBe("message-too-large");
    expect(server.requests).toHaveLength(1);
  });

  it("an error body that never ends is read only up to the limit, and classified by its HTTP status", async () => {
    let closed!: Promise<unknown>;
    const { client } = await serve(
      (_req, res) => {
        closed = endless(res, 503, '{"code":14,"message":"', "x".repeat(64 * 1024));
      },
      { maxRetries: 0, timeoutMs: 10_000 },
    );
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe(Code.Unavailable);
    await closed;
  });

  it("createRestTransport takes maxReceiveMessageBytes", async () => {
    const server = await startScriptedServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.end(lineOfSize(100));
    });
    cleanup.push(() => server.close());
    const call = (maxReceiveMessageBytes: number) =>
      drain(
        createClient(GatewayService, createRestTransport({ baseUrl: server.url, maxReceiveMessageBytes })).evaluate({
          policyId: "p",
        }),
      );
    expect(await call(100)).toHaveLength(1);
    const error = await call(99).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(transportFailureOf(error)?.kind).toBe("message-too-large");
  });
});

describe("HTTP errors and retries", () => {
  it("retries 503 and 429 as over gRPC, then succeeds", async () => {
    let n = 0;
    const { server, client } = await serve((_req, res) => {
      n++;
      if (n === 1) json(res, 503, { code: 14, message: "unavailable" });
      else if (n === 2) json(res, 429, { code: 8, message: "slow down" });
      else json(res, 200, { jobs: [], nextPageToken: "" });
    });
    expect((await client.listJobs()).jobs).toEqual([]);
    expect(server.requests).toHaveLength(3);
  });

  it("honours Retry-After: it becomes the RateLimitError's delay, and a wait past the deadline is not attempted", async () => {
    const { client, server } = await serve(
      (_req, res) => json(res, 429, { code: 8, message: "rate limit exceeded" }, { "retry-after": "7" }),
      { maxRetries: 3, timeoutMs: 2000 },
    );
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryDelayMs).toBe(7000);
    // A 7 s wait does not fit in the 2 s deadline, so the client gives up at once instead of retrying early.
    expect(server.requests).toHaveLength(1);
  });

  it("an error status whose body is not JSON is classified by the status", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    });
    const error = await thrown(client.listJobs({}, { maxRetries: 0 }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe(Code.Unavailable);
  });

  it("the request carries the API key, the client id, and no gRPC headers", async () => {
    const { server, client } = await serve((_req, res) => json(res, 200, { jobs: [] }));
    await client.listJobs({}, { headers: { "x-trace": "t1" } });
    const headers = server.requests[0]!.headers;
    expect(headers.authorization).toBe("Bearer sk-test");
    expect(headers["x-clavata-client"]).toMatch(/^clavata-connect:/);
    expect(headers["x-trace"]).toBe("t1");
    expect(headers.te).toBeUndefined();
    expect(headers["content-type"]).toBeUndefined();
    expect(server.requests[0]!.method).toBe("GET");
  });
});

describe("closing the client", () => {
  it("ends calls in flight with AbortedError, and later calls throw ConnectionError", async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const { client } = await serve(() => {
      // Never answers: only the client's close ends the call.
      arrived();
    });
    const pending = thrown(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    await requestArrived;
    await client.close();
    expect(await pending).toBeInstanceOf(AbortedError);
    expect(await thrown(client.listJobs())).toBeInstanceOf(ConnectionError);
  });
});

describe("transcoding by the google.api.http rules", () => {
  it("ListJobs: GET /v1/jobs with the query flattened as grpc-gateway reads it", () => {
    const binding = httpBindingOf(GatewayService.method.listJobs)!;
    const start = new Date("2026-01-02T03:04:05.000Z");
    const request = {
      query: jobQuery().status(JobStatus.COMPLETED).policy("pol-1").createdBetween(start, undefined).build(),
      pageSize: 25,
      pageToken: "tok",
    };
    const parts = transcodeRequest(binding, ListJobsRequestSchema, request);
    expect(parts.verb).toBe("GET");
    expect(parts.body).toBeUndefined();
    const url = new URL(parts.pathAndQuery, "http://x");
    expect(url.pathname).toBe("/v1/jobs");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      "query.createdTimeRange.start": "2026-01-02T03:04:05Z",
      "query.createdTimeRange.inclusive": "true",
      "query.status": "JOB_STATUS_COMPLETED",
      "query.policyId": "pol-1",
      pageSize: "25",
      pageToken: "tok",
    });
    // And back: the emulator's reading of the same URL, also with snake_case names and enum numbers.
    const route = createRouteTable([GatewayService]);
    const match = route("GET", url.pathname)!;
    expect(match.binding.method.name).toBe("ListJobs");
    const again = requestFromHttp(match.binding, ListJobsRequestSchema, match.pathParams, url.searchParams, undefined);
    expect(again.query?.createdTimeRange?.start).toEqual(timestampFromDate(start));
    expect(again.query?.createdTimeRange?.inclusive).toBe(true);
    expect(again.query?.policyId).toBe("pol-1");
    expect(again.pageToken).toBe("tok");
    expect(again.query?.status).toBe(JobStatus.COMPLETED);
    expect(again.pageSize).toBe(25);
    const snake = new URLSearchParams("query.status=3&page_size=7&query.policy_id=p2&unknown=1");
    const parsed = requestFromHttp(match.binding, ListJobsRequestSchema, new Map(), snake, undefined);
    expect([parsed.query?.status, parsed.pageSize, parsed.query?.policyId]).toEqual([JobStatus.COMPLETED, 7, "p2"]);
  });

  it("GetJob: the job uuid fills the path template; literal paths win over variables", () => {
    const binding = httpBindingOf(GatewayService.method.getJob)!;
    expect(binding.template).toBe("/v1/jobs/{job_uuid}");
    expect(transcodeRequest(binding, GatewayService.method.getJob.input, { jobUuid: "a/b c" }).pathAndQuery).toBe(
      "/v1/jobs/a%2Fb%20c",
    );
    expect(() => transcodeRequest(binding, GatewayService.method.getJob.input, {})).toThrow(/job_uuid/);
    const route = createRouteTable([GatewayService]);
    expect(route("POST", "/v1/jobs/stream")?.binding.method.name).toBe("Evaluate");
    expect(route("GET", "/v1/jobs/abc")?.pathParams.get("job_uuid")).toBe("abc");
    expect(route("DELETE", "/v1/jobs/abc")).toBeUndefined();
    expect(EvaluateResponseSchema.typeName).toBe("clavata.gateway.v1.EvaluateResponse");
  });
});

describe("answers a hostile server or a proxy gives", () => {
  const KEY = "sk_live_Hostile0123456789abcdefXYZ";

  it("a stream line cut for its error message leaves no piece of the API key in it", async () => {
    const { client } = await serve(
      (req, res) => {
        res.writeHead(200);
        res.end(`${"x".repeat(60)}${String(req.headers.authorization).slice("Bearer ".length)}\n`);
      },
      { apiKey: KEY },
    );
    const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/not JSON: x{60}\[redacted\]…/);
    const pieces = Array.from({ length: KEY.length - 7 }, (_, i) => KEY.slice(i, i + 8));
    for (const piece of pieces)
      expect(JSON.stringify([error.message, error.rawMessage, String(error.cause)])).not.toContain(piece);
  });

  it("a body whose Content-Encoding does not decode is a malformed answer, not a network failure, and not sent again", async () => {
    const { client, server } = await serve(
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
        res.end("this is not gzip");
      },
      { maxRetries: 2 },
    );
    const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
    expect(error).toBeInstanceOf(ServerError);
    expect(transportFailureOf(error)?.kind).toBe("malformed-response");
    expect(error.message).toMatch(/could not be decompressed/);
    expect(server.requests).toHaveLength(1);
  });

  it("headers larger than fetch accepts are a malformed answer, and CreateJob is sent once", async () => {
    const { client, server } = await serve((_req, res) => json(res, 200, {}, { "x-big": "a".repeat(100_000) }), {
      maxRetries: 2,
    });
    const error = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/headers larger than fetch accepts/);
    expect(server.requests).toHaveLength(1);
  });

  it("Retry-After: two values joined, a date in no HTTP form, or 400 digits are read safely", async () => {
    const now = Date.UTC(2026, 0, 1);
    expect(retryAfterMs("1, 2", now)).toBeUndefined();
    expect(retryAfterMs("2026-01-01T00:00:05Z", now)).toBeUndefined();
    expect(retryAfterMs("9".repeat(400), now)).toBe(9e15);
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(retryAfterMs("Thursday, 01-Jan-26 00:00:05 GMT", now)).toBe(5000);
    expect(retryAfterMs("Thu Jan  1 00:00:05 2026", now)).toBe(5000);
    expect(retryAfterMs(" 1.5 ", now)).toBe(1500);
    const { client } = await serve(
      (_req, res) => json(res, 429, { code: 8, message: "slow down" }, { "retry-after": "9".repeat(400) }),
      { maxRetries: 1 },
    );
    expect(await thrown(client.listJobs())).toBeInstanceOf(RateLimitError);
  });

  it("a proxy's 413 is an InvalidRequestError that says the request is too large", async () => {
    const { client, server } = await serve(
      (_req, res) => {
        res.writeHead(413, { "content-type": "text/html" });
        res.end("<html>413 Request Entity Too Large</html>");
      },
      { maxRetries: 2 },
    );
    const error = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.message).toMatch(/Content Too Large.*send fewer or smaller items/);
    expect(server.requests).toHaveLength(1);
  });

  it("an error line that is a bare string keeps its text", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200);
      res.end(`${JSON.stringify({ error: "kaboom" })}\n`);
    });
    const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] })));
    expect(error.message).toMatch(/kaboom/);
  });

  it("a 504 long before timeoutMs says the gateway or a proxy gave up, not that timeoutMs ran out", async () => {
    const { client } = await serve(
      (_req, res) => {
        res.writeHead(504, { "content-type": "text/html" });
        res.end("<html>504 Gateway Time-out</html>");
      },
      { maxRetries: 0, timeoutMs: 60_000 },
    );
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(/the gateway, or a proxy in front of it, gave up on the call/);
    expect(error.message).not.toMatch(/raise timeoutMs/);
  });

  it("an attempt that runs out of attemptTimeoutMs is named so", async () => {
    const { client } = await serve(() => {}, { maxRetries: 0, attemptTimeoutMs: 300, timeoutMs: 60_000 });
    const listed = await thrown(client.listJobs());
    expect(listed).toBeInstanceOf(TimeoutError);
    expect(listed.message).toMatch(/its last attempt did not finish within attemptTimeoutMs \(300 ms\)/);
    // CreateJob is never sent again once it may have reached the gateway: more retries would not help.
    const created = await thrown(client.createJob({ policyId: "p", contentData: [textContent("a")] }));
    expect(created.message).toMatch(/not sent again once it may have reached the gateway.*raise attemptTimeoutMs$/);
  });

  it("a REST client pointed at an HTTP/2-only (gRPC) port is told so", async () => {
    const h2 = http2.createServer();
    h2.listen(0, "127.0.0.1");
    await once(h2, "listening");
    cleanup.push(() => new Promise<void>((resolve) => h2.close(() => resolve())));
    const client = new ClavataClient({
      apiKey: "sk-test",
      baseUrl: `http://127.0.0.1:${String((h2.address() as AddressInfo).port)}`,
      insecure: true,
      protocol: "rest",
      maxRetries: 0,
    });
    cleanup.push(() => client.close());
    const error = await thrown(client.listJobs());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/did not answer HTTP\/1\.1 as the gateway's REST surface does.*protocol: "grpc"/);
  });

  it("createBatchJob refuses an answer without a batch job id or an upload URL", async () => {
    const { client } = await serve((_req, res) => json(res, 200, {}));
    const error = await thrown(client.createBatchJob({ policyId: "p" }));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/answered without a batchJobId or an inputFileUploadUrl/);
  });
});
