// `clavata jobs create|get|list|wait` in-process (run() with fake streams) against an emulator started here.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../gen/clavata/shared/v1/public_pb.js";
import { ClavataClient } from "../../src/client.js";
import { textContent } from "../../src/content.js";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { createNodeWebhookHandler } from "../../src/webhooks/index.js";
import { type CliRunOptions, ndjson, runCli } from "../support/cli.js";

const API_KEY = "cli-jobs-test-key";
let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, logger: false, jobDelayMs: 20 });
});

afterAll(async () => {
  await emulator?.close();
});

/** Runs `clavata jobs ...` against the test's emulator, connection settings from the environment. */
function jobs(args: readonly string[], options: CliRunOptions = {}) {
  return runCli(["jobs", ...args], {
    ...options,
    env: {
      CLAVATA_API_KEY: API_KEY,
      CLAVATA_HOST: "127.0.0.1",
      CLAVATA_PORT: String(emulator.port),
      CLAVATA_INSECURE: "true",
      ...options.env,
    },
  });
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe("clavata jobs", () => {
  it("creates a job, then gets it and waits for it", async () => {
    const created = await jobs(["create", "--policy", "policy-violence", "I will hurt you", "good morning"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^job\s+[0-9a-f-]{36}$/m);
    expect(created.stdout).toMatch(/^status\s+PENDING$/m);
    expect(created.stdout).toMatch(/^policy\s+policy-violence \(version v1\)$/m);
    const jobUuid = UUID.exec(created.stdout)![0];

    const waited = await jobs(["wait", jobUuid, "--poll-interval", "20ms"]);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/^status\s+COMPLETED$/m);
    expect(waited.stdout).toMatch(/^1\s+match\s+0\.95\s+Threats 0\.95$/m);
    expect(waited.stdout).toMatch(/^2\s+clear\s+0\.00$/m);
    expect(waited.stdout).toContain("2 items: 1 matched, 1 clear, 0 refused, 0 failed");

    const got = await jobs(["get", jobUuid, "--json"]);
    expect(got.code).toBe(0);
    const [job, ...rest] = ndjson(got.stdout);
    expect(rest).toEqual([]);
    expect(job).toMatchObject({ jobUuid, status: "JOB_STATUS_COMPLETED", policyId: "policy-violence" });
    expect((job!.results as unknown[]).length).toBe(2);

    const failOnMatch = await jobs(["get", jobUuid, "--fail-on-match"]);
    expect(failOnMatch.code).toBe(3);
  });

  it("creates a job from a batch file and waits for it with --wait --json", async () => {
    const run = await jobs(
      ["create", "--policy", "policy-spam", "--input", "-", "--wait", "--poll-interval", "20ms", "--json"],
      {
        stdin: [
          '{"id":"a","content":"buy now!"}',
          '{"id":"b","content":"lovely weather"}',
          '{"id":"c","content":"visit www.example.com/x"}',
        ].join("\n"),
      },
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/job .* created \(PENDING\); waiting for it to finish/);
    const [job] = ndjson(run.stdout);
    expect(job).toMatchObject({ status: "JOB_STATUS_COMPLETED", policyId: "policy-spam" });
    const results = job!.results as Array<{
      report: { contentMetadata: { id: string }; reviewResult: { outcome?: string } };
    }>;
    expect(
      results.map((r) => [r.report.contentMetadata.id, r.report.reviewResult.outcome ?? "OUTCOME_UNSPECIFIED"]),
    ).toEqual([
      ["a", "OUTCOME_TRUE"],
      ["b", "OUTCOME_FALSE"],
      ["c", "OUTCOME_TRUE"],
    ]);
  });

  it("attaches a webhook with a secret, which a receiver on loopback verifies; the secret is never printed", async () => {
    const secret = "cli-webhook-secret-3c9f1e";
    let resolveJob!: (job: Job) => void;
    const received = new Promise<Job>((resolve) => (resolveJob = resolve));
    const server: Server = createServer(createNodeWebhookHandler({ secret, onJob: (job) => resolveJob(job) }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const run = await jobs(
        ["create", "--policy", "policy-harassment", "--webhook", url, "--webhook-header", "Tenant=acme", "you idiot"],
        {
          env: { CLAVATA_WEBHOOK_SECRET: secret },
        },
      );
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`webhook   ${url} (secret in X-Webhook-Secret)`);
      expect(run.stdout + run.stderr).not.toContain(secret);
      const jobUuid = UUID.exec(run.stdout)![0];
      const job = await received;
      expect(job.jobUuid).toBe(jobUuid);
      expect(job.results).toHaveLength(1);
      const delivery = await emulator.waitForDelivery(jobUuid);
      expect(delivery.status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("lists jobs with filters and pagination, and every page with --all", async () => {
    const client = new ClavataClient({ baseUrl: emulator.url, insecure: true, apiKey: "cli-list-key" });
    const env = { CLAVATA_API_KEY: "cli-list-key" };
    try {
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        const job = await client.createJob({
          policyId: i < 3 ? "policy-spam" : "policy-violence",
          contentData: [textContent(`message ${i}`)],
        });
        created.push(job.jobUuid);
      }
      await Promise.all(created.map((uuid) => client.waitForJob(uuid, { pollIntervalMs: 20 })));

      // Every page, newest first (ties in creation time go by UUID, so the order is the gateway's to say).
      const all = await jobs(["list", "--all", "--page-size", "2", "--json"], { env });
      expect(all.code).toBe(0);
      expect(all.stderr).toBe("");
      const order = ndjson(all.stdout).map((j) => j.jobUuid as string);
      expect([...order].sort()).toEqual([...created].sort());
      const createdAt = ndjson(all.stdout).map((j) => Date.parse(j.created as string));
      expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));

      // One page at a time: the same jobs in the same order, the next page found through the printed token.
      const page = await jobs(["list", "--page-size", "2"], { env });
      expect(page.code).toBe(0);
      const rows = page.stdout.split("\n").filter((l) => UUID.test(l));
      expect(rows.map((r) => UUID.exec(r)![0])).toEqual(order.slice(0, 2));
      expect(rows[0]).toMatch(/^\S{36}\s+COMPLETED\s+policy-\w+\s+1\s+\d{4}-\d\d-\d\dT/);
      // Printed with "=", since a token may start with "-".
      const token = /--page-token=(\S+)/.exec(page.stdout)![1]!;
      const next = await jobs(["list", "--page-size", "2", `--page-token=${token}`, "--json"], { env });
      expect(next.code).toBe(0);
      expect(ndjson(next.stdout).map((j) => j.jobUuid)).toEqual(order.slice(2, 4));
      expect(next.stderr).toMatch(/next page: --page-token=\S+/);

      const spam = await jobs(["list", "--all", "--json", "--policy", "policy-spam", "--status", "completed"], { env });
      expect(ndjson(spam.stdout).map((j) => j.jobUuid)).toEqual(order.filter((uuid) => created.indexOf(uuid) < 3));

      const future = await jobs(["list", "--created-after", new Date(Date.now() + 3_600_000).toISOString()], { env });
      expect(future.code).toBe(0);
      expect(future.stdout).toContain("no jobs match");

      const pending = await jobs(["list", "--all", "--json", "--status", "pending"], { env });
      expect(ndjson(pending.stdout)).toEqual([]);
    } finally {
      await client.close();
    }
  }, 60_000);

  it("names the refused items when the gateway refuses to create a job (exit 1)", async () => {
    const gif = Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1").toString("base64");
    const run = await jobs(["create", "--policy", "policy-violence", "--input", "-"], {
      stdin: [
        JSON.stringify({ id: "ok", content: "hello" }),
        JSON.stringify({ id: "bad-gif", kind: "image", content: gif }),
      ].join("\n"),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("the gateway refused 1 item, so it created no job:");
    expect(run.stderr).toMatch(/^ {2}bad-gif\s+UNSUPPORTED_FORMAT: unsupported image format$/m);
    expect(run.stderr).not.toMatch(/^ {2}ok\s/m);
  });

  it("reports an unknown job with exit code 1", async () => {
    const run = await jobs(["get", "3fa85f64-5717-4562-b3fc-2c963f66afa6"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("not found");
  });

  it("refuses a job id that is not a UUID as bad usage (exit 2), before connecting, with advice for the tool", async () => {
    for (const [command, id] of [
      ["get", "not-a-uuid"],
      ["wait", "not-a-uuid"],
      ["get", "3fa85f64-5717-4562-b3fc-2c963f66afa"],
      ["get", ""],
    ] as const) {
      // No gateway listens on port 9: a check that waited for the SDK would fail to connect instead.
      const run = await jobs([command, id], { env: { CLAVATA_PORT: "9" } });
      expect({ command, id, code: run.code }).toEqual({ command, id, code: 2 });
      expect(run.stderr).toBe(
        `clavata jobs ${command}: ${JSON.stringify(id)} is not a job UUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6); ` +
          `give the UUID that jobs create or jobs list printed\nRun "clavata jobs ${command} --help" for usage.\n`,
      );
      expect(run.stderr).not.toContain("limits.");
    }
  });

  it("rejects bad usage with exit code 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["get"], /give the job's UUID/],
      [["list", "--status", "done"], /--status must be one of pending, running, completed, failed, canceled/],
      [["list", "--created-after", "yesterday-ish"], /--created-after must be an ISO 8601 date/],
      [["list", "--created-after", "2025-02-01", "--created-before", "2025-01-01"], /later than --created-before/],
      [["list", "--page-size", "5000"], /--page-size must be a whole number from 1 to 1000/],
      [["list", "extra"], /takes no arguments/],
      [["create", "hello"], /--policy is required/],
      [["create", "--policy", "p", "--webhook", "http://example.com/hook", "hi"], /--webhook: .*https/],
      [["create", "--policy", "p", "--poll-interval", "1s", "hi"], /--poll-interval goes with --wait/],
      [["wait", "x", "--wait-timeout", "soon"], /--wait-timeout must be a duration/],
      [["frobnicate"], /unknown command "clavata jobs frobnicate"; the jobs commands are create, get, list, wait/],
      [["lst"], /unknown command "clavata jobs lst"; did you mean list\?/],
      [["list", "--page-sise", "5"], /unknown option --page-sise for clavata jobs list; did you mean --page-size\?/],
      [["create", "--policy", "p", "--webhok", "https://example.com/h", "hi"], /did you mean --webhook\?/],
      [[], /"clavata jobs" needs a command: create, get, list, wait/],
    ];
    for (const [args, message] of cases) {
      const run = await jobs(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
  }, 60_000);

  it("prints help for jobs and each of its commands", async () => {
    const group = await runCli(["jobs", "--help"]);
    expect(group.code).toBe(0);
    expect(group.stdout).toContain("Usage: clavata jobs <create|get|list|wait>");
    for (const [command, text] of [
      ["create", "--webhook-secret"],
      ["get", "Usage: clavata jobs get <job-uuid>"],
      ["list", "--completed-before"],
      ["wait", "--poll-interval"],
    ] as const) {
      const run = await runCli(["jobs", command, "-h"]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(text);
    }
  });
});
