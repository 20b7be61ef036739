#!/usr/bin/env node
// `clavata`, the command-line tool: finds the command, runs it, and turns what happened into an exit code (0 done,
// 1 a call failed, 2 bad usage, 3 matched with --fail-on-match, 130 interrupted).

import { VERSION } from "../version.js";
import {
  ExitCode,
  findCommandWords,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  parseCommandArgs,
  UsageError,
  wantsHelp,
} from "./args.js";
import type { CommandContext } from "./command-context.js";
import { EMULATOR_HELP, emulatorCommand } from "./emulator.js";
import { EVALUATE_HELP, evaluateCommand } from "./evaluate.js";
import { JOBS_COMMANDS, JOBS_HELP } from "./jobs.js";
import { LABELS_COMMANDS, LABELS_HELP } from "./labels.js";

const MAIN_HELP = `Usage: clavata <command> [options]

The command-line tool of clavata-connect: moderate content with the Clavata gateway.

Commands:
  evaluate          evaluate text, files, standard input or a batch file against a policy, streaming results
  jobs create       create a background job (optionally with a webhook)
  jobs get          show a job and its results
  jobs list         list jobs with filters and pagination
  jobs wait         wait for a job to finish
  labels evaluate   evaluate one item against label versions
  emulator          run the local gateway emulator in the foreground
  help [command]    show a command's help

${GLOBAL_OPTIONS_HELP}
  -V, --version        print the version

Try it without an account:
  clavata evaluate --emulator --policy policy-violence "I will hurt you" "See you tomorrow"

Run "clavata <command> --help" for a command's options.`;

interface CommandEntry {
  run: (context: CommandContext) => Promise<number>;
  help: string;
}

const groups: Record<string, { help: string; commands: Record<string, CommandEntry> }> = {
  jobs: { help: JOBS_HELP, commands: JOBS_COMMANDS },
  labels: { help: LABELS_HELP, commands: LABELS_COMMANDS },
};
const commands: Record<string, CommandEntry> = {
  evaluate: { run: evaluateCommand, help: EVALUATE_HELP },
  emulator: { run: emulatorCommand, help: EMULATOR_HELP },
};

/** The help text for command words such as ["jobs", "list"]; undefined when they name no command. */
function helpOf(words: readonly string[]): string | undefined {
  const [first, second] = words;
  if (first === undefined) return MAIN_HELP;
  const group = groups[first];
  if (group !== undefined) return second === undefined ? group.help : group.commands[second]?.help;
  return words.length === 1 ? commands[first]?.help : undefined;
}

function unknownCommand(words: readonly string[]): UsageError {
  const [first, second] = words;
  const group = first === undefined ? undefined : groups[first];
  if (group !== undefined) {
    return new UsageError(
      second === undefined
        ? `"clavata ${first!}" needs a command: ${Object.keys(group.commands).join(", ")}`
        : `unknown command "clavata ${first!} ${second}"; the ${first!} commands are ${Object.keys(group.commands).join(", ")}`,
      first!,
    );
  }
  return new UsageError(`unknown command "${first ?? ""}"; the commands are evaluate, jobs, labels, emulator and help`);
}

/** Runs the tool with the arguments after `clavata`, and returns the exit code. */
export async function run(argv: readonly string[], signal: AbortSignal): Promise<number> {
  const top = findCommandWords(argv, 1);
  const first = top.words[0];
  if (first === undefined) {
    if (argv.includes("--version") || argv.includes("-V")) {
      process.stdout.write(`clavata ${VERSION}\n`);
      return ExitCode.OK;
    }
    if (wantsHelp(argv)) {
      process.stdout.write(`${MAIN_HELP}\n`);
      return ExitCode.OK;
    }
    // Options alone: check them, so an unknown flag still says so, then ask for a command.
    parseCommandArgs(argv, GLOBAL_OPTIONS, "", { positionals: false });
    throw new UsageError(
      'no command given; try clavata evaluate --emulator --policy policy-violence "hello", or clavata --help',
    );
  }
  if (first === "help") {
    const words = findCommandWords(top.rest, 2).words;
    const help = helpOf(words);
    if (help === undefined) throw unknownCommand(words);
    process.stdout.write(`${help}\n`);
    return ExitCode.OK;
  }
  let words = [first];
  let rest = top.rest;
  let entry: CommandEntry | undefined = commands[first];
  const group = groups[first];
  if (group !== undefined) {
    const sub = findCommandWords(rest, 1);
    const second = sub.words[0];
    if (second === undefined) {
      if (wantsHelp(rest)) {
        process.stdout.write(`${group.help}\n`);
        return ExitCode.OK;
      }
      throw unknownCommand(words);
    }
    words = [first, second];
    rest = sub.rest;
    entry = group.commands[second];
  }
  if (entry === undefined) throw unknownCommand(words);
  if (wantsHelp(rest)) {
    process.stdout.write(`${entry.help}\n`);
    return ExitCode.OK;
  }
  return entry.run({ argv: rest, signal });
}

async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    // The first Ctrl-C stops the command cleanly; a second one stops at once.
    if (++interrupts > 1) process.exit(ExitCode.INTERRUPTED);
    controller.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A closed pipe (clavata … | head) is not an error worth a stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? ExitCode.OK);
    throw error;
  });

  let code: number;
  try {
    code = await run(process.argv.slice(2), controller.signal);
  } catch (error) {
    if (error instanceof UsageError) {
      const where = error.command === "" ? "clavata" : `clavata ${error.command}`;
      process.stderr.write(`${where}: ${error.message}\nRun "${where} --help" for usage.\n`);
      code = ExitCode.USAGE;
    } else {
      process.stderr.write(
        `clavata: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      code = ExitCode.FAILURE;
    }
  }
  process.exitCode = code;
  // Exit once standard output has drained, so that nothing written is lost and no idle handle keeps the process up.
  if (process.stdout.writableLength > 0) await new Promise((resolve) => process.stdout.once("drain", resolve));
  process.exit(code);
}

void main();
