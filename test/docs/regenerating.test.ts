// Replays docs/regenerating.md in a scratch copy of the repository: a gateway that has started to send a new Job
// field (a test server, over gRPC) is read by the client as it is, where the field survives as an unknown field
// through GetJob; then the proto edit that the page shows is applied, `npm run generate` regenerates gen/, and the
// same call returns the field typed. The page and this test share the edit: the page's ```proto block is what gets
// inserted.
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobSchema, JobStatus } from "../../gen/clavata/shared/v1/public_pb.js";
import type * as Sdk from "../../src/index.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const JOB_UUID = "7d0c7a5e-5b8e-4f5e-9a57-0c4b7f6f2a10";

/** The Job a newer gateway sends: everything this SDK knows, plus field 17 (int32 item_count) = 3. */
function newerGatewayJob() {
  const known = toBinary(JobSchema, create(JobSchema, { jobUuid: JOB_UUID, status: JobStatus.COMPLETED }));
  // Field 17, wire type 0 (varint): tag (17 << 3) | 0 = 136, as a varint 0x88 0x01; then the value 3.
  return fromBinary(JobSchema, new Uint8Array([...known, 0x88, 0x01, 0x03]));
}

/** The edit the page tells the reader to make: its ```proto block. */
function protoEditOfThePage(): string {
  const page = readFileSync(join(ROOT, "docs/regenerating.md"), "utf8");
  const block = /^```proto\n([\s\S]*?)^```$/m.exec(page)?.[1];
  if (block === undefined) throw new Error("docs/regenerating.md has no ```proto block");
  return block;
}

/** A copy of what generating and the client need, with node_modules linked. */
function scratchCopy(dir: string): string {
  for (const path of ["proto", "gen", "src", "tools", "buf.yaml", "buf.gen.yaml", "package.json", "tsconfig.json"]) {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

async function clientOf(copy: string, server: TestServer): Promise<Sdk.ClavataClient> {
  const sdk = (await import(pathToFileURL(join(copy, "src/index.ts")).href)) as typeof Sdk;
  return new sdk.ClavataClient({ baseUrl: server.url, insecure: true, apiKey: "sk-regenerating-test" });
}

describe("docs/regenerating.md, replayed in a scratch copy", () => {
  let scratch: string;
  let server: TestServer;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "clavata-regenerate-"));
    server = await startTestServer({ gateway: { getJob: () => ({ job: newerGatewayJob() }) } });
  });
  afterAll(async () => {
    await server?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("before regenerating: GetJob returns the new field as an unknown field", async () => {
    const before = scratchCopy(join(scratch, "before"));
    const client = await clientOf(before, server);
    try {
      const job = await client.getJob(JOB_UUID);
      expect(job.jobUuid).toBe(JOB_UUID);
      expect("itemCount" in job).toBe(false);
      expect(job.$unknown).toEqual([{ no: 17, wireType: 0, data: new Uint8Array([0x03]) }]);
      // Written back unchanged: a stored or forwarded job loses nothing.
      expect([...toBinary(JobSchema, job)].slice(-3)).toEqual([0x88, 0x01, 0x03]);
    } finally {
      await client.close();
    }
  });

  it("after the page's proto edit and npm run generate: the field is typed", async () => {
    const after = scratchCopy(join(scratch, "after"));
    const protoFile = join(after, "proto/clavata/shared/v1/public.proto");
    const proto = readFileSync(protoFile, "utf8");
    const jobStart = proto.indexOf("message Job {");
    const jobEnd = proto.indexOf("\n}", jobStart);
    expect(jobStart).toBeGreaterThan(0);
    writeFileSync(protoFile, `${proto.slice(0, jobEnd)}\n${protoEditOfThePage().trimEnd()}${proto.slice(jobEnd)}`);

    await run("npm", ["run", "--silent", "generate"], { cwd: after });
    const generated = readFileSync(join(after, "gen/clavata/shared/v1/public_pb.ts"), "utf8");
    expect(generated).toContain("int32 item_count = 17;");
    expect(generated).toMatch(/^ {2}itemCount: number;$/m);

    // The type checker sees it: a small program that reads job.itemCount as a number compiles.
    writeFileSync(
      join(after, "check.ts"),
      'import type { Job } from "./gen/clavata/shared/v1/public_pb.js";\nexport const count = (job: Job): number => job.itemCount;\n',
    );
    await run(
      process.execPath,
      [
        join(ROOT, "node_modules/typescript/bin/tsc"),
        ...["--noEmit", "--strict", "--skipLibCheck", "--target", "es2022"],
        ...["--module", "nodenext", "--moduleResolution", "nodenext", "check.ts"],
      ],
      { cwd: after },
    );

    // And the same GetJob now reads the value into the field.
    const client = await clientOf(after, server);
    try {
      const job = (await client.getJob(JOB_UUID)) as Sdk.Job & { itemCount: number };
      expect(job.itemCount).toBe(3);
      expect(job.$unknown ?? []).toEqual([]);
    } finally {
      await client.close();
    }
  }, 60_000);
});
