// The emulator's REST port spoken to with plain fetch, no SDK: the paths, bodies, NDJSON lines, error bodies and
// HTTP statuses that the wire contract documents for the gateway's REST surface.
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { contentHash, type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { SAMPLE_LABEL_VERSION_IDS } from "../../src/emulator/sample-policies.js";

const KEY = "sk-raw-rest-0123456789";
const GIF = Buffer.from([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

async function start(options: Parameters<typeof startEmulator>[0] = {}): Promise<string> {
  emu = await startEmulator({ logger: false, restPort: 0, apiKeys: [KEY], evaluateJitterMs: 0, ...options });
  return emu.restUrl!;
}

function call(base: string, method: string, path: string, body?: unknown, key: string | null = KEY) {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const lines = async (res: Response) =>
  (await res.text())
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as StreamLine);

interface StreamLine {
  result?: {
    jobUuid: string;
    contentHash: string;
    policyEvaluationReport: { contentMetadata?: Record<string, string>; reviewResult: { outcome: string } };
  };
  error?: unknown;
}

describe("REST surface of the emulator, without the SDK", () => {
  it("POST /v1/jobs/stream answers NDJSON result lines in proto3 JSON, and accepts snake_case and unknown fields", async () => {
    const base = await start();
    const res = await call(base, "POST", "/v1/jobs/stream", {
      content_data: [{ text: "I will kill you", metadata: { id: "t" } }, { text: "hello" }],
      policyId: SAMPLE_POLICY_IDS.violence,
      aFieldFromTheFuture: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const out = await lines(res);
    expect(out).toHaveLength(2);
    const threat = out.map((l) => l.result!).find((r) => r.policyEvaluationReport.contentMetadata?.id === "t")!;
    expect(Object.keys(out[0]!)).toEqual(["result"]);
    expect(threat.contentHash).toBe(contentHash(new TextEncoder().encode("I will kill you")));
    expect(threat.jobUuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(threat.policyEvaluationReport.reviewResult.outcome).toBe("OUTCOME_TRUE");
  });

  it("an error after the first result is an {error} line under 200, and the stream ends", async () => {
    const base = await start();
    emu.faults.failStreamAfter(1, Code.Unavailable);
    const res = await call(base, "POST", "/v1/jobs/stream", {
      contentData: [{ text: "a" }, { text: "b" }],
      policyId: SAMPLE_POLICY_IDS.spam,
    });
    expect(res.status).toBe(200);
    const out = await lines(res);
    expect(out).toHaveLength(2);
    expect(out[0]!.result).toBeDefined();
    expect(out[1]!.error).toEqual({ code: 14, message: expect.stringMatching(/injected/), details: [] });
  });

  it("a refusal is HTTP 499 with a PrecheckFailure per refused item", async () => {
    const base = await start();
    const res = await call(base, "POST", "/v1/jobs/stream", {
      contentData: [{ image: GIF.toString("base64") }, { text: "fine" }],
      policyId: SAMPLE_POLICY_IDS.images,
    });
    expect(res.status).toBe(499);
    const body = (await res.json()) as { code: number; details: Record<string, unknown>[] };
    expect(body.code).toBe(1);
    expect(body.details).toEqual([
      expect.objectContaining({
        "@type": "type.googleapis.com/clavata.gateway.v1.PrecheckFailure",
        type: "PRECHECK_FAILURE_TYPE_UNSUPPORTED_IMAGE_FORMAT",
        details: contentHash(GIF),
      }),
    ]);
  });

  it("errors map to the documented HTTP statuses with a google.rpc.Status body", async () => {
    const base = await start();
    const noKey = await call(base, "GET", "/v1/jobs", undefined, null);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({ code: 16, message: expect.any(String), details: [] });
    const badUuid = await call(base, "GET", "/v1/jobs/not-a-uuid");
    expect(badUuid.status).toBe(400);
    expect(((await badUuid.json()) as { code: number }).code).toBe(3);
    const missing = await call(base, "GET", "/v1/jobs/3fa85f64-5717-4562-b3fc-2c963f66afa6");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: number }).code).toBe(5);
    const badJson = await fetch(`${base}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(badJson.status).toBe(400);
    const noRoute = await call(base, "GET", "/v2/nothing");
    expect(noRoute.status).toBe(404);
    emu.faults.failNext("ListJobs", 1, Code.Unavailable, { retryDelayMs: 1500 });
    const unavailable = await call(base, "GET", "/v1/jobs");
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toBe("2");
    expect(((await unavailable.json()) as { details: unknown[] }).details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.500s" },
    ]);
  });

  it("rate limiting is 429 with Retry-After and a RetryInfo detail", async () => {
    const base = await start({ rateLimit: { requests: 1, perMs: 60_000, retryDelayMs: 3000 } });
    expect((await call(base, "GET", "/v1/jobs")).status).toBe(200);
    const limited = await call(base, "GET", "/v1/jobs");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    const body = (await limited.json()) as { code: number; details: { "@type": string }[] };
    expect(body.code).toBe(8);
    expect(body.details[0]!["@type"]).toBe("type.googleapis.com/google.rpc.RetryInfo");
  });

  it("jobs: POST /v1/jobs, GET /v1/jobs/{jobUuid}, GET /v1/jobs with query parameters", async () => {
    const base = await start({ jobDelayMs: 5 });
    const created = await call(base, "POST", "/v1/jobs", {
      contentData: [{ text: "I will kill you" }],
      policyId: SAMPLE_POLICY_IDS.violence,
    });
    expect(created.status).toBe(200);
    const { job } = (await created.json()) as { job: { jobUuid: string; status: string } };
    expect(["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"]).toContain(job.status);
    await expect
      .poll(async () => {
        const got = (await (await call(base, "GET", `/v1/jobs/${job.jobUuid}`)).json()) as { job: { status: string } };
        return got.job.status;
      })
      .toBe("JOB_STATUS_COMPLETED");
    const since = new Date(Date.now() - 60_000).toISOString();
    const listed = await call(
      base,
      "GET",
      `/v1/jobs?query.status=JOB_STATUS_COMPLETED&query.createdTimeRange.start=${since}&pageSize=1`,
    );
    const page = (await listed.json()) as { jobs: { jobUuid: string; results: unknown[] }[]; nextPageToken?: string };
    expect(page.jobs.map((j) => j.jobUuid)).toEqual([job.jobUuid]);
    expect(page.jobs[0]!.results).toHaveLength(1);
    const none = await call(base, "GET", "/v1/jobs?query.status=4&page_size=5");
    expect(((await none.json()) as { jobs?: unknown[] }).jobs ?? []).toEqual([]);
  });

  it("a malformed percent-escape in a path variable is 400 INVALID_ARGUMENT, not 500", async () => {
    const base = await start();
    for (const path of ["/v1/jobs/%zz", "/v1/jobs/%", "/v1/jobs/%C3%28"]) {
      const res = await call(base, "GET", path);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        code: 3,
        message: expect.stringMatching(/malformed percent-escape.*two hex digits/),
        details: [],
      });
    }
  });

  it("an enum query parameter that is not a name or number of the enum is 400 INVALID_ARGUMENT naming it", async () => {
    const base = await start({ jobDelayMs: 60_000 });
    expect(
      (await call(base, "POST", "/v1/jobs", { contentData: [{ text: "hi" }], policyId: "policy-spam" })).status,
    ).toBe(200);
    for (const value of ["COMPLETED", "JOB_STATUS_COMPLETE", "99", ""]) {
      const res = await call(base, "GET", `/v1/jobs?query.status=${value}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: number; message: string };
      expect(body.code).toBe(3);
      expect(body.message).toContain(`query parameter query.status: ${JSON.stringify(value)} is not a JobStatus`);
      expect(body.message).toContain("JOB_STATUS_PENDING, JOB_STATUS_RUNNING, JOB_STATUS_COMPLETED");
    }
    // Names and numbers of the enum still filter (the one job is PENDING).
    for (const value of ["JOB_STATUS_PENDING", "1", "JOB_STATUS_COMPLETED", "3"]) {
      const res = await call(base, "GET", `/v1/jobs?query.status=${value}`);
      expect(res.status).toBe(200);
      const jobs = ((await res.json()) as { jobs: unknown[] }).jobs;
      expect(jobs).toHaveLength(value === "JOB_STATUS_PENDING" || value === "1" ? 1 : 0);
    }
    // A repeated enum: every value is checked.
    const batch = await call(base, "GET", "/v1/batch-jobs?states=BATCH_JOB_STATE_COMPLETED&states=NOPE");
    expect(batch.status).toBe(400);
    const message = ((await batch.json()) as { message: string }).message;
    expect(message).toContain('query parameter states: "NOPE" is not a BatchJobState');
    expect(message).toContain("BATCH_JOB_STATE_COMPLETED");
    expect((await call(base, "GET", "/v1/batch-jobs?states=BATCH_JOB_STATE_COMPLETED")).status).toBe(200);
  });

  it("POST /v1/labels/evaluate answers one result per label version id", async () => {
    const base = await start();
    const res = await call(base, "POST", "/v1/labels/evaluate", {
      contentData: { text: "I will kill you with a gun" },
      labelVersionIds: [SAMPLE_LABEL_VERSION_IDS.threats, "nope"],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: { labelVersionId: string; evaluation?: { outcome: string } }[] };
    expect(body.results.map((r) => r.labelVersionId)).toEqual([SAMPLE_LABEL_VERSION_IDS.threats, "nope"]);
    expect(body.results[0]!.evaluation?.outcome).toBe("OUTCOME_TRUE");
  });
});
