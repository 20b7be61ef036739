// `clavata evaluate` in-process (run() with fake streams) against an emulator started here, over real HTTP/2 on
// loopback. What only a real process shows (signals, exit codes of the built binary) is in bin.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentHash, type Emulator, makePng, sampleKnownImage, startEmulator } from "../../src/emulator/index.js";
import { type CliRunOptions, ndjson, runCli, startCli } from "../support/cli.js";

const API_KEY = "cli-test-key-7f3a9c";
const GIF = Buffer.from("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00;", "latin1");
const FORBIDDEN_TEXT = "this exact text is on the blocked list";

let emulator: Emulator;
let dir: string;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, logger: false, apiKeys: [API_KEY] });
  emulator.engine.blockHash(contentHash(FORBIDDEN_TEXT));
  dir = mkdtempSync(join(tmpdir(), "clavata-cli-evaluate-"));
});

afterAll(async () => {
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The global options that point the tool at the test's emulator (the API key comes from the environment). */
function gatewayArgs(): string[] {
  return ["--host", "127.0.0.1", "--port", String(emulator.port), "--insecure"];
}

/** Runs `clavata evaluate` against the test's emulator. */
function evaluate(args: readonly string[], options: CliRunOptions = {}) {
  return runCli([...gatewayArgs(), "evaluate", ...args], {
    ...options,
    env: { CLAVATA_API_KEY: API_KEY, ...options.env },
  });
}

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The table rows of a run's standard output, as [id, outcome, score, labels]. */
function tableRows(stdout: string): string[][] {
  const lines = stdout.split("\n");
  const header = lines.findIndex((l) => l.startsWith("ID "));
  expect(header).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 1)) {
    if (line === "") break;
    rows.push(line.split(/\s{2,}/));
  }
  return rows;
}

