// End to end: a job created with a webhook on the emulator is delivered to a receiver on loopback built with each
// adapter, verified, parsed, and equal to what GetJob returns. The client is the generated Connect client over gRPC.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { equals, toJson } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { GatewayService, type Job, JobSchema, JobStatus, Outcome } from "../../src/index.js";
import { generateWebhookSecret, webhookWithSecret } from "../../src/webhooks/index.js";
import { ADAPTERS, type AdapterName, type Loopback, listen } from "../support/webhook-servers.js";

const API_KEY = "test-key-webhooks-e2e";
const SECRET = generateWebhookSecret();
const NEXT_SECRET = generateWebhookSecret();

describe("webhooks end to end with the emulator", () => {
  let emulator: Emulator;
  let sessions: Http2SessionManager;
  let gateway: Client<typeof GatewayService>;
  const receivers = new Map<AdapterName, Loopback>();
  // Every job each receiver's onJob got, by job id. The emulator records a delivery as 200 only after onJob resolved.
  const delivered = new Map<string, { receiver: AdapterName; job: Job }>();
  const rejected: [AdapterName, unknown, number][] = [];

  beforeAll(async () => {
    emulator = await startEmulator({ logger: false, apiKeys: [API_KEY], jobDelayMs: 10, webhooks: { maxAttempts: 1 } });
    sessions = new Http2SessionManager(emulator.url);
    gateway = createClient(
      GatewayService,
      createGrpcTransport({
        baseUrl: emulator.url,
        sessionManager: sessions,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${API_KEY}`);
            return next(req);
          },
        ],
      }),
    );
    for (const name of Object.keys(ADAPTERS) as AdapterName[]) {
      const listener = ADAPTERS[name]({
        // The receivers are mid-rotation: they accept the current and the next secret.
        secret: [SECRET, NEXT_SECRET],
        onJob: (job) => {
          delivered.set(job.jobUuid, { receiver: name, job });
        },
        onError: (error, status) => rejected.push([name, error, status]),
      });
      receivers.set(name, await listen(listener));
    }
  });

  afterAll(async () => {
    for (const receiver of receivers.values()) await receiver.close();
    sessions?.abort();
    await emulator?.close();
  });

  /** Creates a job whose webhook points at `receiver`, with `secret` as its X-Webhook-Secret. */
  async function createJobFor(receiver: Loopback, secret: string): Promise<string> {
    const created = await gateway.createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [
        { content: { case: "text", value: "I will kill you" }, metadata: { id: "threat" } },
        { content: { case: "text", value: "what a lovely day" }, metadata: { id: "calm" } },
      ],
      webhook: webhookWithSecret(receiver.url, secret),
    });
    const jobUuid = created.job?.jobUuid ?? "";
    expect(jobUuid).not.toBe("");
    return jobUuid;
  }

  it.each(Object.keys(ADAPTERS) as AdapterName[])(
    "delivers the completed job to the %s, verified, parsed and equal to GetJob's",
    async (name) => {
      const jobUuid = await createJobFor(receivers.get(name)!, SECRET);
      const delivery = await emulator.waitForDelivery(jobUuid, 10_000);
      expect(delivery.outcome).toBe("delivered");
      expect(delivery.status).toBe(200);
      expect(delivery.headers["x-webhook-secret"]).toBe(SECRET);

      expect(delivered.get(jobUuid)?.receiver).toBe(name);
      const job = delivered.get(jobUuid)!.job;
      const fromGetJob = (await gateway.getJob({ jobUuid })).job!;
      expect(fromGetJob.status).toBe(JobStatus.COMPLETED);
      expect(toJson(JobSchema, job)).toEqual(toJson(JobSchema, fromGetJob));
      expect(equals(JobSchema, job, fromGetJob)).toBe(true);
      const outcomes = Object.fromEntries(
        job.results.map((r) => [r.report?.contentMetadata.id, r.report?.reviewResult?.outcome]),
      );
      expect(outcomes).toEqual({ threat: Outcome.TRUE, calm: Outcome.FALSE });
      expect(rejected.filter(([n]) => n === name)).toEqual([]);
    },
    20_000,
  );

  it.each(Object.keys(ADAPTERS) as AdapterName[])(
    "accepts the next secret during a rotation and refuses an unknown one (401) at the %s",
    async (name) => {
      const receiver = receivers.get(name)!;
      const rotated = await createJobFor(receiver, NEXT_SECRET);
      expect((await emulator.waitForDelivery(rotated, 10_000)).status).toBe(200);
      expect(delivered.get(rotated)?.receiver).toBe(name);

      const forged = await createJobFor(receiver, generateWebhookSecret());
      const delivery = await emulator.waitForDelivery(forged, 10_000);
      expect(delivery.outcome).toBe("failed");
      expect(delivery.status).toBe(401);
      expect(delivered.has(forged)).toBe(false);
      const mine = rejected.filter(([n]) => n === name);
      expect(mine).toHaveLength(1);
      expect(mine[0]![2]).toBe(401);
      expect((mine[0]![1] as { reason: string }).reason).toBe("wrong_secret");
    },
    20_000,
  );
});

describe("the webhook page's end-to-end example", () => {
  it("runs as written, against the built package, and prints one line per item", async () => {
    const readme = readFileSync(new URL("../../docs/webhooks.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Try it end to end on your machine"));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    // Runs from the package root, so "clavata-connect" resolves to this package's build (npm test builds it first).
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", code!], {
      cwd: root,
      timeout: 30_000,
    });
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^created job [0-9a-f-]{36}, waiting for its webhook$/);
    expect(lines.slice(1).sort()).toEqual(["post-1: flagged", "post-2: fine"]);
  });
});
