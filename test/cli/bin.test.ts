// The built `clavata` binary as a new process, for what only a real process shows: the bin file, exit codes as the
// shell sees them, and signals (Ctrl-C, SIGTERM). Usage, flags and output are tested in-process (the other files).

import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { VERSION } from "../../src/version.js";
import { ndjson, ROOT } from "../support/cli.js";
import { CLI_BIN, requireBuild, runBuiltCli, spawnBuiltCli } from "../support/spawn-cli.js";

const API_KEY = "cli-bin-test-key";
let emulator: Emulator;

beforeAll(async () => {
  requireBuild();
  emulator = await startEmulator({ port: 0, logger: false, apiKeys: [API_KEY] });
});

afterAll(async () => {
  await emulator?.close();
});

/** The global options that point the binary at the test's emulator. */
function gatewayArgs(): string[] {
  return ["--host", "127.0.0.1", "--port", String(emulator.port), "--insecure"];
}

/** Collects a child's output as text, and resolves once it holds what `predicate` wants. */
function watch(stream: NodeJS.ReadableStream) {
  let text = "";
  const waiters = new Set<() => void>();
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    text += chunk;
    for (const waiter of waiters) waiter();
  });
  return {
    get text() {
      return text;
    },
    until(predicate: (text: string) => boolean): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(text)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        stream.once("end", () => reject(new Error(`the stream ended without the expected output: ${text}`)));
        check();
      });
    },
  };
}

describe("the clavata binary", () => {
  it("is the package's clavata bin: a built file that starts with a node shebang", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    const bin = join(ROOT, pkg.bin.clavata!);
    expect(bin).toBe(CLI_BIN);
    expect(readFileSync(bin, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
    expect(pkg.scripts.clavata).toContain("dist/esm/src/cli/bin.js");
    expect(pkg.scripts.emulator).toContain("dist/esm/src/cli/bin.js emulator");
    expect(pkg.scripts.demo).toContain("dist/esm/src/cli/demo.js");
  });

  it("exits 0 with the version, 2 for bad usage, 1 for a failed call and 3 for a match with --fail-on-match", async () => {
    const [version, usage, failed, matched] = await Promise.all([
      runBuiltCli(["--version"]),
      runBuiltCli(["evalute"]),
      runBuiltCli([...gatewayArgs(), "evaluate", "--policy", "policy-violence", "hi"], {
        env: { CLAVATA_API_KEY: "wrong-key" },
      }),
      runBuiltCli([...gatewayArgs(), "evaluate", "--policy", "policy-violence", "--fail-on-match", "I will hurt you"], {
        env: { CLAVATA_API_KEY: API_KEY },
      }),
    ]);
    expect(version).toMatchObject({ code: 0, stdout: `clavata ${VERSION}\n` });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("did you mean evaluate?");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("hint: check CLAVATA_API_KEY or --api-key");
    expect(matched.code).toBe(3);
    expect(matched.stdout).toContain("1 item: 1 matched");
  });

  it("reads standard input through a pipe", async () => {
    const run = await runBuiltCli([...gatewayArgs(), "evaluate", "--policy", "policy-harassment", "--json"], {
      env: { CLAVATA_API_KEY: API_KEY },
      stdin: "nobody likes you\n",
    });
    expect(run.code).toBe(0);
    expect(ndjson(run.stdout)).toEqual([expect.objectContaining({ id: "stdin", outcome: "match" })]);
  });

  it("stops on Ctrl-C (SIGINT): cancels the streams, sums up what arrived, and exits 130", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `s${i}`, content: `text ${i}` }));
    const before = emulator.calls.Evaluate;
    // The first stream hangs until it is cancelled; the other two answer at once.
    emulator.faults.delay("Evaluate", 60_000, 1);
    const child = spawnBuiltCli(
      [...gatewayArgs(), "evaluate", "--policy", "policy-violence", "--input", "-", "--chunk-size", "10"],
      { env: { CLAVATA_API_KEY: API_KEY } },
    );
    try {
      child.stdin.end(rows.join("\n"));
      const stdout = watch(child.stdout);
      const stderr = watch(child.stderr);
      const exited = once(child, "exit");
      // Interrupt once all three streams are open and the two quick ones have answered.
      await stdout.until((text) => (text.match(/^s\d+ /gm) ?? []).length >= 20);
      await expect.poll(() => emulator.calls.Evaluate).toBeGreaterThanOrEqual(before + 3);
      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(130);
      expect(stdout.text).toContain("30 items: 0 matched, 20 clear, 0 refused, 0 failed");
      expect(stdout.text).toContain("10 without a result (the run stopped early)");
      expect(stderr.text).toContain("clavata evaluate: interrupted");
    } finally {
      emulator.faults.clear();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("runs the emulator in the foreground until SIGTERM, then exits 0", async () => {
    const child = spawnBuiltCli(["emulator", "--port", "0"]);
    try {
      const stdout = watch(child.stdout);
      const exited = once(child, "exit");
      await stdout.until((text) => /listening on http:\/\/127\.0\.0\.1:(\d+)\n.*\n/.test(text));
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout.text)![1]!;
      const run = await runBuiltCli(
        ["--host", "127.0.0.1", "--port", port, "--insecure", "evaluate", "--policy", "policy-violence", "hi"],
        { env: { CLAVATA_API_KEY: "any" } },
      );
      expect(run.code).toBe(0);
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
