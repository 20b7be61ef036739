// Parsing a webhook body into a Job, the content type and size checks, verifyWebhook's order of checks, and the
// test-request helper.
import { equals, toJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { JobSchema, JobStatus, Outcome } from "../../src/index.js";
import {
  checkWebhookContentType,
  createTestWebhookRequest,
  DEFAULT_MAX_BODY_BYTES,
  parseWebhookJob,
  verifyWebhook,
} from "../../src/webhooks/index.js";
import { rejection, sampleJob } from "../support/webhook-servers.js";

const SECRET = "whsec-payload-tests-0123456789";

describe("parseWebhookJob", () => {
  const job = sampleJob();
  const json = toJsonString(JobSchema, job);

  it("parses a bare Job and a {job: Job} envelope, from bytes or text, to the same message", () => {
    for (const body of [json, `{"job":${json}}`, new TextEncoder().encode(json), Buffer.from(`{"job":${json}}`)]) {
      const parsed = parseWebhookJob(body);
      expect(equals(JobSchema, parsed, job)).toBe(true);
      expect(parsed.results[0]?.report?.reviewResult?.outcome).toBe(Outcome.TRUE);
    }
  });

  it("accepts snake_case names, enum numbers and a byte order mark", () => {
    const parsed = parseWebhookJob(`\ufeff{"job_uuid":"j-1","status":3,"policy_id":"p"}`);
    expect(parsed.jobUuid).toBe("j-1");
    expect(parsed.status).toBe(JobStatus.COMPLETED);
    expect(parsed.policyId).toBe("p");
    expect(parseWebhookJob(Buffer.from(`\ufeff{"jobUuid":"j-2"}`)).jobUuid).toBe("j-2");
  });

  it("rounds 32-bit float fields as the binary wire does, so the job equals the one GetJob returns", () => {
    const parsed = parseWebhookJob(
      '{"jobUuid":"j-1","results":[{"report":{"labelMatches":{"threats":0.95},"tokenUsage":{"multiplier":1.1}}}]}',
    );
    const report = parsed.results[0]!.report!;
    expect(report.labelMatches.threats).toBe(Math.fround(0.95));
    expect(report.tokenUsage?.multiplier).toBe(Math.fround(1.1));
    // Doubles stay doubles.
    expect(parseWebhookJob('{"jobUuid":"j-1","threshold":0.95}').threshold).toBe(0.95);
  });

  it("ignores fields and enum names it does not know, so a newer gateway's jobs still arrive", () => {
    const parsed = parseWebhookJob(
      '{"jobUuid":"j-1","status":"JOB_STATUS_ARCHIVED","futureField":{"x":1},"results":[]}',
    );
    expect(parsed.jobUuid).toBe("j-1");
    expect(parsed.status).toBe(JobStatus.UNSPECIFIED);
  });

  it("says the body is not JSON (400 bad_json) for empty, non-UTF-8 or malformed bodies, without quoting the body", () => {
    const cases: [Uint8Array | string, RegExp][] = [
      ["", /empty/],
      ["  \n", /empty/],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not UTF-8/],
      ['{"jobUuid": "private user text here', /not valid JSON/],
      ["jobUuid=1", /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const error = rejection(() => parseWebhookJob(body));
      expect(error.reason).toBe("bad_json");
      expect(error.status).toBe(400);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("private user text");
    }
  });

  it("says the body is not a job (400 not_a_job) for other JSON, naming what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["[1,2]", /JSON array, not an object/],
      ["null", /JSON null/],
      ['"job"', /JSON string/],
      ['{"job":"j-1"}', /"job" field is not an object/],
      ['{"jobUuid":42}', /not a valid Job/],
      ['{"jobUuid":"j","created":"yesterday"}', /not a valid Job/],
      ["{}", /no jobUuid/],
      ['{"id":"j-1","state":"done"}', /no jobUuid/],
    ];
    for (const [body, message] of cases) {
      const error = rejection(() => parseWebhookJob(body));
      expect(error.reason, body).toBe("not_a_job");
      expect(error.status).toBe(400);
      expect(error.message, body).toMatch(message);
      expect(error.message).toContain('{"job": {…}}');
    }
  });
});

