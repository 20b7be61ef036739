// The emulator over real HTTP/2 on loopback, driven with the generated Connect clients.

import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fromJsonString, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makePng } from "../../src/emulator/image.js";
import {
  contentHash,
  type EmulatorOptions,
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  startEmulator,
} from "../../src/emulator/index.js";
import {
  type EvaluateRequestSchema,
  GatewayService,
  type Job,
  JobSchema,
  JobStatus,
  LabelsService,
  Outcome,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RetryInfoSchema,
} from "../../src/index.js";
import { drain, drainToError } from "../support/calls.js";

const KEY = "test-key-0123456789";
const text = (value: string, metadata: Record<string, string> = {}) => ({
  content: { case: "text" as const, value },
  metadata,
});
const image = (value: Uint8Array) => ({ content: { case: "image" as const, value } });
const GIF = new Uint8Array([...Buffer.from("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);

/** Starts an emulator and a gRPC client on one HTTP/2 session; both are closed by the returned `close`. */
async function setup(options: EmulatorOptions = {}, key: string | null = KEY) {
  const emulator = await startEmulator({ logger: false, ...options });
  const sessions: Http2SessionManager[] = [];
  const transportFor = (make: typeof createGrpcTransport = createGrpcTransport): Transport => {
    const sessionManager = new Http2SessionManager(emulator.url);
    sessions.push(sessionManager);
    // httpVersion is an option of the Connect and gRPC-Web transports; the gRPC transport always uses HTTP/2.
    return make({
      baseUrl: emulator.url,
      httpVersion: "2",
      sessionManager,
      interceptors:
        key === null
          ? []
          : [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${key}`);
                return next(req);
              },
            ],
    } as Parameters<typeof createGrpcTransport>[0]);
  };
  const transport = transportFor();
  return {
    emulator,
    transportFor,
    gateway: createClient(GatewayService, transport),
    labels: createClient(LabelsService, transport),
    async close() {
      for (const s of sessions) s.abort();
      await emulator.close();
    },
  };
}
type Setup = Awaited<ReturnType<typeof setup>>;

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const violence = SAMPLE_POLICY_IDS.violence;

describe("emulator", () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup();
  });
  afterAll(async () => {
    await s.close();
  });

  describe("Evaluate", () => {
    it("answers one response per item with reports, hashes and echoed metadata", async () => {
      const items = [text("I will kill you", { id: "a" }), text("have a nice day", { id: "b" }), image(makePng(4, 4))];
      const results = await drain(s.gateway.evaluate({ policyId: violence, contentData: items }));
      expect(results).toHaveLength(3);
      const jobUuids = new Set(results.map((r) => r.jobUuid));
      expect(jobUuids.size).toBe(1);
      for (const r of results) {
        expect(r.contentHash).toMatch(/^fnv1a128::[0-9a-f]{32}$/);
        expect(r.policyEvaluationReport?.policyId).toBe(violence);
        expect(r.policyEvaluationReport?.contentHash).toBe(r.contentHash);
        expect(r.policyEvaluationReport?.threshold).toBe(0.5);
      }
      const byId = new Map(results.map((r) => [r.policyEvaluationReport?.contentMetadata.id, r]));
      expect(byId.get("a")?.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.TRUE);
      expect(byId.get("b")?.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.FALSE);
      expect(byId.get("a")?.contentHash).toBe(contentHash(new TextEncoder().encode("I will kill you")));
    });

    it("answers in completion order, which differs from the input order", async () => {
      const items = Array.from({ length: 30 }, (_, i) => text(`message number ${i}`, { i: String(i) }));
      const results = await drain(s.gateway.evaluate({ policyId: violence, contentData: items }));
      const order = results.map((r) => Number(r.policyEvaluationReport?.contentMetadata.i));
      expect([...order].sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
      expect(order).not.toEqual(items.map((_, i) => i));
    });

    it("applies the request threshold, and 0 or unset means 0.5", async () => {
      for (const [threshold, expected] of [
        [undefined, 0.5],
        [0, 0.5],
        [0.9, 0.9],
      ] as const) {
        const [r] = await drain(s.gateway.evaluate({ policyId: violence, contentData: [text("hello")], threshold }));
        expect(r?.policyEvaluationReport?.threshold).toBe(expected);
      }
    });
  });

  describe("refusals", () => {
    async function refusal(items: MessageInitShape<typeof EvaluateRequestSchema>["contentData"], e: Setup = s) {
      const err = await failure(drain(e.gateway.evaluate({ policyId: violence, contentData: items })));
      expect(err.code).toBe(Code.Canceled);
      return err.findDetails(PrecheckFailureSchema);
    }

    it("refuses an image that is not PNG, JPEG or WebP", async () => {
      const [f, ...rest] = await refusal([image(GIF)]);
      expect(rest).toHaveLength(0);
      expect(f?.type).toBe(PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT);
      expect(f?.details?.kind).toEqual({ case: "stringValue", value: contentHash(GIF) });
    });

    it("refuses a truncated PNG as invalid", async () => {
      const truncated = makePng(8, 8).subarray(0, 40);
      const [f] = await refusal([image(truncated)]);
      expect(f?.type).toBe(PrecheckFailureType.INVALID_IMAGE);
      expect(f?.details?.kind).toEqual({ case: "stringValue", value: contentHash(truncated) });
    });

    it("refuses content on the block list as NCMEC, at start and at run time", async () => {
      const blocked = new TextEncoder().encode("known bad content");
      const e = await setup({ blockedHashes: [contentHash(blocked)] });
      try {
        const [f] = await refusal([text("known bad content")], e);
        expect(f?.type).toBe(PrecheckFailureType.NCMEC);
        e.emulator.engine.blockHash(contentHash(new TextEncoder().encode("later")));
        const [g] = await refusal([text("later")], e);
        expect(g?.type).toBe(PrecheckFailureType.NCMEC);
      } finally {
        await e.close();
      }
    });

    it("carries one detail per refused item, and none for accepted items", async () => {
      const details = await refusal([
        text("fine"),
        image(GIF),
        image(makePng(2, 2)),
        image(makePng(3, 3).subarray(0, 30)),
      ]);
      expect(details.map((d) => d.type)).toEqual([
        PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT,
        PrecheckFailureType.INVALID_IMAGE,
      ]);
    });

    it("refuses CreateJob the same way, without creating a job", async () => {
      const err = await failure(s.gateway.createJob({ policyId: violence, contentData: [image(GIF)] }));
      expect(err.code).toBe(Code.Canceled);
      expect(err.findDetails(PrecheckFailureSchema)).toHaveLength(1);
    });
  });

  describe("bad input", () => {
    const cases: [string, () => Promise<unknown>, Code, RegExp][] = [
      [
        "no content items",
        () => drain(s.gateway.evaluate({ policyId: violence, contentData: [] })),
        Code.InvalidArgument,
        /content_data is empty/,
      ],
      [
        "an item with no content",
        () => drain(s.gateway.evaluate({ policyId: violence, contentData: [{}] })),
        Code.InvalidArgument,
        /content_data\[0\]/,
      ],
      [
        "empty text",
        () => drain(s.gateway.evaluate({ policyId: violence, contentData: [text("")] })),
        Code.InvalidArgument,
        /content_data\[0\]/,
      ],
      [
        "a missing policy id",
        () => drain(s.gateway.evaluate({ contentData: [text("x")] })),
        Code.InvalidArgument,
        /policy_id is empty/,
      ],
      [
        "an unknown policy",
        () => drain(s.gateway.evaluate({ policyId: "nope", contentData: [text("x")] })),
        Code.NotFound,
        /policy "nope" not found/,
      ],
      [
        "a threshold above 1",
        () => drain(s.gateway.evaluate({ policyId: violence, contentData: [text("x")], threshold: 1.5 })),
        Code.InvalidArgument,
        /threshold must be between 0 and 1/,
      ],
      [
        "a negative threshold",
        () => s.gateway.createJob({ policyId: violence, contentData: [text("x")], threshold: -0.1 }),
        Code.InvalidArgument,
        /threshold must be between 0 and 1/,
      ],
      ["a malformed job uuid", () => s.gateway.getJob({ jobUuid: "not-a-uuid" }), Code.InvalidArgument, /not a UUID/],
      ["an empty job uuid", () => s.gateway.getJob({ jobUuid: "" }), Code.InvalidArgument, /job_uuid is empty/],
      [
        "an unknown job",
        () => s.gateway.getJob({ jobUuid: "3fa85f64-5717-4562-b3fc-2c963f66afa6" }),
        Code.NotFound,
        /not found/,
      ],
      [
        "more than 10 label ids",
        () =>
          s.labels.evaluateLabels({
            contentData: text("x"),
            labelVersionIds: Array.from({ length: 11 }, (_, i) => `l${i}`),
          }),
        Code.InvalidArgument,
        /at most 10/,
      ],
      [
        "no label ids",
        () => s.labels.evaluateLabels({ contentData: text("x"), labelVersionIds: [] }),
        Code.InvalidArgument,
        /label_version_ids is empty/,
      ],
      [
        "labels without content",
        () => s.labels.evaluateLabels({ labelVersionIds: ["x"] }),
        Code.InvalidArgument,
        /content_data is missing/,
      ],
      [
        "an http webhook to a remote host",
        () =>
          s.gateway.createJob({
            policyId: violence,
            contentData: [text("x")],
            webhook: { url: "http://example.com/hook" },
          }),
        Code.InvalidArgument,
        /https/,
      ],
      ["a page size over 1000", () => s.gateway.listJobs({ pageSize: 1001 }), Code.InvalidArgument, /1000/],
      ["a tampered page token", () => s.gateway.listJobs({ pageToken: "garbage!" }), Code.InvalidArgument, /token/],
    ];
    for (const [name, call, code, message] of cases) {
      it(`answers ${Code[code]} for ${name}`, async () => {
        const err = await failure(call());
        expect(err.code).toBe(code);
        expect(err.rawMessage).toMatch(message);
      });
    }

    it("answers INVALID_ARGUMENT for an oversize request", async () => {
      const e = await setup({ maxMessageBytes: 1024 });
      try {
        const err = await failure(
          drain(e.gateway.evaluate({ policyId: violence, contentData: [text("x".repeat(2000))] })),
        );
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(/at most 1024 bytes/);
      } finally {
        await e.close();
      }
    });

    it("survives bytes that are not a protobuf message, and keeps serving", async () => {
      const session = http2.connect(s.emulator.url);
      try {
        const status = await new Promise<string | undefined>((resolve, reject) => {
          const req = session.request({
            ":method": "POST",
            ":path": "/clavata.gateway.v1.GatewayService/GetJob",
            "content-type": "application/grpc",
            te: "trailers",
            authorization: `Bearer ${KEY}`,
          });
          let grpcStatus: string | undefined;
          req.on("response", (h) => (grpcStatus ??= h["grpc-status"] as string | undefined));
          req.on("trailers", (t) => (grpcStatus = t["grpc-status"] as string | undefined));
          req.on("close", () => resolve(grpcStatus));
          req.on("error", reject);
          req.resume();
          // A gRPC frame header announcing 5 bytes, then bytes that are no valid protobuf.
          req.end(Buffer.from([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]));
        });
        expect(status).not.toBe("0");
        expect(status).toBeDefined();
      } finally {
        session.close();
      }
      const [r] = await drain(s.gateway.evaluate({ policyId: violence, contentData: [text("still alive")] }));
      expect(r?.contentHash).toMatch(/^fnv1a128::/);
    });
  });

  describe("jobs", () => {
    it("moves a job PENDING → RUNNING → COMPLETED with one result per item", async () => {
      const { job } = await s.gateway.createJob({
        policyId: violence,
        contentData: [text("I will kill you"), text("hi")],
      });
      expect(job?.status).toBe(JobStatus.PENDING);
      const seen = new Set<JobStatus>([job!.status]);
      let current: Job | undefined = job;
      await expect
        .poll(async () => {
          current = (await s.gateway.getJob({ jobUuid: job!.jobUuid })).job;
          seen.add(current!.status);
          return current?.status;
        })
        .toBe(JobStatus.COMPLETED);
      expect(current?.results).toHaveLength(2);
      expect(current?.completed).toBeDefined();
      expect(current?.results[0]?.report?.reviewResult?.outcome).toBe(Outcome.TRUE);
      expect([...seen].every((st) => [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED].includes(st))).toBe(
        true,
      );
    });

    it("lists jobs with filters and pages through all of them", async () => {
      const e = await setup({ jobDelayMs: 1 }, "a-customer-of-its-own");
      try {
        const before = new Date(Date.now() - 1000);
        const spam = SAMPLE_POLICY_IDS.spam;
        const made: string[] = [];
        for (let i = 0; i < 12; i++) {
          const { job } = await e.gateway.createJob({
            policyId: i % 3 === 0 ? spam : violence,
            contentData: [text(`job ${i}`)],
          });
          made.push(job!.jobUuid);
        }
        // Every job ends a moment after it is created (jobDelayMs: 1); wait for that, however long a loaded machine takes.
        await expect
          .poll(async () => (await e.gateway.listJobs({ query: { status: JobStatus.COMPLETED }, pageSize: 100 })).jobs)
          .toHaveLength(12);
        const all: string[] = [];
        let pageToken = "";
        let pages = 0;
        do {
          const page = await e.gateway.listJobs({ pageSize: 5, pageToken });
          all.push(...page.jobs.map((j) => j.jobUuid));
          pageToken = page.nextPageToken;
          pages++;
        } while (pageToken !== "");
        expect(pages).toBe(3);
        expect([...all].sort()).toEqual([...made].sort());
        const defaultPage = await e.gateway.listJobs({});
        expect(defaultPage.jobs).toHaveLength(10);
        const bySpam = await e.gateway.listJobs({ query: { policyId: spam }, pageSize: 100 });
        expect(bySpam.jobs).toHaveLength(4);
        const completed = await e.gateway.listJobs({ query: { status: JobStatus.COMPLETED }, pageSize: 100 });
        expect(completed.jobs).toHaveLength(12);
        const created = await e.gateway.listJobs({
          query: {
            createdTimeRange: {
              start: timestampFromDate(before),
              end: timestampFromDate(new Date(Date.now() + 1000)),
              inclusive: true,
            },
          },
          pageSize: 100,
        });
        expect(created.jobs).toHaveLength(12);
        const none = await e.gateway.listJobs({
          query: { completedTimeRange: { start: timestampFromDate(new Date(Date.now() + 60_000)) } },
          pageSize: 100,
        });
        expect(none.jobs).toHaveLength(0);
        // Another customer's jobs are not visible.
        expect((await s.gateway.listJobs({ query: { policyId: spam } })).jobs.map((j) => j.jobUuid)).not.toContain(
          made[0],
        );
      } finally {
        await e.close();
      }
    });
  });

  describe("webhooks", () => {
    let receiver: Server;
    let received: { headers: IncomingHttpHeaders; body: string }[] = [];
    beforeAll(async () => {
      receiver = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          received.push({ headers: req.headers, body });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    });
    afterAll(async () => {
      await new Promise((r) => receiver.close(r));
    });
    afterEach(() => {
      received = [];
    });

    it("POSTs the completed job as JSON with X-Webhook- headers to a loopback receiver", async () => {
      const port = (receiver.address() as AddressInfo).port;
      const { job } = await s.gateway.createJob({
        policyId: violence,
        contentData: [text("I will kill you")],
        webhook: { url: `http://127.0.0.1:${port}/hooks/clavata`, extraHeaders: { Secret: "s3cret" } },
      });
      const delivery = await s.emulator.waitForDelivery(job!.jobUuid);
      expect(delivery.outcome).toBe("delivered");
      expect(received).toHaveLength(1);
      expect(received[0]!.headers["x-webhook-secret"]).toBe("s3cret");
      expect(received[0]!.headers["content-type"]).toMatch(/^application\/json/);
      const delivered = fromJsonString(JobSchema, received[0]!.body);
      const { job: stored } = await s.gateway.getJob({ jobUuid: job!.jobUuid });
      // Compared on the wire: label_matches is a float, which JSON and binary carry at different precisions.
      expect(toBinary(JobSchema, delivered)).toEqual(toBinary(JobSchema, stored!));
      expect(delivered.status).toBe(JobStatus.COMPLETED);
    });

    it("never contacts a non-loopback https webhook", async () => {
      const { job } = await s.gateway.createJob({
        policyId: violence,
        contentData: [text("hello")],
        webhook: { url: "https://hooks.example.com/clavata" },
      });
      const delivery = await s.emulator.waitForDelivery(job!.jobUuid);
      expect(delivery.outcome).toBe("not-contacted");
    });
  });

  describe("EvaluateLabels", () => {
    it("answers one result per id in request order, with an error for an unknown id", async () => {
      const sections = SAMPLE_POLICIES.flatMap((p) => p.sections).filter((sec) => sec.labelVersionId);
      const ids = [sections[1]!.labelVersionId!, "no-such-label", sections[0]!.labelVersionId!];
      const res = await s.labels.evaluateLabels({ contentData: text("I will kill you"), labelVersionIds: ids });
      expect(res.results.map((r) => r.labelVersionId)).toEqual(ids);
      expect(res.results[1]?.error).toMatch(/unknown label version id "no-such-label"/);
      expect(res.results[0]?.error).toBe("");
      expect(res.results[0]?.evaluation?.report).toBeDefined();
      expect(res.contentHash).toBe(contentHash(new TextEncoder().encode("I will kill you")));
    });
  });

  describe("auth", () => {
    it("rejects a call without a key, and with a key not in the accepted list", async () => {
      const noKey = await setup({}, null);
      const wrong = await setup({ apiKeys: ["the-right-key"] }, "a-wrong-key-value");
      try {
        const e1 = await failure(noKey.gateway.getJob({ jobUuid: "3fa85f64-5717-4562-b3fc-2c963f66afa6" }));
        expect(e1.code).toBe(Code.Unauthenticated);
        expect(e1.rawMessage).toMatch(/authorization: Bearer/);
        const e2 = await failure(wrong.gateway.getJob({ jobUuid: "3fa85f64-5717-4562-b3fc-2c963f66afa6" }));
        expect(e2.code).toBe(Code.Unauthenticated);
        expect(e2.message).not.toContain("a-wrong-key-value");
        expect(wrong.emulator.calls.GetJob).toBe(0);
      } finally {
        await noKey.close();
        await wrong.close();
      }
    });

    it("accepts a listed key, and says at start when it is in open mode", async () => {
      const lines: string[] = [];
      const open = await startEmulator({ logger: (l) => lines.push(l) });
      await open.close();
      expect(lines.join("\n")).toMatch(/open mode/);
      const right = await setup({ apiKeys: ["the-right-key"] }, "the-right-key");
      try {
        await expect(right.gateway.listJobs({})).resolves.toBeDefined();
      } finally {
        await right.close();
      }
    });
  });

  describe("rate limit", () => {
    it("answers RESOURCE_EXHAUSTED with a retry delay hint over the limit, per key", async () => {
      const e = await setup({ rateLimit: { requests: 2, perMs: 60_000, retryDelayMs: 1500 } });
      try {
        await e.gateway.listJobs({});
        await e.gateway.listJobs({});
        const err = await failure(e.gateway.listJobs({}));
        expect(err.code).toBe(Code.ResourceExhausted);
        const [hint] = err.findDetails(RetryInfoSchema);
        expect(hint?.retryDelay).toMatchObject({ seconds: 1n, nanos: 500_000_000 });
        e.emulator.setRateLimit(undefined);
        await expect(e.gateway.listJobs({})).resolves.toBeDefined();
      } finally {
        await e.close();
      }
    });
  });

  describe("faults", () => {
    it("fails the next N calls with a code, then serves again", async () => {
      s.emulator.faults.failNext("GetJob", 2, Code.Unavailable, { retryDelayMs: 20 });
      const id = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
      const e1 = await failure(s.gateway.getJob({ jobUuid: id }));
      expect(e1.code).toBe(Code.Unavailable);
      expect(e1.findDetails(RetryInfoSchema)[0]?.retryDelay?.nanos).toBe(20_000_000);
      expect((await failure(s.gateway.getJob({ jobUuid: id }))).code).toBe(Code.Unavailable);
      expect((await failure(s.gateway.getJob({ jobUuid: id }))).code).toBe(Code.NotFound);
    });

    it("delays responses", async () => {
      s.emulator.faults.delay("ListJobs", 150, 1);
      const start = performance.now();
      await s.gateway.listJobs({});
      expect(performance.now() - start).toBeGreaterThanOrEqual(140);
    });

    it("ends a stream with an error after K messages", async () => {
      s.emulator.faults.failStreamAfter(2, Code.Unavailable);
      const { messages, error } = await drainToError(
        s.gateway.evaluate({ policyId: violence, contentData: [text("a"), text("b"), text("c")] }),
      );
      const err = ConnectError.from(error);
      expect(messages).toHaveLength(2);
      expect(err.code).toBe(Code.Unavailable);
    });

    it("resets a stream after K messages", async () => {
      s.emulator.faults.resetStreamAfter(1);
      const { messages, error } = await drainToError(
        s.gateway.evaluate({ policyId: violence, contentData: [text("a"), text("b"), text("c")] }),
      );
      const err = ConnectError.from(error);
      expect(messages).toHaveLength(1);
      expect(err.code).toBe(Code.Canceled);
      expect(err.findDetails(PrecheckFailureSchema)).toHaveLength(0);
    });

    it("sends GOAWAY and closes every session; clients reconnect", async () => {
      const e = await setup();
      try {
        await e.gateway.listJobs({});
        expect(e.emulator.openSessions()).toBe(1);
        e.emulator.faults.goAway();
        await expect.poll(() => e.emulator.openSessions()).toBe(0);
        await expect(e.gateway.listJobs({})).resolves.toBeDefined();
      } finally {
        await e.close();
      }
    });

    it("arms faults given at start and counts calls", async () => {
      const e = await setup({ faults: [{ kind: "fail", method: "*", count: 1, code: Code.Internal }] });
      try {
        expect((await failure(e.gateway.listJobs({}))).code).toBe(Code.Internal);
        await e.gateway.listJobs({});
        expect(e.emulator.calls.ListJobs).toBe(2);
        e.emulator.faults.failNext("ListJobs", 5, Code.Aborted);
        e.emulator.faults.clear();
        await expect(e.gateway.listJobs({})).resolves.toBeDefined();
      } finally {
        await e.close();
      }
    });
  });

  describe("protocols and TLS", () => {
    it("accepts the Connect and gRPC-Web protocols as well as gRPC", async () => {
      for (const make of [createConnectTransport, createGrpcWebTransport] as const) {
        const client = createClient(GatewayService, s.transportFor(make as typeof createGrpcTransport));
        const results = await drain(client.evaluate({ policyId: violence, contentData: [text("I will kill you")] }));
        expect(results[0]?.policyEvaluationReport?.reviewResult?.outcome).toBe(Outcome.TRUE);
      }
    });

    it("serves HTTP/2 over TLS with a given certificate", async () => {
      const cert = readFileSync(new URL("../fixtures/localhost-cert.pem", import.meta.url));
      const key = readFileSync(new URL("../fixtures/localhost-key.pem", import.meta.url));
      const emulator = await startEmulator({ logger: false, tls: { cert, key } });
      const sessionManager = new Http2SessionManager(emulator.url, {}, { ca: cert });
      try {
        expect(emulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const client = createClient(
          GatewayService,
          createGrpcTransport({
            baseUrl: emulator.url,
            sessionManager,
            interceptors: [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${KEY}`);
                return next(req);
              },
            ],
          }),
        );
        const { jobs } = await client.listJobs({});
        expect(jobs).toEqual([]);
      } finally {
        sessionManager.abort();
        await emulator.close();
      }
    });

    it("closes every session when it stops", async () => {
      const e = await setup();
      await e.gateway.listJobs({});
      expect(e.emulator.openSessions()).toBe(1);
      await e.emulator.close();
      expect(e.emulator.openSessions()).toBe(0);
      await e.close();
    });
  });
});
