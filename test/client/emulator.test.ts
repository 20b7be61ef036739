// ClavataClient end to end against the gateway emulator, over real HTTP/2 on
// 127.0.0.1: every method, pagination, refusals, every error class, retries
// with injected faults, timeouts, aborts, many streams on one session, and
// that close() leaves no session open.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  contentHash,
  type Emulator,
  type EmulatorOptions,
  SAMPLE_POLICY_IDS,
  startEmulator,
} from "../../src/emulator/index.js";
import { SAMPLE_LABEL_VERSION_IDS, sampleKnownImage } from "../../src/emulator/sample-policies.js";
import {
  AbortedError,
  AuthenticationError,
  addWebhook,
  ClavataClient,
  type ClavataClientOptions,
  type ClavataError,
  ConnectionError,
  type EvaluateResponse,
  EvaluationRefusedError,
  InvalidRequestError,
  imageContent,
  JobStatus,
  jobQuery,
  NotFoundError,
  Outcome,
  PermissionDeniedError,
  RateLimitError,
  RefusalReason,
  ServerError,
  TimeoutError,
  textContent,
} from "../../src/index.js";
import { followTimers, timersAlive, whereMade } from "../support/active-resources.js";
import { drain, drainToError, thrown } from "../support/calls.js";
import { emulatorUrl, testProtocol } from "../support/protocol.js";
import { TRANSPORT } from "../support/transports.js";

// gRPC here; emulator-rest.test.ts runs this same file over REST.
const protocol = testProtocol();
const grpcOnly = protocol !== "grpc";

