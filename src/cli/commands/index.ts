// The command table of `clavata`: every command, the words that name it, and its help. `run()` dispatches through
// it, and the top-level help and "did you mean" suggestions are drawn from it.

import { MAX_LABEL_VERSION_IDS } from "../../requests.js";
import { GLOBAL_OPTIONS_HELP } from "../args.js";
import type { Command } from "../command-context.js";
import { BATCH_COMMANDS, BATCH_HELP } from "./batch.js";
import { EMULATOR_HELP, emulatorCommand } from "./emulator.js";
import { EVALUATE_HELP, evaluateCommand } from "./evaluate.js";
import { JOBS_CREATE_HELP, jobsCreateCommand } from "./jobs-create.js";
import { JOBS_GET_HELP, jobsGetCommand } from "./jobs-get.js";
import { JOBS_LIST_HELP, jobsListCommand } from "./jobs-list.js";
import { JOBS_WAIT_HELP, jobsWaitCommand } from "./jobs-wait.js";
import { LABELS_EVALUATE_HELP, labelsEvaluateCommand } from "./labels-evaluate.js";

/** A command and its help. */
export interface CommandEntry {
  readonly run: Command;
  readonly help: string;
}

/** A group of commands under one word, such as `jobs`, with the group's own help. */
export interface CommandGroup {
  readonly help: string;
  readonly commands: Readonly<Record<string, CommandEntry>>;
}

/** The help of `clavata` itself. */
export const MAIN_HELP = `Usage: clavata <command> [options]

The command-line tool of clavata-connect: moderate content with the Clavata gateway.

Commands:
  evaluate          evaluate text, files, standard input or a batch file against a policy, streaming results
  jobs create       create a background job (optionally with a webhook)
  jobs get          show a job and its results
  jobs list         list jobs with filters and pagination
  jobs wait         wait for a job to finish
  labels evaluate   evaluate one item against label versions
  batch ...         batch jobs over REST: create, upload, list, wait, cancel, output
  emulator          run the local gateway emulator in the foreground
  help [command]    show a command's help

${GLOBAL_OPTIONS_HELP}
  -V, --version        print the version

Try it without an account:
  clavata evaluate --emulator --policy policy-violence "I will hurt you" "See you tomorrow"

Run "clavata <command> --help" for a command's options.`;

/** The help of `clavata jobs`. */
const JOBS_HELP = `Usage: clavata jobs <create|get|list|wait> [options]

Background jobs: the gateway evaluates the content on its own time; poll the job, wait for it, or have the
gateway call a webhook when it is done.

Commands:
  create    create a job from content (same content options as evaluate)
  get       show a job and its results
  list      list jobs, newest first, with filters and pagination
  wait      wait for a job to finish, then show it

Run "clavata jobs <command> --help" for each command's options.`;

/** The help of `clavata labels`. */
const LABELS_HELP = `Usage: clavata labels evaluate --label <label-version-id> [options] [text]

Commands:
  evaluate   evaluate one content item against up to ${MAX_LABEL_VERSION_IDS} label versions

Run "clavata labels evaluate --help" for its options.`;

/** The commands that are one word. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  evaluate: { run: evaluateCommand, help: EVALUATE_HELP },
  emulator: { run: emulatorCommand, help: EMULATOR_HELP },
};

/** The commands that are two words, by their first word. */
export const GROUPS: Readonly<Record<string, CommandGroup>> = {
  jobs: {
    help: JOBS_HELP,
    commands: {
      create: { run: jobsCreateCommand, help: JOBS_CREATE_HELP },
      get: { run: jobsGetCommand, help: JOBS_GET_HELP },
      list: { run: jobsListCommand, help: JOBS_LIST_HELP },
      wait: { run: jobsWaitCommand, help: JOBS_WAIT_HELP },
    },
  },
  labels: { help: LABELS_HELP, commands: { evaluate: { run: labelsEvaluateCommand, help: LABELS_EVALUATE_HELP } } },
  batch: { help: BATCH_HELP, commands: BATCH_COMMANDS },
};

/** Every first command word, in the order the help lists them, with `help`. */
export const FIRST_WORDS: readonly string[] = ["evaluate", "jobs", "labels", "emulator", "help"];
