// `clavata emulator`: runs the local gateway emulator in the foreground until Ctrl-C or SIGTERM.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PolicyFileError } from "../../emulator/policy.js";
import { type EmulatorOptions, startEmulator } from "../../emulator/server.js";
import { ExitCode, parseCommandArgs, parseInteger, parsePort, stringValue, stringValues, UsageError } from "../args.js";
import type { CommandContext } from "../command-context.js";

/** The help of `clavata emulator`. */
export const EMULATOR_HELP = `Usage: clavata emulator [options]

Runs a local stand-in for the Clavata gateway (gRPC, gRPC-Web and Connect over HTTP/2) in the foreground, until
Ctrl-C or SIGTERM. No account and no network needed: point any client at it with any API key.

Options:
  --host <address>       address to listen on (default 127.0.0.1)
  --port <port>          port to listen on; 0 picks a free one (default 50051)
  --rest-port <port>     also serve the REST/JSON surface (and batch jobs) on this port; 0 picks a free one
  --policies <file>      policy file (JSON); default: the built-in sample policies
  --api-key <key>        accept only this key (repeatable); default: any non-empty key
  --blocked-hash <hash>  refuse content with this hash as a CSAM match (repeatable)
  --job-delay <time>     how long jobs stay PENDING, then RUNNING, in ms (default 50)
  --tls-cert <file>      serve TLS with this certificate (PEM); needs --tls-key
  --tls-key <file>       the certificate's private key (PEM)
  -h, --help             show help

Then, in another terminal:
  export CLAVATA_API_KEY=any-key CLAVATA_HOST=127.0.0.1 CLAVATA_PORT=50051 CLAVATA_INSECURE=1
  clavata evaluate --policy policy-violence "I will hurt you"`;

const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  "rest-port": { type: "string" },
  policies: { type: "string" },
  "api-key": { type: "string", multiple: true },
  "blocked-hash": { type: "string", multiple: true },
  "job-delay": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

async function readPem(path: string, cwd: string, option: string, command: string): Promise<Buffer> {
  try {
    return await readFile(resolve(cwd, path));
  } catch {
    throw new UsageError(`${option}: cannot read ${path}`, command);
  }
}

/** Runs `clavata emulator`; resolves with exit code 0 once stopped by the signal. Throws UsageError for bad options. */
export async function emulatorCommand({ argv, signal, stdout, stderr, cwd }: CommandContext): Promise<number> {
  const command = "emulator";
  const { values } = parseCommandArgs(argv, OPTIONS, command, { positionals: false });
  const portText = stringValue(values, "port");
  const jobDelayText = stringValue(values, "job-delay");
  const cert = stringValue(values, "tls-cert");
  const key = stringValue(values, "tls-key");
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError("--tls-cert and --tls-key go together", command);
  const apiKeys = stringValues(values, "api-key");
  if (apiKeys.some((k) => k.trim() === "")) throw new UsageError("--api-key needs a non-empty key", command);
  const host = stringValue(values, "host");
  const policies = stringValue(values, "policies");
  const blocked = stringValues(values, "blocked-hash");
  const restPortText = stringValue(values, "rest-port");
  const options: EmulatorOptions = {
    ...(restPortText !== undefined ? { restPort: parsePort(restPortText, "--rest-port", command, true) } : {}),
    port: portText === undefined ? 50051 : parsePort(portText, "--port", command, true),
    jobDelayMs: jobDelayText === undefined ? 50 : parseInteger(jobDelayText, "--job-delay", 0, 3_600_000, command),
    logger: (line: string) => stderr.write(`[emulator] ${line}\n`),
    ...(host !== undefined ? { host } : {}),
    ...(policies !== undefined ? { policies: resolve(cwd, policies) } : {}),
    ...(apiKeys.length > 0 ? { apiKeys } : {}),
    ...(blocked.length > 0 ? { blockedHashes: blocked } : {}),
    ...(cert !== undefined && key !== undefined
      ? {
          tls: {
            cert: await readPem(cert, cwd, "--tls-cert", command),
            key: await readPem(key, cwd, "--tls-key", command),
          },
        }
      : {}),
  };
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emulator = await startEmulator(options);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof PolicyFileError || code === "ENOENT") {
      throw new UsageError(`--policies: ${(error as Error).message}`, command);
    }
    if (code === "EADDRINUSE")
      throw new UsageError(`port ${options.port} is in use; pick another with --port (0 picks a free one)`, command);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
      throw new UsageError(`cannot listen on ${host ?? ""}: ${(error as Error).message}`, command);
    throw error;
  }
  stdout.write(`Clavata gateway emulator listening on ${emulator.url}\n`);
  if (emulator.restUrl !== undefined) stdout.write(`REST/JSON on ${emulator.restUrl}\n`);
  stdout.write(
    `Try: CLAVATA_API_KEY=${apiKeys.length > 0 ? "<one of the --api-key keys>" : "any-key"} clavata --host ${emulator.host} --port ${emulator.port}` +
      `${emulator.url.startsWith("http:") ? " --insecure" : ""} evaluate --policy policy-violence "I will hurt you"\n`,
  );
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  stderr.write("[emulator] stopping\n");
  await emulator.close();
  return ExitCode.OK;
}
