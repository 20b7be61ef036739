// How a command reports a failed call: the SDK's message (which never holds the API key), and what to do about it
// in command-line terms.

import { AuthenticationError, ClavataError, ConnectionError, PermissionDeniedError, TimeoutError } from "../errors.js";
import { ExitCode } from "./args.js";

function hintOf(error: ClavataError): string | undefined {
  if (error instanceof AuthenticationError) return "check CLAVATA_API_KEY or --api-key";
  if (error instanceof PermissionDeniedError) return "this API key may not do that; check the key's permissions";
  if (error instanceof ConnectionError) {
    return "check --host and --port (or CLAVATA_HOST, CLAVATA_PORT); a local emulator needs --insecure, or try --emulator";
  }
  if (error instanceof TimeoutError) return "raise --timeout (such as --timeout 5m)";
  return undefined;
}

/**
 * Writes a failure to `stderr` as `clavata <command>: <message>`, with a hint for the errors a user can fix from
 * the command line, and returns exit code 1.
 */
export function reportFailure(error: unknown, command: string, stderr: NodeJS.WritableStream): number {
  const prefix = `clavata ${command}:`;
  if (error instanceof ClavataError) {
    const hint = hintOf(error);
    stderr.write(`${prefix} ${error.message}\n${hint === undefined ? "" : `hint: ${hint}\n`}`);
  } else {
    stderr.write(`${prefix} ${error instanceof Error ? error.message : String(error)}\n`);
  }
  return ExitCode.FAILURE;
}
