// What every command gets from `run()`: its arguments, the streams and environment it works with, and the signal
// that stops it. Commands never reach for `process` themselves, so that tests can run them in-process with fake
// streams and a test's own environment.

/** A stream a command writes to; `isTTY` and `columns` are there when it is a terminal. */
export type CliOutput = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** A stream a command reads from; `isTTY` is true when it is a terminal (and so holds no piped content). */
export type CliInput = NodeJS.ReadableStream & { isTTY?: boolean };

/** The streams, environment and working directory the tool runs with. */
export interface CliIo {
  /** Standard input: content to evaluate, or a batch file with `--input -`. */
  stdin: CliInput;
  /** Standard output: results. */
  stdout: CliOutput;
  /** Standard error: usage errors, failures, summaries in --json mode, the progress bar. */
  stderr: CliOutput;
  /** The environment variables (CLAVATA_API_KEY, CLAVATA_HOST, ...). */
  env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths are read from. */
  cwd: string;
  /** Fires on SIGINT or SIGTERM: stop, report what is done, and return. */
  signal: AbortSignal;
}

/** What a command runs with: its arguments (without the command words), its streams and its environment. */
export interface CommandContext extends CliIo {
  /** The arguments after the command words were taken out. */
  argv: string[];
}

/** A command: returns the exit code. Throws UsageError for bad usage or input. */
export type Command = (context: CommandContext) => Promise<number>;