describe("clavata evaluate", () => {
  it("evaluates text arguments and prints a table and a summary", async () => {
    const run = await evaluate([
      "--policy",
      "policy-violence",
      "I will hurt you",
      "Have a nice day",
      "Selling my old rifle",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const rows = tableRows(run.stdout);
    expect(rows.map((r) => r[0]).sort()).toEqual(["1", "2", "3"]);
    const byId = Object.fromEntries(rows.map((r) => [r[0], r]));
    expect(byId["1"]).toEqual(["1", "match", "0.95", "Threats 0.95"]);
    expect(byId["2"]).toEqual(["2", "clear", "0.00"]);
    expect(byId["3"]).toEqual(["3", "match", "0.60", "Weapons 0.60"]);
    expect(run.stdout).toContain("3 items: 2 matched, 1 clear, 0 refused, 0 failed");
    expect(run.stdout).toMatch(/tokens: \d+ input, \d+ billed/);
  });

  it("writes NDJSON with --json and the summary to standard error", async () => {
    const run = await evaluate([
      "--policy",
      "policy-spam",
      "--json",
      "BUY NOW, limited time offer: www.deals.example.com",
    ]);
    expect(run.code).toBe(0);
    const [record, ...rest] = ndjson(run.stdout);
    expect(rest).toEqual([]);
    expect(record).toMatchObject({
      id: "1",
      index: 0,
      outcome: "match",
      score: 0.85,
      labels: { "Commercial spam": 0.85, Links: 0.55 },
      tokens: { input: 13, billed: 20 },
    });
    expect(record!.contentHash).toMatch(/^fnv1a128::[0-9a-f]{32}$/);
    expect((record!.report as { policyId: string }).policyId).toBe("policy-spam");
    expect(run.stderr).toContain("1 item: 1 matched, 0 clear, 0 refused, 0 failed");
  });

  it("runs a 1,000-item batch file in input order with --ordered --json, each id exactly once", async () => {
    const rows = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({
        id: `item-${i}`,
        kind: "text",
        content: i % 7 === 0 ? `I will hurt you, number ${i}` : `hello friend number ${i}`,
      }),
    );
    const path = file("thousand.jsonl", `${rows.join("\n")}\n`);
    const run = await evaluate([
      "--policy",
      "policy-violence",
      "--input",
      path,
      "--ordered",
      "--json",
      "--concurrency",
      "4",
      "--chunk-size",
      "64",
    ]);
    expect(run.code).toBe(0);
    const records = ndjson(run.stdout);
    expect(records.map((r) => r.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `item-${i}`));
    expect(records.map((r) => r.index)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    for (const [i, r] of records.entries()) expect(r.outcome).toBe(i % 7 === 0 ? "match" : "clear");
    expect(run.stderr).toContain("1,000 items: 143 matched, 857 clear, 0 refused, 0 failed");
    // No progress bar: standard error is a pipe here.
    expect(run.stderr).not.toContain("\r");
  }, 60_000);

  it("writes results as they arrive without --ordered (the emulator answers out of input order)", async () => {
    const rows = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `n${i}`, content: `message ${i}` }));
    const path = file("fifty.jsonl", rows.join("\n"));
    const run = await evaluate([
      "--policy",
      "policy-violence",
      "--input",
      path,
      "--json",
      "--concurrency",
      "1",
      "--chunk-size",
      "50",
    ]);
    expect(run.code).toBe(0);
    const ids = ndjson(run.stdout).map((r) => r.id);
    expect([...ids].sort()).toEqual(rows.map((_, i) => `n${i}`).sort());
    expect(ids).not.toEqual(rows.map((_, i) => `n${i}`));
  });

  it("reports each refused item with its reason and evaluates the rest of its stream", async () => {
    const truncatedPng = Buffer.from(makePng(8, 8)).subarray(0, 40);
    const rows = [
      { id: "clean-1", content: "good morning" },
      { id: "gif", kind: "image", content: GIF.toString("base64") },
      { id: "threat", content: "I will hurt you" },
      { id: "broken-png", kind: "image", content: truncatedPng.toString("base64") },
      { id: "blocked", content: FORBIDDEN_TEXT },
      { id: "clean-2", content: "see you later" },
      { id: "gif-again", kind: "image", content: GIF.toString("base64") },
    ];
    const path = file("refusals.jsonl", rows.map((r) => JSON.stringify(r)).join("\n"));
    for (const chunkSize of ["100", "3"]) {
      const run = await evaluate([
        "--policy",
        "policy-violence",
        "--input",
        path,
        "--json",
        "--ordered",
        "--chunk-size",
        chunkSize,
      ]);
      expect(run.code).toBe(0);
      const records = ndjson(run.stdout);
      expect(records.map((r) => r.id)).toEqual(rows.map((r) => r.id));
      const outcome = Object.fromEntries(records.map((r) => [r.id, r.outcome]));
      expect(outcome).toEqual({
        "clean-1": "clear",
        gif: "refused",
        threat: "match",
        "broken-png": "refused",
        blocked: "refused",
        "clean-2": "clear",
        "gif-again": "refused",
      });
      const reason = Object.fromEntries(
        records.filter((r) => r.refusal).map((r) => [r.id, (r.refusal as { reason: string }).reason]),
      );
      expect(reason).toEqual({
        gif: "UNSUPPORTED_FORMAT",
        "broken-png": "INVALID_CONTENT",
        blocked: "CSAM",
        "gif-again": "UNSUPPORTED_FORMAT",
      });
      expect(run.stderr).toContain("7 items: 1 matched, 2 clear, 4 refused, 0 failed");
      // Ties are listed by severity.
      expect(run.stderr).toContain("refused by reason: UNSUPPORTED_FORMAT 2, CSAM 1, INVALID_CONTENT 1");
    }
  }, 60_000);

  it("shows refusals in the table with their reason", async () => {
    file("banner.gif", GIF);
    file("known.png", sampleKnownImage());
    const run = await evaluate(["--policy", "policy-images", "--file", "banner.gif", "--file", "known.png"], {
      cwd: dir,
    });
    expect(run.code).toBe(0);
    const rows = Object.fromEntries(tableRows(run.stdout).map((r) => [r[0], r]));
    expect(rows["banner.gif"]).toEqual(["banner.gif", "refused", "-", "UNSUPPORTED_FORMAT: unsupported image format"]);
    expect(rows["known.png"]).toEqual(["known.png", "match", "1.00", "Known images 1.00"]);
    expect(run.stdout).toContain("refused by reason: UNSUPPORTED_FORMAT 1");
  });

  it("tells images from text by extension or magic bytes", async () => {
    const noExtension = file("upload-without-extension", makePng(4, 4));
    const text = file("comment.txt", "click here for free money\n");
    const unknownText = file("notes.dat", "nothing to see here");
    const run = await evaluate([
      "--policy",
      "policy-spam",
      "--json",
      "--ordered",
      "-f",
      noExtension,
      "-f",
      text,
      "-f",
      unknownText,
    ]);
    expect(run.code).toBe(0);
    const records = ndjson(run.stdout);
    // An image counts 256 input tokens; text counts by length.
    expect(records.map((r) => (r.tokens as { input: number }).input)).toEqual([256, 7, 5]);
    expect(records.map((r) => r.outcome)).toEqual(["clear", "match", "clear"]);
  });

  it("sends image URLs for the gateway to fetch, and pins a refused URL to its item", async () => {
    const run = await evaluate([
      "--policy",
      "policy-images",
      "--json",
      "--ordered",
      "--image-url",
      "https://cdn.example.com/cat.webp",
      "--image-url",
      "https://cdn.example.com/anim.gif",
      "--image-url",
      "https://cdn.example.com/photo.png",
    ]);
    expect(run.code).toBe(0);
    expect(ndjson(run.stdout).map((r) => [r.id, r.outcome])).toEqual([
      ["https://cdn.example.com/cat.webp", "match"],
      ["https://cdn.example.com/anim.gif", "refused"],
      ["https://cdn.example.com/photo.png", "clear"],
    ]);
    const bad = await evaluate(["--policy", "policy-images", "--image-url", "ftp://example.com/a.png"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not an http:// or https:// URL");
  });

  it("reads one item from standard input: text, or an image when its bytes are one", async () => {
    const text = await evaluate(["--policy", "policy-harassment", "--json"], { stdin: "nobody likes you\n" });
    expect(text.code).toBe(0);
    expect(ndjson(text.stdout)).toEqual([
      expect.objectContaining({ id: "stdin", outcome: "match", labels: { Insults: 0.9 } }),
    ]);
    const image = await evaluate(["--policy", "policy-images", "--json"], { stdin: sampleKnownImage() });
    expect(image.code).toBe(0);
    expect(ndjson(image.stdout)).toEqual([
      expect.objectContaining({ id: "stdin", outcome: "match", labels: { "Known images": 1 } }),
    ]);
  });

  it("reads an RFC 4180 CSV batch: quoted commas, doubled quotes, line breaks, extra columns as metadata", async () => {
    file("banner.gif", GIF);
    const csv = file(
      "items.csv",
      "id,kind,content,source\r\n" +
        'a,text,"hello, world",forum\r\n' +
        'b,text,"he wrote ""I will kill you""",chat\r\n' +
        'c,text,"first line\r\nsecond line: you\'re dead",dm\r\n' +
        `d,file,banner.gif,upload\r\n`,
    );
    const run = await evaluate(["--policy", "policy-violence", "--input", csv, "--json", "--ordered"]);
    expect(run.code).toBe(0);
    const records = ndjson(run.stdout);
    expect(records.map((r) => [r.id, r.outcome])).toEqual([
      ["a", "clear"],
      ["b", "match"],
      ["c", "match"],
      ["d", "refused"],
    ]);
    expect(records[0]!.metadata).toEqual({ source: "forum" });
  });

  it("exits with 3 under --fail-on-match when an item matched or was refused, else 0", async () => {
    const matched = await evaluate(["--policy", "policy-violence", "--fail-on-match", "hello", "I will hurt you"]);
    expect(matched.code).toBe(3);
    const refused = await evaluate(["--policy", "policy-images", "--fail-on-match", "--file", file("x.gif", GIF)]);
    expect(refused.code).toBe(3);
    const clean = await evaluate(["--policy", "policy-violence", "--fail-on-match", "hello", "good night"]);
    expect(clean.code).toBe(0);
  });

  it("rejects bad flags and values with exit code 2 and says what to fix", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--policy", "policy-violence", "--bogus", "hi"], /unknown option --bogus/],
      [["hi"], /--policy is required/],
      [["--policy", "policy-violence", "--threshold", "2", "hi"], /--threshold must be a number from 0 to 1/],
      [
        ["--policy", "policy-violence", "--concurrency", "0", "hi"],
        /--concurrency must be a whole number from 1 to 64/,
      ],
      [["--policy", "policy-violence", "--timeout", "soon", "hi"], /--timeout must be a duration/],
      [["--policy", "policy-violence", "--file", join(dir, "missing.png")], /cannot read .*missing\.png: no such file/],
      [
        [
          "--policy",
          "policy-violence",
          "--input",
          file("bad.jsonl", '{"id":"1","content":"ok"}\n{"id":2,"content":5}\n'),
        ],
        /bad\.jsonl:2: "content" is missing or not a string/,
      ],
      [
        ["--policy", "policy-violence", "--input", file("bad.csv", 'id,content\n1,"unterminated\n')],
        /bad\.csv: line 2: a quoted field is never closed/,
      ],
      [["--policy", "policy-violence", "--input", file("items.txt", "x")], /--format jsonl\|csv/],
      [["--policy", "policy-violence", "--policy"], /--policy needs a value/],
    ];
    for (const [args, message] of cases) {
      const run = await evaluate(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('Run "clavata evaluate --help" for usage.');
      expect(run.stdout).toBe("");
    }
  }, 60_000);

  it("refuses --insecure to a host that is not loopback (exit 2), before sending anything", async () => {
    const run = await runCli(["--host", "gateway.example.com", "--insecure", "evaluate", "--policy", "p", "hi"], {
      env: { CLAVATA_API_KEY: API_KEY },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("plaintext");
  });

  it("asks for an API key when there is none (exit 2)", async () => {
    // Global options after the command work too.
    const run = await runCli(["evaluate", ...gatewayArgs(), "--policy", "p", "hi"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no API key: set CLAVATA_API_KEY, or pass --api-key");
  });

  it("reports a rejected API key with exit code 1 and never prints the key", async () => {
    const wrongKey = "wrong-key-DO-NOT-PRINT-8d1e";
    for (const args of [["--api-key", wrongKey], ["--verbose"]]) {
      const run = await evaluate([...args, "--policy", "policy-violence", "hello"], {
        env: { CLAVATA_API_KEY: wrongKey },
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("did not accept the API key");
      expect(run.stderr).toContain("hint: check CLAVATA_API_KEY or --api-key");
      expect(run.stdout + run.stderr).not.toContain(wrongKey);
    }
  }, 60_000);

  it("reports an unknown policy with exit code 1", async () => {
    const run = await evaluate(["--policy", "no-such-policy", "hello"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('policy "no-such-policy" not found');
    expect(run.stdout).toBe("");
  });

  it("runs against an in-process emulator with --emulator, without an API key", async () => {
    const run = await runCli([
      "evaluate",
      "--emulator",
      "--policy",
      "policy-violence",
      "--json",
      "I'm going to stab you",
    ]);
    expect(run.code).toBe(0);
    expect(ndjson(run.stdout)).toEqual([expect.objectContaining({ outcome: "match", labels: { Threats: 0.95 } })]);
    const conflict = await runCli(["evaluate", "--emulator", "--port", "50051", "--policy", "policy-violence", "hi"]);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain("--emulator starts its own local gateway; drop --port");
  });

  it("stops when its signal fires (Ctrl-C): cancels the streams, sums up what arrived, and returns 130", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `s${i}`, content: `text ${i}` }));
    const path = file("interrupted.jsonl", rows.join("\n"));
    const before = emulator.calls.Evaluate;
    // The first stream hangs until it is cancelled; the other two answer at once.
    emulator.faults.delay("Evaluate", 60_000, 1);
    const controller = new AbortController();
    try {
      const args = ["--policy", "policy-violence", "--input", path, "--chunk-size", "10", "--concurrency", "3"];
      const cli = startCli([...gatewayArgs(), "evaluate", ...args], {
        env: { CLAVATA_API_KEY: API_KEY },
        signal: controller.signal,
      });
      // Interrupt once all three streams are open and the two quick ones have answered.
      await cli.stdout.until((text) => (text.match(/^s\d+ /gm) ?? []).length >= 20);
      await expect.poll(() => emulator.calls.Evaluate).toBeGreaterThanOrEqual(before + 3);
      controller.abort(new Error("interrupted"));
      const run = await cli.exited;
      expect(run.code).toBe(130);
      expect(run.stdout).toContain("30 items: 0 matched, 20 clear, 0 refused, 0 failed");
      expect(run.stdout).toContain("10 without a result (the run stopped early)");
      expect(run.stderr).toContain("clavata evaluate: interrupted");
    } finally {
      emulator.faults.clear();
    }
  });

  it("draws a progress bar on standard error when it is a terminal and the input is a batch file", async () => {
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `p${i}`, content: `text ${i}` }));
    const path = file("progress.jsonl", rows.join("\n"));
    const args = ["--policy", "policy-violence", "--input", path, "--json"];
    const run = await evaluate(args, { tty: { columns: 60 } });
    expect(run.code).toBe(0);
    // The last drawing shows every item done, then the bar is erased before the summary.
    expect(run.stderr).toContain("40/40 100%");
    const erase = "\r\x1b[2K";
    const lastDrawing = run.stderr.slice(run.stderr.lastIndexOf(`${erase}[`) + erase.length);
    expect(lastDrawing).toMatch(/^\[#{10,}\] 40\/40 100%/);
    expect(run.stderr).toContain(`${erase}40 items:`);
    expect(ndjson(run.stdout)).toHaveLength(40);
    const quiet = await evaluate([...args, "--no-progress"], { tty: { columns: 60 } });
    expect(quiet.stderr).not.toContain("\r");
    const texts = await evaluate(["--policy", "policy-violence", "one", "two"], { tty: { columns: 60 } });
    expect(texts.stderr).not.toContain("\r");
  });

  it("prints its help with --help (exit 0)", async () => {
    const run = await runCli(["evaluate", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: clavata evaluate --policy <id>");
    for (const option of [
      "--file",
      "--input",
      "--json",
      "--ordered",
      "--concurrency",
      "--fail-on-match",
      "--api-key",
      "--emulator",
    ]) {
      expect(run.stdout).toContain(option);
    }
  });
});
