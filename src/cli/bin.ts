#!/usr/bin/env node
// The `clavata` executable: wires run() to this process (its arguments, streams, environment and signals) and
// exits with the code run() returns. Everything else lives in run.ts and the commands.

import { ExitCode } from "./args.js";
import { run } from "./run.js";

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

void run(process.argv.slice(2), { signal: controller.signal }).then(async (code) => {
  process.exitCode = code;
  // Exit once standard output has drained, so that nothing written is lost and no idle handle keeps the process up.
  if (process.stdout.writableLength > 0) await new Promise((resolve) => process.stdout.once("drain", resolve));
  process.exit(code);
});
