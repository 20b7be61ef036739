// `clavata evaluate --input … --checkpoint FILE`: finished items are recorded as they finish, and a rerun with the
// same input skips them. The built binary against an emulator started here.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentHash, type Emulator, startEmulator } from "../../src/emulator/index.js";
import { ndjson, runCli } from "../support/cli.js";

const API_KEY = "cli-checkpoint-key";
let emulator: Emulator;
let dir: string;

beforeAll(async () => {
  emulator = await startEmulator({ logger: false, apiKeys: [API_KEY] });
  emulator.engine.blockHash(contentHash("row 7 is blocked"));
  dir = mkdtempSync(join(tmpdir(), "clavata-cli-checkpoint-"));
});
afterAll(async () => {
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function evaluate(args: readonly string[]) {
  return runCli(["--host", "127.0.0.1", "--port", String(emulator.port), "--insecure", "evaluate", ...args], {
    env: { CLAVATA_API_KEY: API_KEY },
  });
}

function batchFile(name: string, rows: number): string {
  const path = join(dir, name);
  const lines = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({ id: `r${i}`, content: i === 7 ? "row 7 is blocked" : `row ${i} is fine` }),
  );
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

describe("clavata evaluate --checkpoint", () => {
  it("records finished rows, and a rerun evaluates only the rows it does not list", async () => {
    const input = batchFile("rows.jsonl", 40);
    const checkpoint = join(dir, "rows.checkpoint");
    const first = await evaluate(["--policy", "policy-violence", "--input", input, "--checkpoint", checkpoint]);
    expect(first.code).toBe(0);
    const [header, ...indices] = readFileSync(checkpoint, "utf8").trim().split("\n");
    expect(header).toMatch(/^clavata-checkpoint 1 [0-9a-f]{64} 40$/);
    // Results and the refusal are finished.
    expect(indices.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));

    // As if the run had died after 25 rows, the last line cut short.
    writeFileSync(checkpoint, `${[header, ...indices.slice(0, 25)].join("\n")}\n1`);
    const done = new Set(indices.slice(0, 25).map(Number));
    const calls = emulator.calls.Evaluate;
    const second = await evaluate([
      "--policy",
      "policy-violence",
      "--input",
      input,
      "--checkpoint",
      checkpoint,
      "--json",
      "--ordered",
    ]);
    expect(second.code).toBe(0);
    const rows = ndjson(second.stdout) as Array<{ index: number; id: string }>;
    const expected = Array.from({ length: 40 }, (_, i) => i).filter((i) => !done.has(i));
    expect(rows.map((r) => r.index)).toEqual(expected);
    expect(rows.map((r) => r.id)).toEqual(expected.map((i) => `r${i}`));
    expect(second.stderr).toContain("25 items skipped: finished in an earlier run");
    expect(emulator.calls.Evaluate - calls).toBeGreaterThan(0);

    // Everything is finished now: a third run sends nothing.
    const before = emulator.calls.Evaluate;
    const third = await evaluate(["--policy", "policy-violence", "--input", input, "--checkpoint", checkpoint]);
    expect(third.code).toBe(0);
    expect(third.stdout).toContain("40 items skipped");
    expect(emulator.calls.Evaluate).toBe(before);
  }, 60_000);

  it("refuses a checkpoint written for another input, and --checkpoint without --input (exit 2)", async () => {
    const checkpoint = join(dir, "other.checkpoint");
    expect(
      (await evaluate(["--policy", "policy-violence", "--input", batchFile("a.jsonl", 5), "--checkpoint", checkpoint]))
        .code,
    ).toBe(0);
    const other = await evaluate([
      "--policy",
      "policy-violence",
      "--input",
      batchFile("b.jsonl", 6),
      "--checkpoint",
      checkpoint,
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("was written for another input");
    const noInput = await evaluate(["--policy", "policy-violence", "--checkpoint", checkpoint, "hello"]);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toContain("--checkpoint goes with --input");
  }, 60_000);
});