describe("checkWebhookContentType", () => {
  it("accepts application/json with or without a UTF-8 charset, in any letter case", () => {
    for (const type of [
      "application/json",
      "Application/JSON",
      "application/json; charset=utf-8",
      'application/json;charset="UTF-8"',
    ]) {
      expect(() => checkWebhookContentType(type)).not.toThrow();
    }
  });

  it("refuses anything else (400 wrong_content_type), saying what it got", () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /no Content-Type/],
      ["", /no Content-Type/],
      ["text/plain", /"text\/plain", not application\/json/],
      ["application/x-www-form-urlencoded", /not application\/json/],
      ["application/jsonx", /not application\/json/],
      ["application/json; charset=latin1", /charset "latin1"/],
    ];
    for (const [type, message] of cases) {
      const error = rejection(() => checkWebhookContentType(type));
      expect(error.reason).toBe("wrong_content_type");
      expect(error.status).toBe(400);
      expect(error.message).toMatch(message);
    }
  });
});

describe("verifyWebhook", () => {
  const job = sampleJob();
  const good = createTestWebhookRequest(job, { secret: SECRET });

  it("returns the job of a valid request, given bytes, text or an ArrayBuffer", () => {
    const bytes = new TextEncoder().encode(good.body);
    for (const body of [good.body, Buffer.from(good.body), bytes, bytes.buffer]) {
      expect(
        equals(JobSchema, verifyWebhook({ method: "POST", headers: good.headers, body }, { secret: SECRET }), job),
      ).toBe(true);
    }
  });

  it("checks the method, then the secret, then the content type, then the size, then the body", () => {
    const reason = (request: Parameters<typeof verifyWebhook>[0], maxBodyBytes?: number) =>
      rejection(() => verifyWebhook(request, { secret: SECRET, ...(maxBodyBytes ? { maxBodyBytes } : {}) })).reason;
    expect(reason({ method: "GET", headers: {}, body: "x" })).toBe("method_not_allowed");
    expect(reason({ method: "POST", headers: { "content-type": "text/plain" }, body: "x" })).toBe("missing_secret");
    expect(reason({ headers: { "x-webhook-secret": "nope-nope-nope", "content-type": "text/plain" }, body: "x" })).toBe(
      "wrong_secret",
    );
    expect(reason({ headers: { ...good.headers, "Content-Type": "text/plain" }, body: "x" })).toBe(
      "wrong_content_type",
    );
    expect(reason({ headers: good.headers, body: good.body }, 10)).toBe("too_large");
    expect(reason({ headers: { ...good.headers, "content-length": "5000" }, body: "{}" }, 1000)).toBe("too_large");
    expect(reason({ headers: good.headers, body: "{" })).toBe("bad_json");
    expect(reason({ headers: good.headers, body: "{}" })).toBe("not_a_job");
  });

  it("counts the limit in bytes, not characters, and accepts a body exactly at the limit", () => {
    const body = `{"jobUuid":"${"é".repeat(10)}"}`; // 24 characters, 34 bytes
    const request = { headers: good.headers, body };
    expect(verifyWebhook(request, { secret: SECRET, maxBodyBytes: 34 }).jobUuid).toBe("é".repeat(10));
    const error = rejection(() => verifyWebhook(request, { secret: SECRET, maxBodyBytes: 33 }));
    expect(error.status).toBe(413);
    expect(error.message).toContain("33 bytes");
    expect(error.message).toContain("maxBodyBytes");
  });

  it("says a body parser already ran when the body is an object, and how to get the raw body in Express and Fastify", () => {
    const error = rejection(() =>
      verifyWebhook({ headers: good.headers, body: JSON.parse(good.body) }, { secret: SECRET }),
    );
    expect(error.reason).toBe("parsed_body");
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/body parser ran before the webhook receiver/);
    expect(error.message).toContain('express.raw({ type: "application/json" })');
    expect(error.message).toContain("addContentTypeParser");
    expect(error.message).toContain("rawBody");
    expect(rejection(() => verifyWebhook({ headers: good.headers, body: undefined }, { secret: SECRET })).reason).toBe(
      "parsed_body",
    );
  });

  it("reads a Map's and a plain object's header names in any letter case, as HTTP does", () => {
    const headers = { "X-Webhook-Secret": SECRET, "Content-Type": "application/json", "CONTENT-LENGTH": "5000" };
    for (const given of [headers, new Map(Object.entries(headers))]) {
      expect(
        equals(JobSchema, verifyWebhook({ method: "POST", headers: given, body: good.body }, { secret: SECRET }), job),
      ).toBe(true);
      // Content-Length is read too, in any case: over the limit before the body is read.
      expect(
        rejection(() => verifyWebhook({ headers: given, body: good.body }, { secret: SECRET, maxBodyBytes: 4000 }))
          .reason,
      ).toBe("too_large");
    }
    // A list is a repeated header, and so is one name in two letter cases: both values are read, joined as HTTP does,
    // so an extra value next to the right secret does not pass.
    for (const given of [
      new Map<string, string | string[]>([
        ["x-webhook-secret", ["nope-nope-nope", SECRET]],
        ["content-type", "application/json"],
      ]),
      new Map([
        ["X-Webhook-Secret", "nope-nope-nope"],
        ["x-webhook-secret", SECRET],
        ["content-type", "application/json"],
      ]),
      { "X-Webhook-Secret": "nope-nope-nope", "x-webhook-secret": SECRET, "content-type": "application/json" },
    ]) {
      expect(rejection(() => verifyWebhook({ headers: given, body: good.body }, { secret: SECRET })).reason).toBe(
        "wrong_secret",
      );
    }
  });

  it("says what to pass, in a TypeError, when the request or its headers or method are not what it reads", () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        { headers: null, body: good.body },
        /^verifyWebhook: request\.headers is null; pass the request's headers as a Headers object, a Map, or an object/,
      ],
      [{ body: good.body }, /^verifyWebhook: request\.headers is undefined; pass the request's headers/],
      [{ headers: "x-webhook-secret: s", body: good.body }, /^verifyWebhook: request\.headers is a string; pass/],
      [
        { headers: [["x-webhook-secret", SECRET]], body: good.body },
        /^verifyWebhook: request\.headers is an array; pass/,
      ],
      [
        { method: 5, headers: good.headers, body: good.body },
        /^verifyWebhook: request\.method is a number; pass the HTTP method as a string/,
      ],
      [null, /^verifyWebhook: the request is null; pass \{ method, headers, body \}/],
      [
        { headers: { "x-webhook-secret": { value: SECRET } }, body: good.body },
        /the "x-webhook-secret" header is an object; header values must be text/,
      ],
    ];
    for (const [request, message] of cases) {
      let error: unknown;
      try {
        verifyWebhook(request as Parameters<typeof verifyWebhook>[0], { secret: SECRET });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as TypeError).message).toMatch(message);
      expect((error as TypeError).message).not.toContain(SECRET);
    }
  });

  it("refuses a limit that is not a whole positive number of bytes", () => {
    for (const maxBodyBytes of [0, -1, 1.5, Number.NaN]) {
      expect(() => verifyWebhook({ headers: good.headers, body: good.body }, { secret: SECRET, maxBodyBytes })).toThrow(
        TypeError,
      );
    }
    expect(DEFAULT_MAX_BODY_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe("createTestWebhookRequest", () => {
  it("builds what the gateway sends: a POST with the job as proto3 JSON and the secret header", () => {
    const job = sampleJob();
    const request = createTestWebhookRequest(job, { secret: SECRET });
    expect(request.method).toBe("POST");
    expect(request.headers).toEqual({ "Content-Type": "application/json", "X-Webhook-Secret": SECRET });
    expect(request.body).toBe(toJsonString(JobSchema, job));
  });

  it("takes a plain object, a custom header and the {job} envelope", () => {
    const request = createTestWebhookRequest(
      { jobUuid: "j-7", status: JobStatus.FAILED },
      { secret: SECRET, header: "Token", envelope: "job" },
    );
    expect(request.headers["X-Webhook-Token"]).toBe(SECRET);
    expect(JSON.parse(request.body)).toEqual({ job: { jobUuid: "j-7", status: "JOB_STATUS_FAILED" } });
    expect(verifyWebhook(request, { secret: SECRET, header: "Token" }).status).toBe(JobStatus.FAILED);
  });

  it("refuses a secret that could not travel in a header", () => {
    expect(() => createTestWebhookRequest(sampleJob(), { secret: "two\nlines" })).toThrow(TypeError);
  });
});
