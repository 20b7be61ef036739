// Property-based bad input: for every public method, content helper, client option, call option, job query
// method and webhook helper, generated bad values must be rejected with an InvalidRequestError that names the
// field, before anything reaches the network. A loopback server counts every TCP connection and HTTP/2 request it
// sees; it must see none. Seeded, so a failure reproduces; at least 1,000 cases per run, spread over every target.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addWebhook,
  ClavataClient,
  type ClavataClientOptions,
  createWebhook,
  InvalidRequestError,
  imageContent,
  imageUrlContent,
  JOB_UUID_PATTERN,
  jobQuery,
  textContent,
} from "../../src/index.js";
import { createTestWebhookRequest, webhookWithSecret } from "../../src/webhooks/index.js";

const SEED = 20_261_130;
const RUNS = 40;
const KEY = "property-test-key-0123456789abcdef";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

// --- a loopback server that counts everything that reaches it ---------------------------------------------------
let server: http2.Http2Server;
let port = 0;
let connections = 0;
let requests = 0;
let client: ClavataClient;
/** The same client over REST, for the batch-job methods (REST only). */
let restClient: ClavataClient;
let cases = 0;
const casesPerTarget = new Map<string, number>();

beforeAll(async () => {
  server = http2.createServer((_req, res) => {
    requests++;
    res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  });
  server.on("connection", () => void connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  port = (server.address() as AddressInfo).port;
  client = new ClavataClient({ apiKey: KEY, baseUrl: `http://127.0.0.1:${String(port)}`, insecure: true });
  restClient = new ClavataClient({
    apiKey: KEY,
    baseUrl: `http://127.0.0.1:${String(port)}`,
    insecure: true,
    protocol: "rest",
  });
});

afterAll(async () => {
  await client.close();
  await restClient.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// --- bad values ----------------------------------------------------------------------------------------------------
function cyclic(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

const oddValues = [
  null,
  Symbol("s"),
  () => 1,
  new Date(0),
  new Map([["a", "b"]]),
  cyclic(),
  Number.NaN,
  Number.POSITIVE_INFINITY,
];
const odd = fc.constantFrom<unknown>(...oddValues);
const anyBigInt = fc.bigInt().map((b) => b as unknown);
const notString = fc.oneof(odd, fc.integer(), fc.double(), anyBigInt, fc.boolean(), fc.constant([]), fc.constant({}));
const notNumber = fc.oneof(
  odd,
  fc.string(),
  anyBigInt,
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.constant("0.5"),
);
const notBool = fc.oneof(odd, fc.constantFrom<unknown>("true", "false", 1, 0, [], {}, 1n));
const notObject = fc.oneof(odd, fc.string(), fc.integer(), anyBigInt, fc.boolean());
const notArray = fc.oneof(notObject, fc.constant({}), fc.constant({ length: 1, 0: "x" }));
const loneSurrogate = fc
  .tuple(fc.string(), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string())
  .map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`);
const badText = fc.oneof(notString, fc.constant(""), loneSurrogate);
const sparse = fc.integer({ min: 1, max: 6 }).map((n) => new Array<string>(n));
const withHole = fc.integer({ min: 1, max: 4 }).map((n) => {
  const a = ["a", "b", "c", "d", "e"].slice(0, n + 1);
  delete a[n - 1];
  return a;
});
const outOfUnit = fc.oneof(
  fc.double({ min: 1.000001, max: 1e9, noNaN: true }),
  fc.double({ min: -1e9, max: -1e-9, noNaN: true }),
);
const badThreshold = fc.oneof(notNumber, outOfUnit);
const badStringMap = fc.oneof(
  notObject,
  fc.constant([]),
  fc.dictionary(fc.string({ minLength: 1 }), notString, { minKeys: 1 }),
  loneSurrogate.map((s) => ({ key: s })),
);
const notUrl = fc.oneof(
  fc.string().filter((s) => !URL.canParse(s)),
  fc.constantFrom("ftp://example.com/a.png", "javascript:alert(1)", "file:///etc/passwd", "data:image/png;base64,AA"),
);
const notBytes = fc.oneof(notObject, fc.constant([1, 2, 3]), fc.constant(new Uint8Array(0)), fc.constant({}));
const validItem = () => textContent("hello");
const badItem = fc.oneof(
  notObject,
  fc.constant({}),
  fc.constant({ content: null }),
  fc.constant({ content: { case: "bogus", value: "x" } }),
  fc.constant({ content: { case: "text" } }),
  badText.map((value) => ({ content: { case: "text", value } })),
  notBytes.map((value) => ({ content: { case: "image", value } })),
  fc.oneof(notString, notUrl).map((value) => ({ content: { case: "imageUrl", value } })),
  fc.constantFrom("text", "image", "imageUrl", "image_url").map((k) => ({ [k]: "x" })),
  badStringMap.map((metadata) => ({ ...validItem(), metadata })),
  notString.map((title) => ({ ...validItem(), title })),
  fc.constant({ ...validItem(), bogus: 1 }),
);
const badContentList = fc.oneof(
  notArray,
  fc.constant([]),
  sparse,
  fc.integer({ min: 0, max: 2 }).map((hole) => {
    const items = [validItem(), validItem(), validItem()];
    delete items[hole];
    return items;
  }),
  badItem.map((item) => [validItem(), item]),
);
const badHeaderName = fc.oneof(
  fc.constantFrom(
    "connection",
    "Keep-Alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "content-length",
    "host",
    "te",
    "trailer",
    "authorization",
    "Content-Type",
    "grpc-timeout",
    "grpc-anything",
    "connect-protocol-version",
    ":path",
    ":authority",
    "bad name",
    "bad:name",
    "x\r\ny",
    "",
    "naïve",
  ),
);
const badHeaders = fc.oneof(
  notObject,
  fc.constant([]),
  badHeaderName.map((name) => ({ [name]: "v" })),
  fc.constantFrom("a\r\nb", "a\nInjected: yes", "a\0b", "snow ☃", "x".repeat(8193)).map((v) => ({ "x-ok": v })),
  notString.map((v) => ({ "x-ok": v })),
);
const notSignal = fc.oneof(notObject, fc.constant({ aborted: false }), fc.constant(new AbortController()));
// Infinity is a valid duration ("no limit"), so it is left out here.
const badDuration = fc.oneof(
  notNumber.filter((v) => v !== Number.POSITIVE_INFINITY),
  fc.constantFrom(0, -1, Number.NaN, Number.NEGATIVE_INFINITY),
  fc.integer({ max: 0 }),
);
// A timer's delay is at most 2^31 − 1 ms (a longer one would fire after 1 ms); Infinity is checked on its own.
const tooLongDelay = fc.oneof(
  fc.constant(2 ** 31),
  fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ min: 2 ** 31, max: Number.MAX_VALUE, noNaN: true }),
);
const badDelay = fc.oneof(badDuration, tooLongDelay);
const badCallOptions = fc.oneof(
  notObject,
  fc.constant([]),
  badDuration.map((timeoutMs) => ({ timeoutMs })),
  badDuration.map((attemptTimeoutMs) => ({ attemptTimeoutMs })),
  fc.oneof(notNumber, fc.constantFrom(1.5, -1)).map((maxRetries) => ({ maxRetries })),
  notSignal.map((signal) => ({ signal })),
  badHeaders.map((headers) => ({ headers })),
  fc.constantFrom({ timeout: 5 }, { retries: 1 }, { bogus: true }),
);
const notUuid = fc.oneof(
  notString,
  fc.constantFrom("", "   ", "job-1", `${JOB}x`, JOB.replaceAll("-", "")),
  fc.string({ minLength: 1 }).filter((s) => !JOB_UUID_PATTERN.test(s)),
);
const badWebhook = fc.oneof(
  notObject,
  fc.constant({}),
  notString.map((url) => ({ url })),
  fc
    .constantFrom(
      "http://example.com/hook",
      "http://10.0.0.1/hook",
      "ftp://localhost/hook",
      "https://user:pass@example.com/hook",
      "not a url",
    )
    .map((url) => ({ url })),
  badHeaderName
    .filter((n) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n))
    .map((name) => ({ url: "https://example.com/h", extraHeaders: { [name]: "v" } })),
  fc.constantFrom("X-Webhook-Secret", "x-webhook-a").map((name) => ({
    url: "https://example.com/h",
    extraHeaders: { [name]: "v" },
  })),
  fc
    .constantFrom("a\r\nb", "a\0b", "snow ☃", "x".repeat(8193))
    .map((v) => ({ url: "https://example.com/h", extraHeaders: { Secret: v } })),
  notObject.map((extraHeaders) => ({ url: "https://example.com/h", extraHeaders })),
);
const badPageSize = fc.oneof(
  notNumber,
  fc.integer({ max: -1 }),
  fc.integer({ min: 1001 }),
  fc.double({ min: 0.1, max: 999, noInteger: true }),
);
const badTimeRange = fc.oneof(
  notObject,
  fc.constant([]),
  fc.constant({ start: new Date(0) }),
  fc.constant({ start: { seconds: 10n }, end: { seconds: 5n } }),
  fc.constant({ start: { seconds: "x" } }),
  fc.constant({ start: { nanos: 1.5 } }),
  notBool.map((inclusive) => ({ inclusive })),
);
const badQuery = fc.oneof(
  notObject,
  fc.constant([]),
  fc.oneof(notNumber, fc.constantFrom(99, -1, 1.5)).map((status) => ({ status })),
  fc.oneof(notString, fc.constant("")).map((policyId) => ({ policyId })),
  badTimeRange.map((createdTimeRange) => ({ createdTimeRange })),
  badTimeRange.map((completedTimeRange) => ({ completedTimeRange })),
  fc.constant({ status_: 1 }),
);
const badDate = fc.oneof(
  odd.filter((v) => !(v instanceof Date) && v !== null),
  anyBigInt,
  fc.boolean(),
  fc.constant({}),
  fc.constant([]),
  fc.constantFrom("not a date", "2024-13-45", ""),
  fc.constant(new Date(Number.NaN)),
);

// --- the targets: one bad value in one place of an otherwise valid call --------------------------------------------
interface Target {
  name: string;
  /** The field path the error must name (it may name a deeper part). */
  field: string;
  bad: fc.Arbitrary<unknown>;
  call: (bad: unknown) => unknown;
}

const base = () => ({ policyId: "policy-violent", contentData: [textContent("hello")] });
const labelsBase = () => ({ contentData: textContent("hello"), labelVersionIds: ["label-version-1"] });
const call =
  (method: string, args: (bad: unknown) => unknown[]) =>
  (bad: unknown): unknown =>
    (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args(bad));

const requestTargets = (method: string, b: () => Record<string, unknown>): Target[] => [
  // A cyclic plain object is an object: the error names whatever part of it is wrong.
  { name: `${method} request`, field: "", bad: notObject, call: call(method, (v) => [v]) },
  { name: `${method} policyId`, field: "policyId", bad: badText, call: call(method, (v) => [{ ...b(), policyId: v }]) },
  {
    name: `${method} threshold`,
    field: "threshold",
    bad: badThreshold,
    call: call(method, (v) => [{ ...b(), threshold: v }]),
  },
  {
    name: `${method} expedited`,
    field: "expedited",
    bad: notBool,
    call: call(method, (v) => [{ ...b(), expedited: v }]),
  },
  {
    name: `${method} options`,
    field: "options",
    bad: fc.oneof(
      notObject,
      badStringMap.map((options) => ({ options })),
    ),
    call: call(method, (v) => [{ ...b(), options: v }]),
  },
  {
    name: `${method} unknown key`,
    field: "",
    bad: fc.constantFrom("bogus", "policy_id", "text"),
    call: call(method, (k) => [{ ...b(), [k as string]: "x" }]),
  },
  { name: `${method} call options`, field: "options", bad: badCallOptions, call: call(method, (v) => [b(), v]) },
];

const targets: Target[] = [
  ...requestTargets("evaluate", base),
  {
    name: "evaluate contentData",
    field: "contentData",
    bad: badContentList,
    call: call("evaluate", (v) => [{ ...base(), contentData: v }]),
  },
  {
    name: "evaluate includeEvaluationReport",
    field: "includeEvaluationReport",
    bad: notBool,
    call: call("evaluate", (v) => [{ ...base(), includeEvaluationReport: v }]),
  },
  ...requestTargets("evaluateOne", () => ({ policyId: "policy-violent", contentData: textContent("hello") })),
  {
    name: "evaluateOne contentData",
    field: "contentData",
    bad: fc.oneof(badItem, fc.constant([textContent("x")])),
    call: call("evaluateOne", (v) => [{ policyId: "p", contentData: v }]),
  },
  ...requestTargets("createJob", base),
  {
    name: "createJob contentData",
    field: "contentData",
    bad: badContentList,
    call: call("createJob", (v) => [{ ...base(), contentData: v }]),
  },
  {
    name: "createJob webhook",
    field: "webhook",
    bad: badWebhook,
    call: call("createJob", (v) => [{ ...base(), webhook: v }]),
  },
  {
    name: "createJob waitForCompletion",
    field: "waitForCompletion",
    bad: notBool,
    call: call("createJob", (v) => [{ ...base(), waitForCompletion: v }]),
  },
  { name: "getJob jobUuid", field: "jobUuid", bad: notUuid, call: call("getJob", (v) => [v]) },
  { name: "getJob call options", field: "options", bad: badCallOptions, call: call("getJob", (v) => [JOB, v]) },
  { name: "waitForJob jobUuid", field: "jobUuid", bad: notUuid, call: call("waitForJob", (v) => [v]) },
  {
    name: "waitForJob options",
    field: "options",
    bad: fc.oneof(
      notObject,
      badDelay.map((pollIntervalMs) => ({ pollIntervalMs })),
      badDuration.map((timeoutMs) => ({ timeoutMs })),
      notSignal.map((signal) => ({ signal })),
      fc.constantFrom({ headers: {} }, { maxRetries: 1 }, { poll: 5 }),
    ),
    call: call("waitForJob", (v) => [JOB, v]),
  },
  {
    name: "listJobs request",
    field: "",
    bad: fc.oneof(notObject, fc.constant({ bogus: 1 })),
    call: call("listJobs", (v) => [v]),
  },
  { name: "listJobs pageSize", field: "pageSize", bad: badPageSize, call: call("listJobs", (v) => [{ pageSize: v }]) },
  {
    name: "listJobs pageToken",
    field: "pageToken",
    bad: notString.filter((v) => v !== undefined),
    call: call("listJobs", (v) => [{ pageToken: v }]),
  },
  { name: "listJobs query", field: "query", bad: badQuery, call: call("listJobs", (v) => [{ query: v }]) },
  { name: "listJobs call options", field: "options", bad: badCallOptions, call: call("listJobs", (v) => [{}, v]) },
  { name: "listAllJobs query", field: "query", bad: badQuery, call: call("listAllJobs", (v) => [v]) },
  {
    name: "listAllJobs options",
    field: "options",
    bad: fc.oneof(
      badCallOptions,
      badPageSize.map((pageSize) => ({ pageSize })),
    ),
    call: call("listAllJobs", (v) => [{}, v]),
  },
  { name: "evaluateLabels request", field: "", bad: notObject, call: call("evaluateLabels", (v) => [v]) },
  {
    name: "evaluateLabels contentData",
    field: "contentData",
    bad: fc.oneof(badItem, fc.constant([textContent("x")])),
    call: call("evaluateLabels", (v) => [{ ...labelsBase(), contentData: v }]),
  },
  {
    name: "evaluateLabels labelVersionIds",
    field: "labelVersionIds",
    bad: fc.oneof(
      notArray,
      fc.constant([]),
      sparse,
      withHole,
      fc.array(fc.constant("id"), { minLength: 11, maxLength: 30 }),
      notString.map((id) => [id]),
      fc.constantFrom([""], ["  "]),
      loneSurrogate.map((id) => [id]),
    ),
    call: call("evaluateLabels", (v) => [{ ...labelsBase(), labelVersionIds: v }]),
  },
  {
    name: "evaluateLabels threshold",
    field: "threshold",
    bad: badThreshold,
    call: call("evaluateLabels", (v) => [{ ...labelsBase(), threshold: v }]),
  },
  {
    name: "evaluateLabels labelEvalOptions",
    field: "labelEvalOptions",
    bad: fc.oneof(
      notObject,
      badThreshold.map((threshold) => ({ threshold })),
      notBool.map((bypassCache) => ({ bypassCache })),
      fc.constantFrom<unknown>(1.5, "x", Number.NaN, 2n ** 64n, {}).map((bundleSize) => ({ bundleSize })),
      notString.map((stack) => ({ stack })),
      fc.constant({ bogus: 1 }),
    ),
    call: call("evaluateLabels", (v) => [{ ...labelsBase(), labelEvalOptions: v }]),
  },
  {
    name: "evaluateLabels globalContext",
    field: "globalContext",
    bad: badText.filter((v) => v !== ""),
    call: call("evaluateLabels", (v) => [{ ...labelsBase(), globalContext: v }]),
  },
  {
    name: "evaluateLabels call options",
    field: "options",
    bad: badCallOptions,
    call: call("evaluateLabels", (v) => [labelsBase(), v]),
  },

  // Content helpers.
  { name: "textContent text", field: "text", bad: badText, call: (v) => textContent(v as string) },
  {
    name: "textContent options",
    field: "options",
    bad: fc.oneof(
      notObject.filter((v) => v !== undefined),
      fc.constant([]),
      badStringMap.map((metadata) => ({ metadata })),
      notString.map((title) => ({ title })),
      fc.constant({ meta: {} }),
    ),
    call: (v) => textContent("x", v as never),
  },
  { name: "imageContent image", field: "image", bad: notBytes, call: (v) => imageContent(v as Uint8Array) },
  {
    name: "imageContent options",
    field: "options",
    bad: fc.oneof(
      notObject,
      badStringMap.map((metadata) => ({ metadata })),
    ),
    call: (v) => imageContent(new Uint8Array([1]), v as never),
  },
  {
    name: "imageUrlContent url",
    field: "url",
    bad: fc.oneof(notString, notUrl),
    call: (v) => imageUrlContent(v as string),
  },

  // Webhook helpers.
  {
    name: "createWebhook url",
    field: "webhook.url",
    bad: fc.oneof(
      notString,
      notUrl,
      fc.constantFrom("http://example.com/h", "https://a:b@example.com/h"),
      loneSurrogate.map((s) => `https://example.com/${s}`),
    ),
    call: (v) => createWebhook(v as string),
  },
  {
    name: "createWebhook extraHeaders",
    field: "webhook.extraHeaders",
    bad: badWebhook
      .filter((w) => typeof w === "object" && w !== null && "extraHeaders" in w)
      .map((w) => (w as { extraHeaders: unknown }).extraHeaders),
    call: (v) => createWebhook("https://example.com/h", v as never),
  },
  {
    name: "addWebhook request",
    field: "request",
    bad: notObject.filter((v) => typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype),
    call: (v) => addWebhook(v as never, "https://example.com/h"),
  },

  {
    name: "webhookWithSecret secret",
    field: "secret",
    bad: fc.oneof(notString, fc.constantFrom("", " lead", "trail ", "a\r\nb", "snow ☃")),
    call: (v) => webhookWithSecret("https://example.com/h", v as string),
  },
  {
    name: "webhookWithSecret options",
    field: "options",
    bad: fc.oneof(
      notObject.filter((v) => v !== undefined),
      fc.constant([]),
      fc.oneof(notString, fc.constantFrom("X-Webhook-Secret", "bad name", "")).map((header) => ({ header })),
      notObject
        .filter((v) => typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype)
        .map((extraHeaders) => ({ extraHeaders })),
    ),
    call: (v) => webhookWithSecret("https://example.com/h", "a-secret-value", v as never),
  },
  {
    name: "webhookWithSecret url",
    field: "webhook.url",
    bad: fc.oneof(notString, notUrl, fc.constant("http://example.com/h")),
    call: (v) => webhookWithSecret(v as string, "a-secret-value"),
  },

  {
    name: "createTestWebhookRequest job",
    field: "job",
    bad: fc.oneof(
      notObject,
      fc.constant([]),
      notString.map((jobUuid) => ({ jobUuid })),
      fc.oneof(notNumber, fc.constantFrom(99, 1.5)).map((status) => ({ status })),
      fc.constant({ results: new Array(2) }),
      fc.constant({ bogus: 1 }),
    ),
    call: (v) => createTestWebhookRequest(v as never, { secret: "a-secret-value" }),
  },
  {
    name: "createTestWebhookRequest options",
    field: "options",
    bad: fc.oneof(
      notObject.filter((v) => typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype),
      fc.constantFrom({ secret: "s", envelope: "wrapped" }, { secret: "s", envelope: 1 }),
    ),
    call: (v) => createTestWebhookRequest({ jobUuid: "j" }, v as never),
  },

  // Job query builder.
  {
    name: "jobQuery createdBetween start",
    field: "createdBetween",
    bad: badDate,
    call: (v) => jobQuery().createdBetween(v as Date, undefined),
  },
  {
    name: "jobQuery updatedBetween end",
    field: "updatedBetween",
    bad: badDate,
    call: (v) => jobQuery().updatedBetween(undefined, v as Date),
  },
  {
    name: "jobQuery completedBetween options",
    field: "completedBetween",
    bad: fc.oneof(
      notObject.filter((v) => v !== undefined),
      notBool.map((inclusive) => ({ inclusive })),
    ),
    call: (v) => jobQuery().completedBetween(0, 1, v as never),
  },
  {
    name: "jobQuery status",
    field: "status",
    bad: fc.oneof(notNumber, fc.constantFrom(99, -1, 1.5)),
    call: (v) => jobQuery().status(v as never),
  },
  {
    name: "jobQuery policy",
    field: "policy",
    bad: fc.oneof(notString, fc.constantFrom("", " ")),
    call: (v) => jobQuery().policy(v as string),
  },
];

// evaluateBatch's options (checked at once, before any item is read) and items.
const batchOptions = (extra: fc.Arbitrary<Record<string, unknown>>) =>
  extra.map((o) => ({ policyId: "policy-violent", ...o }));
targets.push(
  {
    name: "evaluateBatch options",
    field: "options",
    bad: fc.oneof(
      notObject,
      fc.constant([]),
      badText.map((policyId) => ({ policyId })),
      batchOptions(badThreshold.map((threshold) => ({ threshold }))),
      batchOptions(fc.oneof(notNumber, fc.constantFrom(0, 257, 1.5, -1)).map((concurrency) => ({ concurrency }))),
      batchOptions(fc.oneof(notNumber, fc.constantFrom(0, 10_001, 2.5)).map((chunkSize) => ({ chunkSize }))),
      batchOptions(notBool.map((ordered) => ({ ordered }))),
      batchOptions(notBool.map((resend) => ({ resend }))),
      batchOptions(notSignal.map((signal) => ({ signal }))),
      batchOptions(notObject.filter((v) => typeof v !== "function").map((onProgress) => ({ onProgress }))),
      batchOptions(badHeaders.map((headers) => ({ headers }))),
      batchOptions(
        fc
          .oneof(notObject, fc.constant({ bogus: 1 }), fc.constant({ itemsPerSecond: 0 }))
          .map((rateLimit) => ({ rateLimit })),
      ),
      batchOptions(fc.constantFrom({ concurency: 4 }, { policy_id: "x" }, { timeoutMs: 5 })),
    ),
    call: (v) => client.evaluateBatch([textContent("hello")], v as never),
  },
  {
    name: "evaluateBatch items",
    field: "items",
    // A Map is iterable, but its [key, value] entries are not items: refused as a whole, with a hint.
    bad: fc.oneof(
      odd.filter((v) => typeof v !== "function"),
      fc.integer(),
      fc.boolean(),
      fc.constant({}),
      fc.string(),
    ),
    call: (v) => client.evaluateBatch(v as never, { policyId: "policy-violent" }),
  },
);

// Batch jobs (REST only), on the REST client.
const restCall =
  (method: string, args: (bad: unknown) => unknown[]) =>
  (bad: unknown): unknown =>
    (restClient as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args(bad));
const badBatchJobId = fc.oneof(notString, fc.constantFrom("", "   "));
const UPLOAD_URL = "https://storage.example.com/batch/input.csv?signature=abc";
const batchItem = (refId: string) => ({ refId, type: "text", content: "hello" });
targets.push(
  {
    name: "createBatchJob request",
    // A cyclic plain object is an object: the error names whatever part of it is wrong.
    field: "",
    bad: fc.oneof(notObject, fc.constant([])),
    call: restCall("createBatchJob", (v) => [v]),
  },
  ...["name", "policyId"].map(
    (key): Target => ({
      name: `createBatchJob ${key}`,
      field: key,
      bad: fc.oneof(notString, loneSurrogate),
      call: restCall("createBatchJob", (v) => [{ [key]: v }]),
    }),
  ),
  {
    name: "createBatchJob webhookUrl",
    field: "webhookUrl",
    bad: fc.oneof(notString, notUrl, fc.constantFrom("http://example.com/hook", "ftp://localhost/hook")),
    call: restCall("createBatchJob", (v) => [{ webhookUrl: v }]),
  },
  {
    name: "createBatchJob unknown key",
    field: "",
    bad: fc.constantFrom("policy_id", "webhook", "items"),
    call: restCall("createBatchJob", (k) => [{ [k as string]: "x" }]),
  },
  {
    name: "createBatchJob call options",
    field: "options",
    bad: badCallOptions,
    call: restCall("createBatchJob", (v) => [{}, v]),
  },
  {
    name: "getBatchJobs filter",
    field: "",
    bad: fc.oneof(notObject, fc.constant([])),
    call: restCall("getBatchJobs", (v) => [v]),
  },
  {
    name: "getBatchJobs batchJobIds",
    field: "batchJobIds",
    bad: fc.oneof(
      notArray.filter((v) => v !== undefined),
      fc.string({ minLength: 1 }),
      fc.constantFrom([""], ["  "], ["ok", 5], [null]),
      sparse,
    ),
    call: restCall("getBatchJobs", (v) => [{ batchJobIds: v }]),
  },
  {
    name: "getBatchJobs states",
    field: "states",
    bad: fc.oneof(
      notArray.filter((v) => v !== undefined),
      fc.oneof(notNumber, fc.constantFrom(99, -1, 1.5)).map((state) => [state]),
    ),
    call: restCall("getBatchJobs", (v) => [{ states: v }]),
  },
  {
    name: "cancelBatchJob batchJobId",
    field: "batchJobId",
    bad: badBatchJobId,
    call: restCall("cancelBatchJob", (v) => [v]),
  },
  {
    name: "waitForBatchJob batchJobId",
    field: "batchJobId",
    bad: badBatchJobId,
    call: restCall("waitForBatchJob", (v) => [v]),
  },
  {
    name: "waitForBatchJob options",
    field: "options",
    bad: fc.oneof(
      notObject,
      badDelay.map((pollIntervalMs) => ({ pollIntervalMs })),
      notObject.filter((v) => typeof v !== "function").map((onStateChange) => ({ onStateChange })),
      fc.constant({ bogus: 1 }),
    ),
    call: restCall("waitForBatchJob", (v) => ["batch-1", v]),
  },
  {
    name: "uploadBatchInput uploadUrl",
    field: "uploadUrl",
    bad: fc.oneof(notString, notUrl, fc.constantFrom("http://example.com/upload", "ftp://localhost/x")),
    call: restCall("uploadBatchInput", (v) => [v, [batchItem("a")]]),
  },
  {
    name: "uploadBatchInput input",
    field: "input",
    bad: fc.oneof(
      odd,
      fc.integer(),
      fc.boolean(),
      fc.constant({}),
      fc.string(),
      anyBigInt,
      fc.constant(new Map([["a", batchItem("a")]])),
    ),
    call: restCall("uploadBatchInput", (v) => [UPLOAD_URL, v]),
  },
  {
    name: "uploadBatchInput options",
    field: "options",
    bad: fc.oneof(
      notObject,
      notSignal.map((signal) => ({ signal })),
      notObject.filter((v) => typeof v !== "function").map((onProgress) => ({ onProgress })),
      fc.constant({ timeoutMs: 5 }),
      fc.constant({ onprogress: () => {} }),
    ),
    call: restCall("uploadBatchInput", (v) => [UPLOAD_URL, [batchItem("a")], v]),
  },
  {
    name: "uploadBatchInput items",
    field: "items",
    bad: fc.oneof(
      fc.constant([]),
      notObject.map((item) => [item]),
      fc.oneof(notString, fc.constant("")).map((refId) => [{ ...batchItem("a"), refId }]),
      fc.constant([batchItem("a"), batchItem("a")]),
      fc.oneof(notString, fc.constantFrom("image", "video_url", "")).map((type) => [{ ...batchItem("a"), type }]),
      fc.oneof(notString, fc.constant(""), loneSurrogate).map((content) => [{ ...batchItem("a"), content }]),
    ),
    call: restCall("uploadBatchInput", (v) => [UPLOAD_URL, v]),
  },
  {
    name: "readBatchOutput job",
    field: "job",
    bad: fc.oneof(
      odd,
      fc.integer(),
      fc.boolean(),
      anyBigInt,
      fc.constant({}),
      notString.filter((v) => v !== undefined).map((outputFileUrl) => ({ outputFileUrl })),
    ),
    call: restCall("readBatchOutput", (v) => [v]),
  },
  {
    name: "readBatchOutput options",
    field: "options",
    bad: fc.oneof(
      notObject,
      notSignal.map((signal) => ({ signal })),
      fc.constant({ timeoutMs: 5 }),
    ),
    call: restCall("readBatchOutput", (v) => ["https://storage.example.com/out.jsonl", v]),
  },
);

// Client options: one bad option on otherwise valid options.
const url = () => `http://127.0.0.1:${String(port)}`;
const clientOption = (option: string, bad: fc.Arbitrary<unknown>, withBaseUrl = true): Target => ({
  name: `ClavataClient ${option}`,
  field: "options",
  bad,
  call: (v) => {
    const options: Record<string, unknown> = withBaseUrl
      ? { apiKey: KEY, baseUrl: url(), insecure: true }
      : { apiKey: KEY, host: "127.0.0.1", port, insecure: true };
    options[option] = v;
    return new ClavataClient(options as ClavataClientOptions);
  },
});
targets.push(
  {
    name: "ClavataClient options",
    field: "options",
    bad: fc.oneof(
      notObject.filter((v) => v !== undefined),
      fc.constant([]),
    ),
    call: (v) => new ClavataClient(v as never),
  },
  clientOption(
    "apiKey",
    fc.oneof(
      odd.filter((v) => v !== null),
      fc.integer(),
      anyBigInt,
      fc.constant({}),
    ),
  ),
  clientOption("port", fc.oneof(notNumber, fc.constantFrom("50051", 0, -1, 65536, 1.5)), false),
  clientOption("host", fc.oneof(notString, fc.constantFrom("", "http://x", "a b", "x/y")), false),
  clientOption(
    "baseUrl",
    fc.oneof(
      notString.filter((v) => !(v instanceof Date)),
      notUrl,
      fc.constantFrom("ftp://x", "http://u:p@127.0.0.1:1", "http://127.0.0.1:1/?q=1"),
    ),
  ),
  clientOption("insecure", notBool),
  clientOption("allowInsecureRemote", notBool),
  clientOption(
    "tls",
    fc.oneof(notObject, fc.constant({ ca: 5 }), fc.constant({ cert: "x" }), fc.constant({ bogus: 1 })),
  ),
  clientOption("timeoutMs", badDuration),
  clientOption("attemptTimeoutMs", badDuration),
  clientOption("maxRetries", fc.oneof(notNumber, fc.constantFrom(-1, 1.5))),
  clientOption(
    "retryBackoff",
    fc.oneof(
      notObject,
      badDuration.filter((v) => v !== 0).map((initialDelayMs) => ({ initialDelayMs })),
      tooLongDelay.map((initialDelayMs) => ({ initialDelayMs })),
      tooLongDelay.map((maxDelayMs) => ({ maxDelayMs })),
      fc.constant({ max: 1 }),
    ),
  ),
  clientOption(
    "keepalive",
    fc.oneof(
      notObject,
      badDelay.map((pingIntervalMs) => ({ pingIntervalMs })),
      badDelay.map((pingTimeoutMs) => ({ pingTimeoutMs })),
      badDelay.map((idleConnectionTimeoutMs) => ({ idleConnectionTimeoutMs })),
      notBool.map((pingIdleConnection) => ({ pingIdleConnection })),
    ),
  ),
  clientOption("logger", fc.oneof(notObject, fc.constant({}), fc.constant({ info: () => {} }))),
  clientOption("logLevel", fc.oneof(notString, fc.constantFrom("verbose", "INFO", ""))),
  clientOption("headers", badHeaders),
  clientOption(
    "interceptors",
    fc.oneof(
      notObject.filter((v) => typeof v !== "function"),
      fc.constant([5]),
      fc.constant([null]),
      fc.constant({}),
    ),
  ),
  clientOption("transport", fc.oneof(notObject, fc.constant({}), fc.constant({ unary: 1 }))),
  clientOption(
    "limits",
    fc.oneof(
      notObject,
      fc.constant({ maxRequestBytes: 0 }),
      fc.constant({ bogus: 1 }),
      fc.constant({ requireUuidJobIds: "no" }),
    ),
  ),
);

/** Runs a call to its end: a promise awaited, a stream drained. Returns what it threw. */
async function outcome(run: () => unknown): Promise<unknown> {
  try {
    const result = run();
    if (result !== null && typeof result === "object" && Symbol.asyncIterator in result) {
      for await (const _ of result as AsyncIterable<unknown>) {
        // A bad call must not yield anything.
      }
    } else {
      await result;
    }
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("every public method, helper and option rejects generated bad input before the wire", () => {
  for (const [index, target] of targets.entries()) {
    it(target.name, async () => {
      await fc.assert(
        fc.asyncProperty(target.bad, async (bad) => {
          cases++;
          casesPerTarget.set(target.name, (casesPerTarget.get(target.name) ?? 0) + 1);
          const error = await outcome(() => target.call(bad));
          expect(error, `${target.name}: ${shown(bad)}`).toBeInstanceOf(InvalidRequestError);
          const field = (error as InvalidRequestError).field;
          expect(typeof field, `${target.name}: field of ${(error as Error).message}`).toBe("string");
          expect(field, (error as Error).message).not.toBe("");
          expect(field!.startsWith(target.field), `${field!} should start with ${target.field}`).toBe(true);
        }),
        { seed: SEED + index, numRuns: RUNS },
      );
    });
  }

  it("ran at least 1,000 cases over every target, and nothing reached the server", () => {
    expect(cases).toBeGreaterThanOrEqual(1000);
    for (const target of targets) expect(casesPerTarget.get(target.name), target.name).toBe(RUNS);
    expect(connections).toBe(0);
    expect(requests).toBe(0);
  });
});

function shown(value: unknown): string {
  try {
    if (typeof value === "symbol" || typeof value === "bigint" || typeof value === "function") return String(value);
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
