// Runs the batch-job example of docs/jobs.md (section "Batch jobs (REST)") against the emulator's REST port, so the README
// cannot drift from the SDK: its ClavataClient is the real one, pointed at the emulator with a test key.
import { readFileSync } from "node:fs";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import * as sdk from "../../src/index.js";

const page = readFileSync(new URL("../../docs/jobs.md", import.meta.url), "utf8");
const section = page.slice(page.indexOf("## Batch jobs (REST)"));
const code = /^```ts\n([\s\S]*?)^```$/m.exec(section)?.[1] ?? "";

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<void>;

describe("the batch-job example of docs/jobs.md", () => {
  let emu: Emulator;
  const created: sdk.ClavataClient[] = [];
  beforeAll(async () => {
    emu = await startEmulator({ logger: false, restPort: 0 });
  });
  afterAll(async () => {
    for (const c of created) await c.close();
    await emu.close();
  });

  it("runs and prints every row of the output", async () => {
    expect(code).toContain("createBatchJob");
    const body = ts.transpileModule(
      code.replace(/^import\s*\{([^}]*)\}\s*from\s*"clavata-connect";\s*$/m, "const {$1} = __sdk;"),
      { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } },
    ).outputText;
    class ClavataClient extends sdk.ClavataClient {
      constructor(options: sdk.ClavataClientOptions = {}) {
        super({ ...options, apiKey: "sk-readme-batch", baseUrl: emu.restUrl, insecure: true });
        created.push(this);
      }
      // The example polls every 10 s, as suits the gateway; the emulator is done within milliseconds.
      override waitForBatchJob(id: string, options: sdk.WaitForBatchJobOptions = {}) {
        return super.waitForBatchJob(id, { ...options, pollIntervalMs: 5 });
      }
    }
    const lines: string[] = [];
    const console = { log: (...args: unknown[]) => void lines.push(args.map(String).join(" ")) };
    await new AsyncFunction("__sdk", "console", body.replace(/^export \{\};\s*$/m, ""))(
      { ...sdk, ClavataClient },
      console,
    );
    expect(lines.filter((l) => /bytes$/.test(l)).length).toBeGreaterThan(0);
    expect(
      lines
        .filter((l) => /^c[12] /.test(l))
        .map((l) => l.slice(0, 2))
        .sort(),
    ).toEqual(["c1", "c2"]);
    expect(created.every((c) => c.closed)).toBe(true);
  });
});