const KEY = "sk-emulator-test-1a2b3c4d5e6f7a8b9c0d";
const GIF = new Uint8Array([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(
  emulatorOptions: EmulatorOptions = {},
  clientOptions: ClavataClientOptions = {},
): Promise<{ emu: Emulator; client: ClavataClient }> {
  const emu = await startEmulator({
    logger: false,
    ...(protocol === "rest" ? { restPort: 0 } : {}),
    ...emulatorOptions,
  });
  cleanup.push(() => emu.close());
  const client = new ClavataClient({
    apiKey: KEY,
    baseUrl: emulatorUrl(emu),
    protocol,
    insecure: true,
    transport: TRANSPORT,
    retryBackoff: { initialDelayMs: 10, maxDelayMs: 50 },
    ...clientOptions,
  });
  cleanup.push(() => client.close());
  return { emu, client };
}

const hashOf = (text: string) => contentHash(new TextEncoder().encode(text));

/** A truncated PNG: a real header, then nothing. */
function truncatedPng(): Uint8Array {
  return sampleKnownImage().slice(0, 40);
}

describe("every method", () => {
  it("evaluate streams one result per item, matched through metadata", async () => {
    const { client, emu } = await setup();
    const texts = {
      threat: "I will kill you",
      calm: "have a nice day",
      fiction: "the character says I will kill you in the movie",
    };
    const results = await drain(
      client.evaluate({
        policyId: SAMPLE_POLICY_IDS.violence,
        contentData: Object.entries(texts).map(([id, text]) => textContent(text, { metadata: { id } })),
      }),
    );
    expect(results).toHaveLength(3);
    const byId = new Map(results.map((r) => [r.policyEvaluationReport?.contentMetadata.id, r]));
    expect(byId.get("threat")!.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.TRUE);
    expect(byId.get("calm")!.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.FALSE);
    expect(byId.get("fiction")!.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.FALSE);
    expect(byId.get("threat")!.contentHash).toBe(hashOf(texts.threat));
    expect(new Set(results.map((r) => r.jobUuid)).size).toBe(1);
    expect(emu.calls.Evaluate).toBe(1);
  });

  it("evaluateOne returns the one result", async () => {
    const { client } = await setup();
    const result = await client.evaluateOne({
      policyId: SAMPLE_POLICY_IDS.spam,
      contentData: textContent("buy now, limited time offer"),
      threshold: 0.5,
    });
    expect(result.$typeName).toBe("clavata.gateway.v1.EvaluateResponse");
    expect(result.policyEvaluationReport?.policyId).toBe(SAMPLE_POLICY_IDS.spam);
    expect(result.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.TRUE);
  });

  it("createJob, getJob and waitForJob follow a job to COMPLETED", async () => {
    const { client, emu } = await setup({ jobDelayMs: 30 });
    const created = await client.createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [textContent("I will kill you"), textContent("hello")],
    });
    expect([JobStatus.PENDING, JobStatus.RUNNING]).toContain(created.status);
    expect((await client.getJob(created.jobUuid)).jobUuid).toBe(created.jobUuid);
    const done = await client.waitForJob(created.jobUuid, { pollIntervalMs: 20 });
    expect(done.status).toBe(JobStatus.COMPLETED);
    expect(done.results).toHaveLength(2);
    expect(emu.calls.GetJob).toBeGreaterThanOrEqual(2);
  });

  it("waitForJob throws TimeoutError when the job does not finish in time, and AbortedError on abort", async () => {
    const { client, emu } = await setup({ jobDelayMs: 60_000 });
    const created = await client.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("hi")] });
    const timeout = await thrown(client.waitForJob(created.jobUuid, { pollIntervalMs: 20, timeoutMs: 150 }));
    expect(timeout).toBeInstanceOf(TimeoutError);
    expect(timeout.message).toMatch(/still (PENDING|RUNNING) after 150 ms/);
    // The wait that timed out may have cut its last poll short after sending it: one more call on the same
    // connection lets the emulator count that one before the count is taken.
    await client.getJob(created.jobUuid);
    const controller = new AbortController();
    const polls = emu.calls.GetJob;
    const waiting = thrown(
      client.waitForJob(created.jobUuid, { pollIntervalMs: 60_000, timeoutMs: Infinity, signal: controller.signal }),
    );
    // Abort while it waits between polls: after the first poll has been answered.
    await expect.poll(() => emu.calls.GetJob).toBe(polls + 1);
    controller.abort();
    expect(await waiting).toBeInstanceOf(AbortedError);
  });

  it("evaluateLabels answers one result per id, in order", async () => {
    const { client } = await setup();
    const response = await client.evaluateLabels({
      contentData: textContent("I will kill you with a gun"),
      labelVersionIds: [SAMPLE_LABEL_VERSION_IDS.threats, "label-unknown-v9", SAMPLE_LABEL_VERSION_IDS.weapons],
    });
    expect(response.results.map((r) => r.labelVersionId)).toEqual([
      SAMPLE_LABEL_VERSION_IDS.threats,
      "label-unknown-v9",
      SAMPLE_LABEL_VERSION_IDS.weapons,
    ]);
    expect(response.results[0]!.evaluation?.outcome).toBe(Outcome.TRUE);
    expect(response.results[1]!.error).toMatch(/unknown label version id/);
    expect(response.contentHash).toBe(hashOf("I will kill you with a gun"));
  });
});

