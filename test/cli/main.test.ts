// The top level of `clavata` (help, version, unknown commands and flags, global options) and `clavata emulator`,
// in-process through run() with fake streams.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { editDistance, nearest } from "../../src/emulator/nearest-word.js";
import { VERSION } from "../../src/version.js";
import { ndjson, runCli, startCli } from "../support/cli.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "clavata-cli-main-"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("clavata", () => {
  it("prints its help with --help, and for help <command>", async () => {
    const run = await runCli(["--help"]);
    expect(run.code).toBe(0);
    for (const command of [
      "evaluate",
      "jobs create",
      "jobs list",
      "jobs wait",
      "jobs get",
      "labels evaluate",
      "emulator",
      "--api-key",
      "CLAVATA_API_KEY",
    ]) {
      expect(run.stdout).toContain(command);
    }
    const help = await runCli(["help", "jobs", "list"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: clavata jobs list");
    for (const words of [["help"], ["help", "evaluate"], ["help", "jobs"], ["help", "emulator"]]) {
      const run = await runCli(words);
      expect({ words, code: run.code }).toEqual({ words, code: 0 });
      expect(run.stdout).toMatch(/^Usage: clavata/);
    }
  });

  it("prints its version", async () => {
    for (const flag of ["--version", "-V"]) {
      const run = await runCli([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`clavata ${VERSION}\n`);
    }
  });

  it("exits 2 with a clear message for no command, an unknown command or an unknown global flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [["--verbose"], /no command given/],
      [["moderate"], /unknown command "moderate"; the commands are evaluate, jobs, labels, batch, emulator and help/],
      [["--colour"], /unknown option --colour for clavata/],
      [["help", "nope"], /unknown command "nope"/],
      [["help", "jobs", "nope"], /unknown command "clavata jobs nope"/],
      [["labels"], /"clavata labels" needs a command: evaluate/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(/Run "clavata( \w+)? --help" for usage\.\n$/);
      expect(run.stdout).toBe("");
    }
  });

  it("suggests the nearest command or flag for a typo", async () => {
    const cases: Array<[string[], string]> = [
      [["evalute"], 'unknown command "evalute"; did you mean evaluate?'],
      [["job", "list"], 'unknown command "job"; did you mean jobs?'],
      [["emulater"], "did you mean emulator?"],
      [["labels", "evalute"], 'unknown command "clavata labels evalute"; did you mean evaluate?'],
      [["jobs", "craete"], "did you mean create?"],
      [["evaluate", "--polcy", "p", "hi"], "unknown option --polcy for clavata evaluate; did you mean --policy?"],
      [["evaluate", "--pol", "p", "hi"], "did you mean --policy?"],
      [["--emulater", "evaluate", "--policy", "p", "hi"], "did you mean --emulator?"],
      [["--verbos"], "unknown option --verbos for clavata; did you mean --verbose?"],
      [["emulator", "--polices", "x.json"], "did you mean --policies?"],
      [["labels", "evaluate", "--lable", "x", "hi"], "did you mean --label?"],
    ];
    for (const [args, text] of cases) {
      const run = await runCli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain(text);
    }
    // Nothing near: no guess, and the hint for text that starts with "-".
    const far = await runCli(["evaluate", "--zzzzzzzz", "hi"]);
    expect(far.stderr).not.toContain("did you mean");
    expect(far.stderr).toContain('put it after "--"');
    const unrelated = await runCli(["frobnicate"]);
    expect(unrelated.stderr).not.toContain("did you mean");
  });

  it("measures nearness by edit distance, with a limit that grows with the word", () => {
    expect(editDistance("policy", "policy")).toBe(0);
    expect(editDistance("polcy", "policy")).toBe(1);
    expect(editDistance("ploicy", "policy")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(nearest("jbos", ["jobs", "labels"])).toBe("jobs");
    expect(nearest("xyz", ["jobs", "labels"])).toBeUndefined();
    expect(nearest("--", ["--json"])).toBeUndefined();
    expect(nearest("--JSON", ["--json", "--jobs"])).toBe("--json");
  });

  it("takes global options before the command and reads them from the environment", async () => {
    const run = await runCli([
      "--emulator",
      "--timeout",
      "20s",
      "evaluate",
      "--policy",
      "policy-harassment",
      "--json",
      "what a loser",
    ]);
    expect(run.code).toBe(0);
    expect(ndjson(run.stdout)[0]).toMatchObject({ outcome: "match" });
    const badEnv = await runCli(["evaluate", "--policy", "p", "hi"], {
      env: { CLAVATA_API_KEY: "k", CLAVATA_PORT: "99999" },
    });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain("CLAVATA_PORT must be a whole number from 1 to 65535");
    const badFlag = await runCli(["evaluate", "--policy", "p", "hi"], {
      env: { CLAVATA_API_KEY: "k", CLAVATA_INSECURE: "maybe" },
    });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("CLAVATA_INSECURE must be true or false");
  });
});

describe("empty option values", () => {
  it("an option given an empty or blank value is a usage error (exit 2), not a fallback to its default", async () => {
    const env = { CLAVATA_API_KEY: "cli-main-test-key" };
    const cases: Array<[string[], string]> = [
      [["--host", "", "--insecure", "jobs", "list"], "--host"],
      [["jobs", "list", "--insecure", "--host="], "--host"],
      [["--host", "  ", "--insecure", "evaluate", "--policy", "p", "hi"], "--host"],
      [["evaluate", "--emulator", "--policy=", "hi"], "--policy"],
      [["evaluate", "--emulator", "-p", "", "hi"], "--policy"],
      [["evaluate", "--emulator", "--policy", "p", "--input="], "--input"],
      [["evaluate", "--emulator", "--policy", "p", "--file", "a.txt", "--file", ""], "--file"],
      [["jobs", "list", "--emulator", "--page-token="], "--page-token"],
      [
        [
          "jobs",
          "create",
          "--emulator",
          "--policy",
          "p",
          "--webhook",
          "http://127.0.0.1:9/x",
          "--webhook-secret=",
          "hi",
        ],
        "--webhook-secret",
      ],
      [["batch", "list", "--emulator", "--id="], "--id"],
      [["emulator", "--host=", "--port", "70000"], "--host"],
    ];
    // Every case stays local even without the check: --insecure makes a fallback to the default host fail the
    // plaintext check before any connection, and the emulator's bad --port stops it before it listens.
    for (const [args, option] of cases) {
      const run = await runCli(args, { env });
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(
        new RegExp(`: ${option} needs a non-empty value\\nRun "clavata [a-z ]+ --help" for usage\\.\\n$`),
      );
    }
  });

  it("never repeats a blank --api-key", async () => {
    const run = await runCli(["--api-key", " \t ", "jobs", "list"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'clavata jobs list: --api-key needs a non-empty value\nRun "clavata jobs list --help" for usage.\n',
    );
  });
});

describe("clavata emulator", () => {
  it("runs until its signal fires, serves the sample policies, and returns 0", async () => {
    const controller = new AbortController();
    const emulator = startCli(["emulator", "--port", "0", "--api-key", "only-this-key"], { signal: controller.signal });
    try {
      const text = await emulator.stdout.until((t) => /listening on http:\/\/127\.0\.0\.1:\d+\n.*\n/.test(t));
      expect(text).toContain("Try: CLAVATA_API_KEY=<one of the --api-key keys> clavata --host 127.0.0.1 --port");
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)![1]!;
      const args = ["--host", "127.0.0.1", "--port", port, "--insecure", "evaluate", "--policy", "policy-violence"];
      const run = await runCli([...args, "--json", "I will stab"], { env: { CLAVATA_API_KEY: "only-this-key" } });
      expect(run.code).toBe(0);
      expect(ndjson(run.stdout)[0]).toMatchObject({ outcome: "match", labels: { Threats: 0.95 } });
      const rejected = await runCli([...args, "hi"], { env: { CLAVATA_API_KEY: "another-key" } });
      expect(rejected.code).toBe(1);
    } finally {
      controller.abort();
    }
    const stopped = await emulator.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain("[emulator] stopping");
  });

  it("loads a policy file with --policies, relative to its directory", async () => {
    writeFileSync(
      join(dir, "policies.json"),
      JSON.stringify({
        policies: [
          {
            id: "policy-pets",
            key: "Pets",
            versionId: "v1",
            sections: [
              {
                name: "Cats",
                message: "REVIEW",
                assertions: [{ description: "Mentions a cat", score: 0.8, keywords: ["cat"] }],
              },
            ],
          },
        ],
      }),
    );
    const controller = new AbortController();
    const emulator = startCli(["emulator", "--port", "0", "--policies", "policies.json"], {
      cwd: dir,
      signal: controller.signal,
    });
    try {
      const text = await emulator.stdout.until((t) => /listening on http:\/\/127\.0\.0\.1:\d+/.test(t));
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)![1]!;
      const run = await runCli(
        [
          "--host",
          "127.0.0.1",
          "--port",
          port,
          "--insecure",
          "evaluate",
          "--policy",
          "policy-pets",
          "--json",
          "my cat",
        ],
        { env: { CLAVATA_API_KEY: "k" } },
      );
      expect(ndjson(run.stdout)[0]).toMatchObject({ outcome: "match", labels: { Cats: 0.8 } });
    } finally {
      controller.abort();
    }
    expect((await emulator.exited).code).toBe(0);
  });

  it("rejects bad options with exit code 2", async () => {
    const bad = join(dir, "bad-policies.json");
    writeFileSync(bad, JSON.stringify({ policies: [{ id: "x" }] }));
    const cases: Array<[string[], RegExp]> = [
      [["emulator", "--port", "70000"], /--port must be a whole number from 0 to 65535/],
      [["emulator", "--policies", join(dir, "missing.json")], /--policies: /],
      [["emulator", "--policies", bad], /--policies: .*bad-policies\.json/],
      [["emulator", "--tls-cert", "a.pem"], /--tls-cert and --tls-key go together/],
      [["emulator", "--tls-cert", "no-such.pem", "--tls-key", "no-such.pem"], /--tls-cert: cannot read no-such\.pem/],
      [["emulator", "--api-key", " "], /--api-key needs a non-empty value/],
      [["emulator", "--job-delay", "soon"], /--job-delay must be a whole number/],
      [["emulator", "--emulator"], /unknown option --emulator/],
      [["emulator", "extra"], /takes no arguments/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
    const help = await runCli(["emulator", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: clavata emulator [options]");
  });
});
