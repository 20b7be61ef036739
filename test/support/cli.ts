// Runs `clavata` in this process, through run() with fake streams and a test's own environment, as the tests of
// usage, help, flags and output do; and reads what it printed.

import { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { run } from "../../src/cli/run.js";

/** The repository root: commands run there, so relative paths in tests are relative to it. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What a run printed and how it ended. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** How to run the tool. */
export interface CliRunOptions {
  /** Bytes or text for standard input; default: none (standard input is empty). */
  stdin?: string | Uint8Array;
  /** The environment: only these variables, so no CLAVATA_* of the machine leaks in. */
  env?: Record<string, string>;
  /** The working directory. Default: the repository root. */
  cwd?: string;
  /** Aborting it is Ctrl-C. */
  signal?: AbortSignal;
  /** Make standard output and standard error look like terminals of this many columns. */
  tty?: { columns: number };
}

/** A writable stream that keeps what is written, as text; `isTTY` and `columns` when it plays a terminal. */
export class CapturedOutput extends Writable {
  /** Everything written so far. */
  text = "";
  readonly isTTY: boolean;
  readonly columns: number | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(tty?: { columns: number }) {
    super();
    this.isTTY = tty !== undefined;
    this.columns = tty?.columns;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    for (const listener of this.#listeners) listener();
    callback();
  }

  /** Resolves once the text written so far satisfies `predicate` (checked on every write). */
  until(predicate: (text: string) => boolean): Promise<string> {
    return new Promise((resolve) => {
      const check = () => {
        if (!predicate(this.text)) return;
        this.#listeners.delete(check);
        resolve(this.text);
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** A running in-process `clavata`: its output streams, and the exit code once it returns. */
export interface CliProcess {
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  exited: Promise<CliRun>;
}

/** Starts `clavata ...args` in-process and returns at once, for commands that run until stopped. */
export function startCli(args: readonly string[], options: CliRunOptions = {}): CliProcess {
  const stdout = new CapturedOutput(options.tty);
  const stderr = new CapturedOutput(options.tty);
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]);
  const exited = run(args, {
    stdin,
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? ROOT,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  }).then((code) => ({ code, signal: null, stdout: stdout.text, stderr: stderr.text }));
  return { stdout, stderr, exited };
}

/** Runs `clavata ...args` in-process and resolves with what it printed and its exit code. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return startCli(args, options).exited;
}

/** Parses NDJSON output into objects, failing on any line that is not JSON. */
export function ndjson(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