describe("pagination", () => {
  it("listAllJobs stops at its signal, also within a page already fetched", async () => {
    const { client } = await setup({ jobDelayMs: 10 });
    for (let i = 0; i < 5; i++) {
      await client.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent(`m ${String(i)}`)] });
    }
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await thrown(
      (async () => {
        for await (const job of client.listAllJobs({}, { pageSize: 100, signal: controller.signal })) {
          seen.push(job.jobUuid);
          controller.abort();
        }
      })(),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(seen).toHaveLength(1);
  });

  it("listAllJobs walks every page; listJobs returns one page with its token", async () => {
    const { client, emu } = await setup({ jobDelayMs: 10 });
    const created: string[] = [];
    for (let i = 0; i < 23; i++) {
      const policyId = i % 3 === 0 ? SAMPLE_POLICY_IDS.spam : SAMPLE_POLICY_IDS.violence;
      created.push((await client.createJob({ policyId, contentData: [textContent(`message ${String(i)}`)] })).jobUuid);
    }
    const all = await drain(client.listAllJobs({}, { pageSize: 5 }));
    expect(all).toHaveLength(23);
    expect(new Set(all.map((j) => j.jobUuid))).toEqual(new Set(created));
    expect(emu.calls.ListJobs).toBe(5);

    const first = await client.listJobs({ pageSize: 10 });
    expect(first.jobs).toHaveLength(10);
    expect(first.nextPageToken).not.toBe("");
    const second = await client.listJobs({ pageSize: 10, pageToken: first.nextPageToken });
    const third = await client.listJobs({ pageSize: 10, pageToken: second.nextPageToken });
    expect(third.jobs).toHaveLength(3);
    expect(third.nextPageToken).toBe("");

    const spam = await drain(client.listAllJobs(jobQuery().policy(SAMPLE_POLICY_IDS.spam), { pageSize: 2 }));
    expect(spam).toHaveLength(8);
    expect(spam.every((j) => j.policyId === SAMPLE_POLICY_IDS.spam)).toBe(true);

    await client.waitForJob(created.at(-1)!, { pollIntervalMs: 10 });
    for (const uuid of created) await client.waitForJob(uuid, { pollIntervalMs: 10 });
    const completedRecently = await drain(
      client.listAllJobs(
        jobQuery()
          .status(JobStatus.COMPLETED)
          .createdBetween(Date.now() - 60_000, new Date())
          .completedBetween(Date.now() - 60_000, undefined),
        { pageSize: 7 },
      ),
    );
    expect(completedRecently).toHaveLength(23);
    expect(await drain(client.listAllJobs(jobQuery().createdBetween(undefined, Date.now() - 60_000)))).toHaveLength(0);
  });

  it("a bad page token is the gateway's InvalidRequestError", async () => {
    const { client } = await setup();
    expect(await thrown(client.listJobs({ pageToken: "garbage" }))).toBeInstanceOf(InvalidRequestError);
  });
});

describe("refusals", () => {
  it("one refused image: EvaluationRefusedError with its reason and hash, not retried", async () => {
    const { client, emu } = await setup();
    const error = await thrown(
      drain(client.evaluate({ policyId: SAMPLE_POLICY_IDS.images, contentData: [imageContent(GIF)] })),
    );
    expect(error).toBeInstanceOf(EvaluationRefusedError);
    const refused = error as EvaluationRefusedError;
    expect(refused.code).toBe(Code.Canceled);
    expect(refused.refusals).toHaveLength(1);
    expect(refused.topReason).toBe(RefusalReason.UNSUPPORTED_FORMAT);
    expect(refused.refusedContentHashes).toEqual([contentHash(GIF)]);
    expect(emu.calls.Evaluate).toBe(1);
  });

  it("many refused items: every detail, from evaluate, evaluateOne and createJob alike", async () => {
    const blocked = new TextEncoder().encode("known bad bytes");
    const { client, emu } = await setup({ blockedHashes: [contentHash(sampleKnownImage())] });
    const contentData = [
      imageContent(GIF, { metadata: { id: "gif" } }),
      textContent("fine"),
      imageContent(truncatedPng()),
      imageContent(sampleKnownImage()),
      imageContent(GIF),
    ];
    const fromEvaluate = (await thrown(
      drain(client.evaluate({ policyId: SAMPLE_POLICY_IDS.images, contentData })),
    )) as EvaluationRefusedError;
    const fromJob = (await thrown(
      client.createJob({ policyId: SAMPLE_POLICY_IDS.images, contentData }),
    )) as EvaluationRefusedError;
    for (const refused of [fromEvaluate, fromJob]) {
      expect(refused).toBeInstanceOf(EvaluationRefusedError);
      expect(refused.refusals.map((r) => r.reason).sort()).toEqual(
        [
          RefusalReason.CSAM,
          RefusalReason.INVALID_CONTENT,
          RefusalReason.UNSUPPORTED_FORMAT,
          RefusalReason.UNSUPPORTED_FORMAT,
        ].sort(),
      );
      expect(refused.topReason).toBe(RefusalReason.CSAM);
      expect(refused.mostCommonReason).toBe(RefusalReason.UNSUPPORTED_FORMAT);
      expect(refused.refusedContentHashes.sort()).toEqual(
        [contentHash(GIF), contentHash(truncatedPng()), contentHash(sampleKnownImage())].sort(),
      );
    }
    const one = await thrown(
      client.evaluateOne({ policyId: SAMPLE_POLICY_IDS.images, contentData: imageContent(truncatedPng()) }),
    );
    expect((one as EvaluationRefusedError).firstReason).toBe(RefusalReason.INVALID_CONTENT);
    expect(emu.calls.Evaluate).toBe(2);
    expect(emu.calls.CreateJob).toBe(1);
    expect(blocked.length).toBeGreaterThan(0);
  });
});

