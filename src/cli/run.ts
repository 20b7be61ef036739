// `clavata` as a function: finds the command, runs it with the given streams and environment, and turns what
// happened into an exit code (0 done, 1 a call failed, 2 bad usage, 3 matched with --fail-on-match, 130
// interrupted). The bin file (bin.ts) only wires it to the process; tests call it in-process with fake streams.

import { didYouMean } from "../emulator/nearest-word.js";
import { VERSION } from "../version.js";
import { ExitCode, findCommandWords, GLOBAL_OPTIONS, parseCommandArgs, UsageError, wantsHelp } from "./args.js";
import type { CliInput, CliIo, CliOutput } from "./command-context.js";
import { COMMANDS, type CommandEntry, FIRST_WORDS, GROUPS, MAIN_HELP } from "./commands/index.js";

/** What `run()` works with; every field defaults to the process's own. */
export interface RunOptions {
  /** Standard input. Default: process.stdin. */
  stdin?: CliInput;
  /** Standard output. Default: process.stdout. */
  stdout?: CliOutput;
  /** Standard error. Default: process.stderr. */
  stderr?: CliOutput;
  /** The environment (CLAVATA_API_KEY, CLAVATA_HOST, …). Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths are read from. Default: process.cwd(). */
  cwd?: string;
  /** Stops the command (Ctrl-C): it cancels its calls, reports what is done and returns 130. Default: never. */
  signal?: AbortSignal;
}

/** The help text for command words such as ["jobs", "list"]; undefined when they name no command. */
function helpOf(words: readonly string[]): string | undefined {
  const [first, second] = words;
  if (first === undefined) return MAIN_HELP;
  const group = GROUPS[first];
  if (group !== undefined) return second === undefined ? group.help : group.commands[second]?.help;
  return words.length === 1 ? COMMANDS[first]?.help : undefined;
}

function unknownCommand(words: readonly string[]): UsageError {
  const [first, second] = words;
  const group = first === undefined ? undefined : GROUPS[first];
  if (first !== undefined && group !== undefined) {
    const names = Object.keys(group.commands);
    return new UsageError(
      second === undefined
        ? `"clavata ${first}" needs a command: ${names.join(", ")}`
        : `unknown command "clavata ${first} ${second}"${didYouMean(second, names)}; the ${first} commands are ${names.join(", ")}`,
      first,
    );
  }
  return new UsageError(
    `unknown command "${first ?? ""}"${didYouMean(first ?? "", FIRST_WORDS)}; the commands are evaluate, jobs, labels, batch, emulator and help`,
  );
}

/**
 * When the word taken for a command follows an unknown option (`clavata --apikey KEY evaluate`), the word is most
 * likely that option's value, which may be a secret: the unknown option is reported instead, and the word is not
 * repeated. Throws UsageError.
 */
function checkOptionBefore(argv: readonly string[], word: string): void {
  const before = argv[argv.indexOf(word) - 1];
  if (before === undefined || !before.startsWith("-") || before === "--" || before.includes("=")) return;
  parseCommandArgs([before], { ...GLOBAL_OPTIONS, version: { type: "boolean", short: "V" } }, "", {
    positionals: false,
  });
}

/** Finds the command argv names and runs it; prints help and version itself. Throws UsageError. */
async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const top = findCommandWords(argv, 1);
  const first = top.words[0];
  if (first === undefined) {
    if (argv.includes("--version") || argv.includes("-V")) {
      io.stdout.write(`clavata ${VERSION}\n`);
      return ExitCode.OK;
    }
    if (wantsHelp(argv)) {
      io.stdout.write(`${MAIN_HELP}\n`);
      return ExitCode.OK;
    }
    // Options alone: check them, so an unknown flag still says so, then ask for a command.
    parseCommandArgs(argv, { ...GLOBAL_OPTIONS, version: { type: "boolean", short: "V" } }, "", { positionals: false });
    throw new UsageError(
      'no command given; try clavata evaluate --emulator --policy policy-violence "hello", or clavata --help',
    );
  }
  if (first === "help") {
    const words = findCommandWords(top.rest, 2).words;
    const help = helpOf(words);
    if (help === undefined) throw unknownCommand(words);
    io.stdout.write(`${help}\n`);
    return ExitCode.OK;
  }
  let rest = top.rest;
  let entry: CommandEntry | undefined = COMMANDS[first];
  const group = GROUPS[first];
  if (group !== undefined) {
    const sub = findCommandWords(rest, 1);
    const second = sub.words[0];
    if (second === undefined) {
      if (wantsHelp(rest)) {
        io.stdout.write(`${group.help}\n`);
        return ExitCode.OK;
      }
      throw unknownCommand([first]);
    }
    entry = group.commands[second];
    if (entry === undefined) {
      checkOptionBefore(rest, second);
      throw unknownCommand([first, second]);
    }
    rest = sub.rest;
  }
  if (entry === undefined) {
    checkOptionBefore(argv, first);
    throw unknownCommand([first]);
  }
  if (wantsHelp(rest)) {
    io.stdout.write(`${entry.help}\n`);
    return ExitCode.OK;
  }
  return entry.run({ ...io, argv: rest });
}

/**
 * Runs `clavata` with the arguments after the program name, and resolves with its exit code; never rejects. A
 * usage mistake is written to `stderr` with a pointer to the command's help (exit code 2); an unexpected error
 * with its stack (exit code 1).
 *
 * @example
 * const code = await run(["evaluate", "--emulator", "--policy", "policy-violence", "hello"]);
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const io: CliIo = {
    stdin: options.stdin ?? process.stdin,
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    signal: options.signal ?? new AbortController().signal,
  };
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const where = error.command === "" ? "clavata" : `clavata ${error.command}`;
      io.stderr.write(`${where}: ${error.message}\nRun "${where} --help" for usage.\n`);
      return ExitCode.USAGE;
    }
    // Ctrl-C before the command's calls began (while it read standard input, say): stopped, not failed.
    if (io.signal.aborted) {
      io.stderr.write("clavata: interrupted\n");
      return ExitCode.INTERRUPTED;
    }
    io.stderr.write(
      `clavata: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return ExitCode.FAILURE;
  }
}
