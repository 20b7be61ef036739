// Runs the built `clavata` binary (dist/, which `npm test` builds first) as a user would, and collects what it
// printed and its exit code: for the few end-to-end tests of what only a real process has (signals, exit codes,
// the bin file). Everything else runs in-process (cli.ts).

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type CliRun, ROOT } from "./cli.js";

/** The built entry points the tests spawn. */
export const CLI_BIN = fileURLToPath(new URL("../../dist/esm/src/cli/bin.js", import.meta.url));
export const CLI_DEMO = fileURLToPath(new URL("../../dist/esm/src/cli/demo.js", import.meta.url));

/** Throws a clear error when dist/ has not been built. */
export function requireBuild(): void {
  if (!existsSync(CLI_BIN)) {
    throw new Error(
      "dist/esm/src/cli/bin.js is missing: run the tests with `npm test`, which builds first (or run `npm run build`)",
    );
  }
}

/** How to run the binary. */
export interface SpawnOptions {
  /** Bytes or text for standard input; default: none (standard input is closed at once). */
  stdin?: string | Uint8Array;
  /** Environment variables on top of a clean base (PATH and HOME only, so no CLAVATA_* leaks in). */
  env?: Record<string, string>;
  /** The working directory. Default: the repository root. */
  cwd?: string;
  /** Kill the process after this long. Default 30 s. */
  timeoutMs?: number;
}

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...extra };
}

/** Spawns `node <script> ...args` and resolves when it exits. */
export function runScript(script: string, args: readonly string[], options: SpawnOptions = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd ?? ROOT,
    env: baseEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  return collect(child, options);
}

/** Runs the built `clavata ...args` from dist/ in a new process. */
export function runBuiltCli(args: readonly string[], options: SpawnOptions = {}): Promise<CliRun> {
  return runScript(CLI_BIN, args, options);
}

/** Spawns `clavata ...args` and returns the child, for commands that run until stopped. */
export function spawnBuiltCli(
  args: readonly string[],
  options: Omit<SpawnOptions, "stdin" | "timeoutMs"> = {},
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: baseEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

function collect(child: ChildProcessWithoutNullStreams, options: SpawnOptions): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
  });
}