describe("every error class", () => {
  it("maps each failure to its class", async () => {
    const { client, emu } = await setup({ apiKeys: [KEY] }, { maxRetries: 0 });
    const wrongKey = new ClavataClient({
      apiKey: "sk-not-this-one",
      baseUrl: emulatorUrl(emu),
      protocol,
      insecure: true,
      transport: TRANSPORT,
    });
    cleanup.push(() => wrongKey.close());
    expect(await thrown(wrongKey.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6"))).toBeInstanceOf(AuthenticationError);

    expect(await thrown(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6"))).toBeInstanceOf(NotFoundError);
    expect(await thrown(client.evaluateOne({ policyId: "policy-nope", contentData: textContent("x") }))).toBeInstanceOf(
      NotFoundError,
    );
    expect(await thrown(client.getJob("not-a-uuid"))).toBeInstanceOf(InvalidRequestError);

    const cases: [Code, new (...args: never[]) => ClavataError][] = [
      [Code.PermissionDenied, PermissionDeniedError],
      [Code.ResourceExhausted, RateLimitError],
      [Code.Unavailable, ConnectionError],
      [Code.Internal, ServerError],
      [Code.Unknown, ServerError],
      [Code.DeadlineExceeded, TimeoutError],
      [Code.FailedPrecondition, InvalidRequestError],
    ];
    for (const [code, cls] of cases) {
      emu.faults.failNext("ListJobs", 1, code, { message: `injected ${String(code)}` });
      const error = await thrown(client.listJobs());
      expect(error).toBeInstanceOf(cls);
      expect(error.rawMessage).toBe(`injected ${String(code)}`);
    }

    emu.faults.delay("GetJob", 30_000, 1);
    expect(await thrown(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6", { timeoutMs: 150 }))).toBeInstanceOf(
      TimeoutError,
    );
    expect(await thrown(client.listJobs({}, { signal: AbortSignal.abort() }))).toBeInstanceOf(AbortedError);
  });

  it("rate limiting: RateLimitError with the delay, or a retry after it", async () => {
    const { client, emu } = await setup({ rateLimit: { requests: 1, perMs: 200 } });
    await client.listJobs();
    const limited = await thrown(client.listJobs({}, { maxRetries: 0 }));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect((limited as RateLimitError).retryDelayMs).toBeGreaterThan(0);
    expect((limited as RateLimitError).retryDelayMs).toBeLessThanOrEqual(200);
    // With retries, the client waits as long as the emulator says and gets through.
    const page = await client.listJobs({}, { maxRetries: 3 });
    expect(page.jobs).toEqual([]);
    expect(emu.calls.ListJobs).toBe(2);
  });

  it("an unreachable gateway is a ConnectionError", async () => {
    const { client, emu } = await setup({}, { maxRetries: 1 });
    await emu.close();
    expect(await thrown(client.listJobs())).toBeInstanceOf(ConnectionError);
  });
});

describe("retries with injected faults", () => {
  it("N failures then success", async () => {
    const { client, emu } = await setup({}, { maxRetries: 3 });
    emu.faults.failNext("Evaluate", 3, Code.Unavailable);
    const results = await drain(
      client.evaluate({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a"), textContent("b")] }),
    );
    expect(results).toHaveLength(2);
    expect(emu.calls.Evaluate).toBe(4);

    emu.faults.failNext("GetJob", 2, Code.ResourceExhausted, { retryDelayMs: 30 });
    const job = await client.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a")] });
    expect((await client.getJob(job.jobUuid)).jobUuid).toBe(job.jobUuid);
    expect(emu.calls.GetJob).toBe(3);

    emu.faults.failNext("EvaluateLabels", 1, Code.Unavailable);
    await client.evaluateLabels({ contentData: textContent("a"), labelVersionIds: [SAMPLE_LABEL_VERSION_IDS.links] });
    expect(emu.calls.EvaluateLabels).toBe(2);

    emu.faults.failNext("ListJobs", 4, Code.Unavailable);
    expect(await thrown(client.listJobs())).toBeInstanceOf(ConnectionError);
    expect(emu.calls.ListJobs).toBe(4);
  });

  it("a stream that fails after its first message is not retried", async () => {
    const { client, emu } = await setup({ evaluateJitterMs: 0 });
    emu.faults.failStreamAfter(1, Code.Unavailable);
    const { messages, error } = await drainToError(
      client.evaluate({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a"), textContent("b")] }),
    );
    expect(messages).toHaveLength(1);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(emu.calls.Evaluate).toBe(1);
  });

  it.skipIf(grpcOnly)(
    "a stream reset (RST_STREAM CANCEL) is a ConnectionError and is not retried, before or after the first message",
    async () => {
      const { client, emu } = await setup({ evaluateJitterMs: 0 });
      emu.faults.resetStreamAfter(1);
      const seen: EvaluateResponse[] = [];
      const error = await thrown(
        (async () => {
          for await (const r of client.evaluate({
            policyId: SAMPLE_POLICY_IDS.spam,
            contentData: [textContent("a"), textContent("b")],
          }))
            seen.push(r);
        })(),
      );
      expect(seen).toHaveLength(1);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(emu.calls.Evaluate).toBe(1);
      // gRPC maps a reset with CANCEL to CANCELLED, which is not a status to retry (REFUSED_STREAM would be).
      emu.faults.resetStreamAfter(0);
      const early = await thrown(
        drain(client.evaluate({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a")] })),
      );
      expect(early).toBeInstanceOf(ConnectionError);
      expect(early.code).toBe(Code.Canceled);
      expect(emu.calls.Evaluate).toBe(2);
    },
  );

  it("CreateJob is not retried once it reached the gateway", async () => {
    const { client, emu } = await setup({}, { maxRetries: 5 });
    emu.faults.failNext("CreateJob", 1, Code.Unavailable);
    expect(
      await thrown(client.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a")] })),
    ).toBeInstanceOf(ConnectionError);
    emu.faults.failNext("CreateJob", 1, Code.ResourceExhausted, { retryDelayMs: 10 });
    expect(
      await thrown(client.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("a")] })),
    ).toBeInstanceOf(RateLimitError);
    expect(emu.calls.CreateJob).toBe(2);
  });

  it("an attempt that runs out of its attempt timeout is retried within the overall timeout", async () => {
    const { client, emu } = await setup({}, { attemptTimeoutMs: 200, timeoutMs: 10_000 });
    emu.faults.delay("ListJobs", 30_000, 1);
    await client.listJobs();
    expect(emu.calls.ListJobs).toBe(2);
  });

  it("an abort during the wait between retries stops the call at once", async () => {
    const { client, emu } = await setup({}, { timeoutMs: Infinity });
    // The emulator asks for a wait far beyond the test's time limit: only the abort can end the call in time.
    emu.faults.failNext("ListJobs", 1, Code.ResourceExhausted, { retryDelayMs: 600_000 });
    const controller = new AbortController();
    const pending = thrown(client.listJobs({}, { signal: controller.signal }));
    await expect.poll(() => emu.calls.ListJobs).toBe(1);
    controller.abort();
    expect(await pending).toBeInstanceOf(AbortedError);
    expect(emu.calls.ListJobs).toBe(1);
  });

  it.skipIf(grpcOnly)("keeps working after the gateway sends GOAWAY", async () => {
    const { client, emu } = await setup();
    await client.listJobs();
    emu.faults.goAway();
    await expect.poll(() => emu.openSessions()).toBe(0);
    await client.listJobs();
    expect(emu.openSessions()).toBe(1);
  });
});

describe("streams and sessions", () => {
  it("aborting in the middle of a stream throws AbortedError after the results so far", async () => {
    const jitter = 60_000;
    const delayOf = (text: string) => Number.parseInt(hashOf(text).slice(-8), 16) % jitter;
    const texts = Array.from({ length: 20_000 }, (_, i) => `item ${String(i)}`);
    const fast = texts.find((t) => delayOf(t) < 200)!;
    const slow = texts.find((t) => delayOf(t) > 30_000)!;
    expect(fast && slow).toBeTruthy();
    const { client } = await setup({ evaluateJitterMs: jitter });
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate(
          { policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent(slow), textContent(fast)] },
          { signal: controller.signal },
        )) {
          seen.push(r.contentHash);
          controller.abort();
        }
      })(),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(seen).toEqual([hashOf(fast)]);
    // The client is still usable, on the same session.
    await client.listJobs();
  });

  it("leaving a stream half-read leaves no timer behind, whatever the call's timeoutMs", async () => {
    const { client } = await setup({ evaluateJitterMs: 0 });
    await client.listJobs();
    // Follows the timers made from here on, one by one (a count of active timers moves with vitest's own).
    followTimers();
    for (const options of [{ timeoutMs: 600_000 }, { timeoutMs: 600_000, attemptTimeoutMs: 300_000 }]) {
      const texts = ["a", "b", "c"].map((t) => textContent(t));
      for await (const r of client.evaluate({ policyId: SAMPLE_POLICY_IDS.spam, contentData: texts }, options)) {
        expect(r.contentHash).toMatch(/^fnv1a128::/);
        break;
      }
      await client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6", options).catch(() => undefined);
    }
    // The call's 5- and 10-minute timers must not stay armed once the stream is left.
    await expect.poll(() => timersAlive().map(whereMade)).toEqual([]);
  });

  it.skipIf(grpcOnly)("100 concurrent streams share one HTTP/2 session", async () => {
    const { client, emu } = await setup();
    const streams = Array.from({ length: 100 }, (_, i) =>
      drain(
        client.evaluate({
          policyId: SAMPLE_POLICY_IDS.violence,
          contentData: [textContent(`stream ${String(i)}`), textContent("I will kill you")],
        }),
      ),
    );
    const results = await Promise.all(streams);
    expect(results.every((r) => r.length === 2)).toBe(true);
    expect(emu.calls.Evaluate).toBe(100);
    expect(emu.openSessions()).toBe(1);
  });

  it.skipIf(grpcOnly)("no session stays open after close(), also with calls in flight", async () => {
    const { client, emu } = await setup();
    await client.listJobs();
    expect(emu.openSessions()).toBe(1);
    emu.faults.delay("GetJob", 60_000, 1);
    const pending = thrown(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    await expect.poll(() => emu.calls.GetJob).toBe(1);
    await client.close();
    expect(await pending).toBeInstanceOf(AbortedError);
    await expect.poll(() => emu.openSessions()).toBe(0);
    expect(await thrown(client.listJobs())).toBeInstanceOf(ConnectionError);
    expect(emu.openSessions()).toBe(0);
  });

  it.skipIf(grpcOnly)("works over TLS with the emulator", async () => {
    const cert = readFileSync(new URL("../fixtures/localhost-cert.pem", import.meta.url));
    const key = readFileSync(new URL("../fixtures/localhost-key.pem", import.meta.url));
    const emu = await startEmulator({ logger: false, tls: { cert, key } });
    cleanup.push(() => emu.close());
    await using client = new ClavataClient({ apiKey: KEY, baseUrl: emu.url, tls: { ca: cert }, transport: TRANSPORT });
    expect(emu.url.startsWith("https://")).toBe(true);
    expect((await client.listJobs()).jobs).toEqual([]);
  });
});

describe("webhooks", () => {
  it("the gateway calls the webhook with the X-Webhook- headers when the job completes", async () => {
    const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.end("ok");
      });
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    cleanup.push(() => new Promise((resolve) => receiver.close(() => resolve())));
    const url = `http://127.0.0.1:${String((receiver.address() as AddressInfo).port)}/hooks/clavata`;

    const { client, emu } = await setup({ jobDelayMs: 20 });
    const job = await client.createJob(
      addWebhook({ policyId: SAMPLE_POLICY_IDS.violence, contentData: [textContent("I will kill you")] }, url, {
        Secret: "s3cret",
      }),
    );
    const delivery = await emu.waitForDelivery(job.jobUuid, 10_000);
    expect(delivery.outcome).toBe("delivered");
    expect(received).toHaveLength(1);
    expect(received[0]!.headers["x-webhook-secret"]).toBe("s3cret");
    expect(received[0]!.body).toContain(job.jobUuid);
  });
});
