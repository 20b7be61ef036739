// `clavata labels evaluate` in-process (run() with fake streams) against an emulator started here.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { type CliRunOptions, ndjson, runCli } from "../support/cli.js";

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, logger: false });
});

afterAll(async () => {
  await emulator?.close();
});

function labels(args: readonly string[], options: CliRunOptions = {}) {
  return runCli(["labels", "evaluate", "--host", "localhost", "--port", String(emulator.port), "--insecure", ...args], {
    ...options,
    env: { CLAVATA_API_KEY: "labels-key", ...options.env },
  });
}

describe("clavata labels evaluate", () => {
  it("prints one row per label version, in the order given", async () => {
    const run = await labels([
      "-l",
      "label-threats-v1",
      "-l",
      "label-insults-v1",
      "-l",
      "label-links-v1",
      "you idiot, I will hurt you",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const rows = run.stdout.split("\n").filter((l) => l.startsWith("label-"));
    expect(rows).toEqual([
      expect.stringMatching(/^label-threats-v1\s+match\s+0\.95\s+States an intent to hurt or kill$/),
      expect.stringMatching(/^label-insults-v1\s+match\s+0\.70\s+Calls someone a name$/),
      expect.stringMatching(/^label-links-v1\s+clear\s+0\.00$/),
    ]);
    expect(run.stdout).toMatch(/^content 1 \(fnv1a128::[0-9a-f]{32}\)$/m);
  });

  it("prints the gateway's answer as JSON with --json, and exits 3 with --fail-on-match on a match", async () => {
    const run = await labels(["--label", "label-personal-information-v1", "--json", "--fail-on-match"], {
      stdin: "call me at 555-123-4567",
    });
    expect(run.code).toBe(3);
    const [response] = ndjson(run.stdout);
    expect(response).toMatchObject({
      results: [
        { labelVersionId: "label-personal-information-v1", evaluation: { outcome: "OUTCOME_TRUE", score: 0.6 } },
      ],
    });
  });

  it("shows an unknown label version as failed and exits 1", async () => {
    const run = await labels(["--label", "label-threats-v1", "--label", "label-nope", "hello"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^label-nope\s+failed\s+-\s+unknown label version id "label-nope"$/m);
  });

  it("reports refused content with its reason, not as a crash", async () => {
    const gif = Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1");
    const run = await labels(["--label", "label-webp-images-v1"], { stdin: gif });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^content stdin refused: UNSUPPORTED_FORMAT: unsupported image format \(fnv1a128::[0-9a-f]{32}\)$/m,
    );
    const json = await labels(["--label", "label-webp-images-v1", "--json", "--fail-on-match"], { stdin: gif });
    expect(json.code).toBe(3);
    expect(ndjson(json.stdout)).toEqual([{ refusal: expect.objectContaining({ reason: "UNSUPPORTED_FORMAT" }) }]);
  });

  it("rejects bad usage with exit code 2", async () => {
    const eleven = Array.from({ length: 11 }, (_, i) => ["--label", `l${i}`]).flat();
    const cases: Array<[string[], RegExp]> = [
      [["hello"], /give at least one --label/],
      [[...eleven, "hello"], /at most 10 --label per call; got 11/],
      [["--label", "label-threats-v1", "one", "two"], /takes exactly one content item; got 2/],
      [["--label", "label-threats-v1", "--input", "x.jsonl", "hi"], /unknown option --input/],
    ];
    for (const [args, message] of cases) {
      const run = await labels(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
  }, 60_000);

  it("prints help", async () => {
    for (const args of [
      ["labels", "--help"],
      ["labels", "evaluate", "--help"],
      ["help", "labels", "evaluate"],
    ]) {
      const run = await runCli(args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Usage: clavata labels evaluate --label <label-version-id>");
    }
  });
});
