// Hostile and awkward input to the tool: a batch on standard input with a byte order mark or bytes that are not
// UTF-8, Ctrl-C while standard input is still open, and batches too large to spread into one call.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResultWriter } from "../../src/cli/result-writer.js";
import { run } from "../../src/cli/run.js";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { CapturedOutput, ndjson, ROOT, runCli } from "../support/cli.js";

const API_KEY = "cli-robustness-key-51c2";

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, logger: false, apiKeys: [API_KEY] });
});

afterAll(async () => {
  await emulator?.close();
});

function evaluate(args: readonly string[], stdin: string | Uint8Array) {
  return runCli(["--host", "127.0.0.1", "--port", String(emulator.port), "--insecure", "evaluate", ...args], {
    stdin,
    env: { CLAVATA_API_KEY: API_KEY },
  });
}

describe("--input - (a batch on standard input)", () => {
  it("skips a UTF-8 byte order mark, as it does for a batch file", async () => {
    const result = await evaluate(
      ["--policy", "policy-violence", "--input", "-", "--json"],
      `\uFEFF{"id":"a","content":"hello"}\r\n{"id":"b","content":"I will kill you"}\r\n`,
    );
    expect(result.stderr).not.toMatch(/not valid JSON/);
    expect(result.code).toBe(0);
    expect(
      ndjson(result.stdout)
        .map((r) => r.id)
        .sort(),
    ).toEqual(["a", "b"]);
  });

  it("refuses bytes that are not UTF-8 (exit 2) instead of sending U+FFFD in their place", async () => {
    const bytes = Buffer.concat([Buffer.from('{"id":"a","content":"h'), Buffer.from([0xff]), Buffer.from('i"}\n')]);
    const result = await evaluate(["--policy", "policy-violence", "--input", "-", "--json"], bytes);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/standard input is not UTF-8/);
  });
});

describe("Ctrl-C while standard input is still open", () => {
  for (const args of [["evaluate"], ["evaluate", "--input", "-"], ["jobs", "create"], ["labels", "evaluate"]]) {
    it(`stops clavata ${args.join(" ")} with 130 on the first interrupt`, async () => {
      const stdin = new PassThrough();
      const stdout = new CapturedOutput();
      const stderr = new CapturedOutput();
      const controller = new AbortController();
      const extra = args[0] === "labels" ? ["--label", "label-threats-v1"] : ["--policy", "policy-violence"];
      const exited = run(["--emulator", ...args, ...extra], {
        stdin,
        stdout,
        stderr,
        env: {},
        cwd: ROOT,
        signal: controller.signal,
      });
      stdin.write("some text, and the pipe stays open");
      await new Promise((resolve) => setImmediate(resolve));
      controller.abort(new Error("interrupted"));
      try {
        expect(await exited).toBe(130);
      } finally {
        stdin.destroy();
      }
      expect(stdout.text).toBe("");
      expect(stderr.text).toMatch(/interrupted/);
      expect(stderr.text).not.toMatch(/unexpected error/);
    });
  }
});

describe("a batch of hundreds of thousands of items", () => {
  it("sizes the table's id column without spreading every id into one call", () => {
    const out = new CapturedOutput();
    const ids = Array.from({ length: 500_000 }, (_, i) => `row-${i}`);
    const writer = new ResultWriter({ out, json: false, ordered: false, ids });
    writer.header();
    expect(out.text).toBe(`${"ID".padEnd(10)}  OUTCOME   SCORE  LABELS\n`);
  });
});

describe("a mistyped option before the command", () => {
  const KEY = "sk-never-print-this-4d1e";
  for (const args of [
    ["--apikey", KEY, "evaluate", "--policy", "policy-violence", "hi"],
    ["jobs", "--apikey", KEY, "list"],
  ]) {
    it(`reports the unknown option, not its value as a command: clavata ${args[0]} …`, async () => {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/unknown option --apikey.*did you mean --api-key/);
      expect(result.stderr + result.stdout).not.toContain(KEY);
    });
  }
});

describe("clavata batch create --input rows.jsonl", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "clavata-cli-robustness-"));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("skips a UTF-8 byte order mark before the first row", async () => {
    writeFileSync(join(dir, "bom.jsonl"), '\uFEFF{"ref_id":"1","type":"text","content":"hi"}\n');
    const result = await runCli(
      ["batch", "create", "--emulator", "--policy", "policy-violence", "--input", "bom.jsonl"],
      {
        cwd: dir,
      },
    );
    expect(result.stderr).toContain("uploaded");
    expect(result.code).toBe(0);
  });

  it("calls a row that is JSON but not an object bad input (exit 2), not an unexpected error", async () => {
    writeFileSync(join(dir, "null.jsonl"), "null\n");
    const result = await runCli(
      ["batch", "create", "--emulator", "--policy", "policy-violence", "--input", "null.jsonl"],
      {
        cwd: dir,
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/line 1 is not a JSON object/);
    expect(result.stderr).not.toMatch(/unexpected error/);
  });
});
