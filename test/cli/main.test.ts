// The top level of `clavata` (help, version, unknown commands) and `clavata emulator` in the foreground.

import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VERSION } from "../../src/version.js";
import { CLI_MAIN, ndjson, ROOT, requireBuild, runCli, spawnCli } from "./run-cli.js";

let dir: string;

beforeAll(() => {
  requireBuild();
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
  });

  it("is the package's clavata bin: a built file that starts with a node shebang", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    const bin = join(ROOT, pkg.bin.clavata!);
    expect(bin).toBe(CLI_MAIN);
    expect(readFileSync(bin, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
    expect(pkg.scripts.demo).toContain("dist/esm/src/cli/demo.js");
  });

  it("prints its version", async () => {
    const run = await runCli(["--version"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`clavata ${VERSION}\n`);
  });

  it("exits 2 with a clear message for no command, an unknown command or an unknown global flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [["moderate"], /unknown command "moderate"; the commands are evaluate, jobs, labels, batch, emulator and help/],
      [["--colour"], /unknown option --colour for clavata/],
      [["help", "nope"], /unknown command "nope"/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
  }, 60_000);

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
  });
});

describe("clavata emulator", () => {
  it("runs in the foreground, serves the sample policies, and stops on SIGTERM with exit code 0", async () => {
    const child = spawnCli(["emulator", "--port", "0", "--api-key", "only-this-key"]);
    try {
      let stdout = "";
      child.stdout.setEncoding("utf8");
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: string) => {
          stdout += chunk;
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)\n.*\n/.exec(stdout);
          if (match) resolve(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`the emulator exited early with ${String(code)}: ${stdout}`)));
      });
      expect(stdout).toContain("Try: CLAVATA_API_KEY=<one of the --api-key keys> clavata --host 127.0.0.1 --port");
      const port = new URL(url).port;
      const env = { CLAVATA_API_KEY: "only-this-key" };
      const run = await runCli(
        [
          "--host",
          "127.0.0.1",
          "--port",
          port,
          "--insecure",
          "evaluate",
          "--policy",
          "policy-violence",
          "--json",
          "I will stab",
        ],
        { env },
      );
      expect(run.code).toBe(0);
      expect(ndjson(run.stdout)[0]).toMatchObject({ outcome: "match", labels: { Threats: 0.95 } });
      const rejected = await runCli(
        ["--host", "127.0.0.1", "--port", port, "--insecure", "evaluate", "--policy", "policy-violence", "hi"],
        {
          env: { CLAVATA_API_KEY: "another-key" },
        },
      );
      expect(rejected.code).toBe(1);
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }, 60_000);

  it("loads a policy file with --policies", async () => {
    const policies = join(dir, "policies.json");
    writeFileSync(
      policies,
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
    const child = spawnCli(["emulator", "--port", "0", "--policies", policies]);
    try {
      let stdout = "";
      child.stdout.setEncoding("utf8");
      const port = await new Promise<string>((resolve) => {
        child.stdout.on("data", (chunk: string) => {
          stdout += chunk;
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
      });
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
        {
          env: { CLAVATA_API_KEY: "k" },
        },
      );
      expect(ndjson(run.stdout)[0]).toMatchObject({ outcome: "match", labels: { Cats: 0.8 } });
      const exited = once(child, "exit");
      child.kill("SIGINT");
      expect(((await exited) as [number | null])[0]).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("rejects bad options with exit code 2", async () => {
    const bad = join(dir, "bad-policies.json");
    writeFileSync(bad, JSON.stringify({ policies: [{ id: "x" }] }));
    const cases: Array<[string[], RegExp]> = [
      [["emulator", "--port", "70000"], /--port must be a whole number from 0 to 65535/],
      [["emulator", "--policies", join(dir, "missing.json")], /--policies: /],
      [["emulator", "--policies", bad], /--policies: .*bad-policies\.json/],
      [["emulator", "--tls-cert", "a.pem"], /--tls-cert and --tls-key go together/],
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
  }, 60_000);
});
