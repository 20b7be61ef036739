// Every bad input listed under "Why" in the hardening issue, kept as a fixed case: each is rejected with an
// InvalidRequestError naming the field, before anything reaches a loopback server that counts connections.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClavataClient,
  type ClavataClientOptions,
  InvalidRequestError,
  imageUrlContent,
  jobQuery,
  textContent,
} from "../../src/index.js";
import { webhookWithSecret } from "../../src/webhooks/index.js";

const KEY = "regression-test-key-0123456789abcdef";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
let server: http2.Http2Server;
let connections = 0;
let url = "";
let client: ClavataClient;

beforeAll(async () => {
  server = http2.createServer((_req, res) => res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
  server.on("connection", () => void connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  client = new ClavataClient({ apiKey: KEY, baseUrl: url, insecure: true, maxRetries: 0 });
});

afterAll(async () => {
  await client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Nothing in this file may have reached the server.
  expect(connections).toBe(0);
});

/** The InvalidRequestError the call threw (synchronously, as a rejection, or while iterating), with its field. */
async function rejected(run: () => unknown, field: string | RegExp): Promise<InvalidRequestError> {
  let error: unknown;
  try {
    const result = run();
    if (result !== null && typeof result === "object" && Symbol.asyncIterator in result) {
      for await (const _ of result as AsyncIterable<unknown>) {
        // nothing may be yielded
      }
    } else await result;
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidRequestError);
  const e = error as InvalidRequestError;
  if (typeof field === "string") expect(e.field, e.message).toBe(field);
  else expect(e.field, e.message).toMatch(field);
  return e;
}

const policyId = "policy-violent";
const cyclic = (): Record<string, unknown> => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};
const newClient = (options: Record<string, unknown>) =>
  new ClavataClient({ apiKey: KEY, baseUrl: url, insecure: true, ...options } as ClavataClientOptions);

describe("1. bad input that used to escape as a TypeError", () => {
  it("textContent with null options", async () => {
    await rejected(() => textContent("x", null as never), "options");
  });
  it("items whose content is null", async () => {
    await rejected(
      () => client.evaluate({ policyId, contentData: [{ content: null } as never] }),
      "contentData[0].content",
    );
  });
  it("an image URL that is a BigInt or a cyclic object", async () => {
    await rejected(() => imageUrlContent(1n as never), "url");
    await rejected(() => imageUrlContent(cyclic() as never), "url");
    await rejected(
      () => client.evaluate({ policyId, contentData: [{ content: { case: "imageUrl", value: 1n as never } }] }),
      "contentData[0].imageUrl",
    );
    await rejected(
      () => client.evaluate({ policyId, contentData: [{ content: { case: "imageUrl", value: cyclic() as never } }] }),
      "contentData[0].imageUrl",
    );
  });
  it("baseUrl: Symbol(), tls: null, interceptors: 5", async () => {
    await rejected(() => newClient({ baseUrl: Symbol("u") }), "options.baseUrl");
    await rejected(() => newClient({ tls: null }), "options.tls");
    await rejected(() => newClient({ interceptors: 5 }), "options.interceptors");
  });
  it("waitForJob(id, null) and listAllJobs(q, null)", async () => {
    await rejected(() => client.waitForJob(JOB, null as never), "options");
    await rejected(() => client.listAllJobs({}, null as never), "options");
    const error = await rejected(
      () => client.evaluateOne({ policyId, contentData: textContent("x") }, null as never),
      "options",
    );
    expect(error.message).toMatch(/^the options are null; pass a plain object with signal/);
  });
  it("jobQuery().createdBetween(1n)", async () => {
    await rejected(() => jobQuery().createdBetween(1n as never, undefined), "createdBetween.start");
  });
});

describe("1. bad input that used to be sent to the gateway anyway", () => {
  it("sparse arrays: labelVersionIds new Array(2), holes in contentData", async () => {
    await rejected(
      () => client.evaluateLabels({ contentData: textContent("x"), labelVersionIds: new Array<string>(2) }),
      "labelVersionIds[0]",
    );
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    const holes = [textContent("a"), , textContent("b")] as never;
    await rejected(() => client.evaluate({ policyId, contentData: holes }), "contentData[1]");
    await rejected(() => client.createJob({ policyId, contentData: holes }), "contentData[1]");
  });
  it("wrong-typed optional fields instead of coercing them", async () => {
    await rejected(
      () => client.evaluate({ policyId, contentData: [{ ...textContent("x"), title: 5 as never }] }),
      "contentData[0].title",
    );
    await rejected(
      () => client.evaluate({ policyId, contentData: [textContent("x")], expedited: "yes" as never }),
      "expedited",
    );
    await rejected(
      () => client.evaluate({ policyId, contentData: [textContent("x")], includeEvaluationReport: 1 as never }),
      "includeEvaluationReport",
    );
    const labels = { contentData: textContent("x"), labelVersionIds: ["l"] };
    await rejected(() => client.evaluateLabels({ ...labels, globalContext: 5 as never }), "globalContext");
    await rejected(() => client.evaluateLabels({ ...labels, labelEvalOptions: "fast" as never }), "labelEvalOptions");
    await rejected(
      () => client.evaluateLabels({ ...labels, labelEvalOptions: { bundleSize: 1.5 as never } }),
      "labelEvalOptions.bundleSize",
    );
    await rejected(() => client.listJobs({ query: { status: "COMPLETED" as never } }), "query.status");
    await rejected(
      () => client.listJobs({ query: { createdTimeRange: { start: new Date() as never } } }),
      "query.createdTimeRange.start",
    );
    await rejected(() => client.listJobs({ query: { createdTimeRange: "today" as never } }), "query.createdTimeRange");
  });
  it("non-object options to waitForJob and listAllJobs", async () => {
    await rejected(() => client.waitForJob(JOB, 5 as never), "options");
    await rejected(() => client.waitForJob(JOB, "fast" as never), "options");
    await rejected(() => client.listAllJobs({}, 100 as never), "options");
    await rejected(() => client.listAllJobs({}, { pageSize: 5000 }), "options.pageSize");
  });
  it("any non-empty string as a job id", async () => {
    for (const id of ["job-1", "x", `${JOB} `, JOB.replaceAll("-", "")]) {
      await rejected(() => client.getJob(id), "jobUuid");
      await rejected(() => client.waitForJob(id), "jobUuid");
    }
  });
  it("40 MiB of content and 50,000 items, refused before the upload", async () => {
    const big = "x".repeat(40 * 1024 * 1024);
    const e = await rejected(() => client.evaluate({ policyId, contentData: [textContent(big)] }), "contentData");
    expect(e.message).toMatch(/limits\.maxRequestBytes/);
    const many = Array.from({ length: 50_000 }, () => textContent("x"));
    const e2 = await rejected(() => client.evaluate({ policyId, contentData: many }), "contentData");
    expect(e2.message).toMatch(/limits\.maxItemsPerCall/);
    await rejected(() => client.createJob({ policyId, contentData: many }), "contentData");
  });
  it("values that used to fail after the headers were sent (serialize binary)", async () => {
    await rejected(
      () =>
        client.evaluateLabels({
          contentData: textContent("x"),
          labelVersionIds: ["l"],
          labelEvalOptions: { bundleSize: "12abc" as never },
        }),
      "labelEvalOptions.bundleSize",
    );
    await rejected(
      () => client.evaluate({ policyId, contentData: [{ content: { case: "image", value: [1, 2] as never } }] }),
      "contentData[0].image",
    );
  });
  it("hop-by-hop, framing and oversized custom headers, client-wide and per call", async () => {
    for (const name of [
      "transfer-encoding",
      "connection",
      "keep-alive",
      "upgrade",
      "proxy-connection",
      "content-length",
      "te",
      "authorization",
      "content-type",
      "grpc-timeout",
      ":path",
    ]) {
      await rejected(() => newClient({ headers: { [name]: "x" } }), `options.headers[${JSON.stringify(name)}]`);
      await rejected(
        () => client.getJob(JOB, { headers: { [name]: "x" } }),
        `options.headers[${JSON.stringify(name)}]`,
      );
    }
    const huge = "v".repeat(20 * 1024 * 1024);
    await rejected(() => newClient({ headers: { "x-big": huge } }), 'options.headers["x-big"]');
    await rejected(() => client.getJob(JOB, { headers: { "x-big": huge } }), 'options.headers["x-big"]');
    await rejected(() => client.getJob(JOB, { headers: { "x-crlf": "a\r\nb" } }), 'options.headers["x-crlf"]');
  });
  it("lone surrogates in text are refused, not turned into U+FFFD", async () => {
    for (const text of ["\uD800", "\uDBFF", "a\uDC00b", "ok \uD83D"]) {
      await rejected(() => textContent(text), "text");
      await rejected(
        () => client.evaluate({ policyId, contentData: [{ content: { case: "text", value: text } }] }),
        "contentData[0].text",
      );
    }
    // A well-formed pair is fine.
    expect(textContent("smile \uD83D\uDE00").content).toEqual({ case: "text", value: "smile 😀" });
  });
});

describe("found by the property tests under other seeds", () => {
  it("a null pageToken or pageSize is refused, not read as the default", async () => {
    await rejected(() => client.listJobs({ pageToken: null as never }), "pageToken");
    await rejected(() => client.listJobs({ pageSize: null as never }), "pageSize");
  });
  it("webhookWithSecret: a null or bigint header name, unknown option keys", async () => {
    await rejected(
      () => webhookWithSecret("https://example.com/h", "a-secret", { header: null as never }),
      "options.header",
    );
    await rejected(
      () => webhookWithSecret("https://example.com/h", "a-secret", { header: 0n as never }),
      "options.header",
    );
    await rejected(
      () => webhookWithSecret("https://example.com/h", "a-secret", { headers: {} } as never),
      "options.headers",
    );
  });
  it("time span options with unknown keys", async () => {
    await rejected(
      () => jobQuery().createdBetween(0, 1, { inclusiv: false } as never),
      "createdBetween.options.inclusiv",
    );
  });
});

describe("4. errors in call options name the field", () => {
  it("names timeoutMs, signal and headers", async () => {
    await rejected(() => client.getJob(JOB, { timeoutMs: -1 }), "options.timeoutMs");
    await rejected(() => client.getJob(JOB, { signal: {} as never }), "options.signal");
    await rejected(() => client.getJob(JOB, { timeout: 5 } as never), "options.timeout");
  });
  it('port: "50051" names the type', async () => {
    const e = await rejected(
      () => new ClavataClient({ apiKey: KEY, host: "127.0.0.1", port: "50051" as never, insecure: true }),
      "options.port",
    );
    expect(e.message).toMatch(/port is a string \("50051"\); pass a whole number/);
  });
});

describe("the gateway's rules can be relaxed by the limits option", () => {
  it("accepts more label ids, larger pages and other job ids when told to", async () => {
    // Runs last: nothing before it reached the server; this one is meant to.
    expect(connections).toBe(0);
    const relaxed = newClient({
      limits: { maxLabelVersionIds: 20, maxPageSize: 5000, requireUuidJobIds: false, maxItemsPerCall: 2 },
    });
    try {
      // These pass validation and fail only at the (refusing) server: a ConnectionError, not an InvalidRequestError.
      for (const run of [
        () => relaxed.getJob("job-1"),
        () => relaxed.listJobs({ pageSize: 5000 }),
        () =>
          relaxed.evaluateLabels({
            contentData: textContent("x"),
            labelVersionIds: Array.from({ length: 15 }, (_, i) => `l${String(i)}`),
          }),
      ]) {
        const error = await run().catch((e: unknown) => e);
        expect(error).not.toBeInstanceOf(InvalidRequestError);
      }
      await rejected(
        () => relaxed.evaluate({ policyId, contentData: [textContent("a"), textContent("b"), textContent("c")] }),
        "contentData",
      );
    } finally {
      await relaxed.close();
      connections = 0;
    }
  });
});
