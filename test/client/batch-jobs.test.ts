// Batch jobs end to end against the emulator's REST port: create, upload (built from items or streamed from a
// file), progress, the state progression, the completion webhook, cancel, and the output file read back; and what
// must never happen: the API key or client headers going to the upload URL, or a signed URL in an error.
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Emulator, type EmulatorOptions, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import {
  type BatchInputItem,
  BatchJobState,
  ClavataClient,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  type UploadProgress,
} from "../../src/index.js";
import { drain, thrown } from "../support/calls.js";

const KEY = "sk-batch-test-5f6e7d8c9b0a";
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(options: EmulatorOptions = {}): Promise<{ emu: Emulator; client: ClavataClient }> {
  const emu = await startEmulator({ logger: false, restPort: 0, apiKeys: [KEY], ...options });
  cleanup.push(() => emu.close());
  const client = new ClavataClient({
    apiKey: KEY,
    baseUrl: emu.restUrl,
    insecure: true,
    protocol: "rest",
    headers: { "x-tenant": "acme" },
  });
  cleanup.push(() => client.close());
  return { emu, client };
}

/** A webhook receiver on loopback that records each body. */
async function receiver(): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req as AsyncIterable<Buffer>) body += chunk.toString();
    bodies.push(body);
    res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/batch-done`, bodies };
}

describe("batch jobs", () => {
  it("10,000 items round-trip: create, upload with progress, states, completion webhook, every ref_id once", async () => {
    const { emu, client } = await setup();
    const hook = await receiver();
    const created = await client.createBatchJob({
      name: "ten thousand",
      policyId: SAMPLE_POLICY_IDS.violence,
      webhookUrl: hook.url,
    });
    expect(created.batchJobId).not.toBe("");
    expect(created.inputFileUploadUrl).toContain("signature=");

    const items: BatchInputItem[] = Array.from({ length: 10_000 }, (_, i) => ({
      refId: `row-${String(i)}`,
      type: "text",
      // Commas, quotes and line breaks must survive the CSV.
      content: i % 7 === 0 ? `I will kill you, "friend"\nline ${String(i)}` : `hello number ${String(i)}`,
    }));
    const progress: UploadProgress[] = [];
    const uploaded = await client.uploadBatchInput(created.inputFileUploadUrl, items, {
      onProgress: (p) => progress.push(p),
    });
    expect(uploaded.rows).toBe(10_000);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual({ sentBytes: uploaded.bytes, totalBytes: uploaded.bytes });
    expect(progress.every((p, i) => i === 0 || p.sentBytes >= progress[i - 1]!.sentBytes)).toBe(true);

    const states: BatchJobState[] = [];
    const done = await client.waitForBatchJob(created.batchJobId, {
      pollIntervalMs: 5,
      onStateChange: (job) => states.push(job.state),
    });
    expect(done.state).toBe(BatchJobState.COMPLETED);
    expect(done.outputFileUrl).not.toBe("");
    expect(done.policyVersionId).not.toBe("");
    expect(states.at(-1)).toBe(BatchJobState.COMPLETED);
    // States only move forward.
    expect([...states].sort((a, b) => a - b)).toEqual(states);

    const delivery = await emu.waitForBatchDelivery(created.batchJobId, 10_000);
    expect(delivery.outcome).toBe("delivered");
    expect(JSON.parse(hook.bodies[0]!)).toMatchObject({
      batchJobId: created.batchJobId,
      state: "BATCH_JOB_STATE_COMPLETED",
    });

    const rows = await drain(client.readBatchOutput(done));
    expect(rows).toHaveLength(10_000);
    const ids = new Set(rows.map((r) => r.refId));
    expect(ids.size).toBe(10_000);
    for (const item of items) expect(ids.has(item.refId)).toBe(true);
    const row0 = rows.find((r) => r.refId === "row-0")!;
    expect(row0.fields.outcome).toBe("OUTCOME_TRUE");
    // A column the SDK does not know is kept.
    expect(row0.fields.emulator_note).toBe("a column the SDK does not know");
    expect((await client.getBatchJobs({ states: [BatchJobState.COMPLETED] })).map((j) => j.batchJobId)).toEqual([
      created.batchJobId,
    ]);
  });

  it("the upload carries neither the API key nor the client's headers", async () => {
    const { emu, client } = await setup();
    const created = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam });
    await client.uploadBatchInput(created.inputFileUploadUrl, [{ refId: "a", type: "text", content: "hi" }]);
    expect(emu.batchUploads).toHaveLength(1);
    const names = emu.batchUploads[0]!.headerNames;
    expect(names).toContain("content-length");
    expect(names).not.toContain("authorization");
    expect(names).not.toContain("x-tenant");
    expect(names).not.toContain("x-clavata-client");
  });

  it("a CSV file of known length is streamed as is, and a CSV output file is read with its columns", async () => {
    const { client } = await setup({ batchOutputFormat: "csv" });
    const created = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam });
    const csv = new TextEncoder().encode(
      'ref_id,type,content\r\nx1,text,"buy now, limited time offer"\r\nx2,text,hello\r\n',
    );
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(csv.subarray(0, 10));
        controller.enqueue(csv.subarray(10));
        controller.close();
      },
    });
    const progress: number[] = [];
    const result = await client.uploadBatchInput(
      created.inputFileUploadUrl,
      { stream, size: csv.byteLength },
      { onProgress: (p) => progress.push(p.sentBytes) },
    );
    expect(result).toEqual({ bytes: csv.byteLength, rows: undefined });
    expect(progress).toEqual([10, csv.byteLength, csv.byteLength]);
    const done = await client.waitForBatchJob(created.batchJobId, { pollIntervalMs: 5 });
    const rows = await drain(client.readBatchOutput(done.outputFileUrl));
    expect(rows.map((r) => [r.refId, r.fields.outcome])).toEqual([
      ["x1", "OUTCOME_TRUE"],
      ["x2", "OUTCOME_FALSE"],
    ]);
    expect(rows[0]!.fields.emulator_note).toBe("a column the SDK does not know");
  });

  it("a bad or expired signature is a PermissionDeniedError whose message never holds the signature", async () => {
    const { client } = await setup();
    const created = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam });
    const tampered = created.inputFileUploadUrl.replace(/signature=[0-9a-f]{4}/, "signature=0000");
    const error = await thrown(client.uploadBatchInput(tampered, [{ refId: "a", type: "text", content: "hi" }]));
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error.message).toContain("?[redacted]");
    expect(error.message).not.toContain("signature=");
    expect(error.message).not.toContain(new URL(created.inputFileUploadUrl).searchParams.get("signature")!);
    expect(JSON.stringify(error.cause ?? "")).not.toContain("signature=");
  });

  it("cancel stops a batch job; unknown ids and bad input are the SDK's errors", async () => {
    const { client } = await setup({ batchStepDelayMs: 60_000 });
    const created = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam });
    await client.uploadBatchInput(created.inputFileUploadUrl, [{ refId: "a", type: "text", content: "hi" }]);
    const cancelled = await client.cancelBatchJob(created.batchJobId);
    expect(cancelled.state).toBe(BatchJobState.CANCELLED);
    expect((await client.waitForBatchJob(created.batchJobId)).state).toBe(BatchJobState.CANCELLED);
    expect(await thrown(client.cancelBatchJob("nope"))).toBeInstanceOf(NotFoundError);
    expect(await thrown(client.waitForBatchJob("nope"))).toBeInstanceOf(NotFoundError);
    expect(await thrown(client.createBatchJob({ policyId: "no-such-policy" }))).toBeInstanceOf(InvalidRequestError);
    const dup = await thrown(
      client.uploadBatchInput(created.inputFileUploadUrl, [
        { refId: "a", type: "text", content: "x" },
        { refId: "a", type: "text", content: "y" },
      ]),
    );
    expect((dup as InvalidRequestError).field).toBe("items[1].refId");
  });

  it("over gRPC, batch methods throw a clear InvalidRequestError at once", async () => {
    const emu = await startEmulator({ logger: false });
    cleanup.push(() => emu.close());
    await using client = new ClavataClient({ apiKey: KEY, baseUrl: emu.url, insecure: true });
    const error = await thrown(client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam }));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.message).toMatch(/REST surface; make the client with protocol: "rest"/);
  });
});
