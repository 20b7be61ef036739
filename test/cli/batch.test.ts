// `clavata batch create|upload|list|wait|cancel|output` and `--rest`, end to end: the built binary against an
// emulator's REST port started here. The presigned URLs must never appear whole in what the tool prints.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { ndjson, type CliRunOptions as RunOptions, runCli, startCli } from "../support/cli.js";

const API_KEY = "cli-batch-test-key";
let emulator: Emulator;
let dir: string;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, restPort: 0, logger: false });
  dir = mkdtempSync(join(tmpdir(), "clavata-batch-cli-"));
});

afterAll(async () => {
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `clavata ...` against the emulator's REST port, connection settings from the environment. */
function cli(args: readonly string[], options: RunOptions = {}) {
  return runCli(args, {
    ...options,
    env: {
      CLAVATA_API_KEY: API_KEY,
      CLAVATA_HOST: "127.0.0.1",
      CLAVATA_PORT: String(emulator.restPort),
      CLAVATA_INSECURE: "true",
      ...options.env,
    },
  });
}

// Each test spawns the tool several times, about a second each on a busy machine.
describe("clavata batch", { timeout: 60_000 }, () => {
  it("create --input, wait, list and output, with no signed URL printed", async () => {
    const input = join(dir, "items.csv");
    writeFileSync(input, 'ref_id,type,content\nr1,text,"I will kill you"\nr2,text,have a nice day\n');
    const created = await cli(["batch", "create", "--policy", "policy-violence", "--name", "cli", "--input", input]);
    expect(created.stderr).toContain("uploaded");
    expect(created.code).toBe(0);
    const [job] = ndjson(created.stdout) as [{ batchJobId: string; inputFileUploadUrl: string }];
    expect(job.inputFileUploadUrl).toMatch(/\?\[redacted\]$/);

    const waited = await cli(["batch", "wait", job.batchJobId, "--poll-interval", "10ms"]);
    expect(waited.code).toBe(0);
    expect(waited.stderr).toContain("COMPLETED");
    const final = ndjson(waited.stdout)[0] as { state: string; outputFileUrl: string };
    expect(final.state).toBe("BATCH_JOB_STATE_COMPLETED");
    expect(final.outputFileUrl).toMatch(/\?\[redacted\]$/);

    const listed = await cli(["batch", "list", "--state", "completed"]);
    expect(ndjson(listed.stdout).map((j) => j.batchJobId)).toContain(job.batchJobId);

    const output = await cli(["batch", "output", job.batchJobId]);
    expect(output.code).toBe(0);
    const rows = ndjson(output.stdout);
    expect(rows.map((r) => [r.ref_id, r.outcome]).sort()).toEqual([
      ["r1", "OUTCOME_TRUE"],
      ["r2", "OUTCOME_FALSE"],
    ]);
    for (const run of [created, waited, listed, output]) expect(run.stdout + run.stderr).not.toContain("signature=");
  });

  it("create --upload-url-file keeps the URL in a private file; upload reads it from there; cancel", async () => {
    const urlFile = join(dir, "upload-url");
    const created = await cli(["batch", "create", "--policy", "policy-spam", "--upload-url-file", urlFile]);
    expect(created.code).toBe(0);
    expect(statSync(urlFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(urlFile, "utf8")).toContain("signature=");
    const items = join(dir, "items.jsonl");
    writeFileSync(items, '{"ref_id":"a","type":"text","content":"buy now"}\n');
    const uploaded = await cli(["batch", "upload", "--input", items, "--upload-url-file", urlFile]);
    expect(uploaded.code).toBe(0);
    expect(uploaded.stderr).toContain("1 rows");
    const { batchJobId } = ndjson(created.stdout)[0] as { batchJobId: string };
    const cancelled = await cli(["batch", "cancel", batchJobId]);
    // Cancelled, or already completed by the time the cancel arrived: both are answers the gateway gives.
    expect([0, 1]).toContain(cancelled.code);
  });

  it("--rest sends the other commands over REST too", async () => {
    const before = emulator.calls.ListJobs;
    const listed = await cli(["--rest", "jobs", "list"]);
    expect(listed.code).toBe(0);
    expect(emulator.calls.ListJobs).toBe(before + 1);
    const evaluated = await cli(["evaluate", "--rest", "--policy", "policy-violence", "I will kill you"]);
    expect(evaluated.code).toBe(0);
  });

  it("--emulator --rest runs against an in-process emulator's REST port", async () => {
    const run = await runCli(["evaluate", "--emulator", "--rest", "--policy", "policy-violence", "hello"]);
    expect(run.code).toBe(0);
  });

  it("clavata emulator --rest-port serves REST beside gRPC until stopped", async () => {
    const stop = new AbortController();
    const emulator = startCli(["emulator", "--port", "0", "--rest-port", "0"], { signal: stop.signal });
    try {
      const restUrl = await vi.waitFor(() => {
        const match = /REST\/JSON on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(emulator.stdout.text);
        if (match === null) throw new Error(`no REST URL printed yet: ${emulator.stdout.text}`);
        return match[1]!;
      });
      const res = await fetch(`${restUrl}/v1/jobs`, { headers: { authorization: "Bearer any-key" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ jobs: [], nextPageToken: "" });
    } finally {
      stop.abort();
      expect((await emulator.exited).code).toBe(0);
    }
  });
});
