// The connection a command uses: a ClavataClient built from the global options and their environment variables,
// or, with --emulator, a client of an in-process emulator that lives as long as the command.

import { ClavataClient } from "../client.js";
import { API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REST_PORT } from "../client-options.js";
import { type Emulator, startEmulator } from "../emulator/index.js";
import { EMULATOR_LOCAL_API_KEY } from "../emulator/local-api-key.js";
import { AbortedError, ClavataError } from "../errors.js";
import type { ClavataLogger } from "../logging.js";
import { isLoopbackHost } from "../loopback.js";
import {
  ExitCode,
  flag,
  type ParsedValues,
  parseDuration,
  parseEnvFlag,
  parsePort,
  stringValue,
  UsageError,
} from "./args.js";
import type { CliIo } from "./command-context.js";
import { reportFailure } from "./report-failure.js";

/** The environment variables the global options fall back to. */
export const ENV = {
  apiKey: API_KEY_ENV,
  host: "CLAVATA_HOST",
  port: "CLAVATA_PORT",
  insecure: "CLAVATA_INSECURE",
  timeout: "CLAVATA_TIMEOUT",
  rest: "CLAVATA_REST",
} as const;

/** The API key a client of the in-process emulator sends when none is given: the emulator accepts any key. */
const EMULATOR_API_KEY = EMULATOR_LOCAL_API_KEY;

/** A client, and what to close when the command is done. */
export interface GatewayConnection {
  readonly client: ClavataClient;
  /** The in-process emulator, with --emulator. */
  readonly emulator: Emulator | undefined;
  /** Closes the client (and the emulator). */
  close(): Promise<void>;
}

/** The connection settings, after flags, environment and defaults; holds no API key. */
export interface ConnectionSettings {
  host: string;
  port: number;
  insecure: boolean;
  timeoutMs: number | undefined;
  emulator: boolean;
  /** Whether to use the REST/JSON surface (--rest). */
  rest: boolean;
  verbose: boolean;
}

/**
 * Resolves the global options against the environment. Flags win over variables. Throws UsageError for a bad
 * port or timeout, for --emulator together with --host, --port or --insecure, and for --insecure to a host that
 * is not loopback (the key would travel in plaintext).
 */
export function connectionSettings(values: ParsedValues, command: string, env: CliIo["env"]): ConnectionSettings {
  const emulator = flag(values, "emulator");
  if (emulator) {
    for (const option of ["host", "port", "insecure"]) {
      if (values[option] !== undefined) {
        throw new UsageError(`--emulator starts its own local gateway; drop --${option}`, command);
      }
    }
  }
  const hostFlag = stringValue(values, "host");
  const host = (hostFlag ?? env[ENV.host]) || DEFAULT_HOST;
  const rest = flag(values, "rest") || (parseEnvFlag(env[ENV.rest], ENV.rest) ?? false);
  const portText = stringValue(values, "port") ?? (env[ENV.port] || undefined);
  const port =
    portText === undefined
      ? rest
        ? DEFAULT_REST_PORT
        : DEFAULT_PORT
      : parsePort(portText, values.port !== undefined ? "--port" : ENV.port, command);
  const insecure = flag(values, "insecure") || (parseEnvFlag(env[ENV.insecure], ENV.insecure) ?? false);
  const timeoutText = stringValue(values, "timeout") ?? (env[ENV.timeout] || undefined);
  const timeoutMs =
    timeoutText === undefined
      ? undefined
      : parseDuration(timeoutText, values.timeout !== undefined ? "--timeout" : ENV.timeout, command);
  if (!emulator && insecure && !isLoopbackHost(host)) {
    throw new UsageError(
      `--insecure would send the API key in plaintext to ${host}; plaintext is only for a local gateway (localhost, 127.0.0.1, ::1). Drop --insecure to use TLS`,
      command,
    );
  }
  return { host, port, insecure, timeoutMs, emulator, rest, verbose: flag(values, "verbose") };
}

/** Writes the client's log lines to standard error (the client has already removed the API key from them). */
function streamLogger(stderr: CliIo["stderr"]): ClavataLogger {
  const write = (message: string) => {
    stderr.write(`${message}\n`);
  };
  return { debug: write, info: write, warn: write, error: write };
}

/**
 * Opens the connection the global options describe. With --emulator, starts an emulator with the sample
 * policies on a free loopback port first.
 *
 * @throws UsageError for bad options, or when there is no API key (and no --emulator).
 */
export async function openGateway(
  values: ParsedValues,
  command: string,
  io: Pick<CliIo, "env" | "stderr">,
): Promise<GatewayConnection> {
  const env = io.env;
  const settings = connectionSettings(values, command, env);
  let apiKey = stringValue(values, "api-key") ?? (env[ENV.apiKey] || undefined);
  if (apiKey === undefined || apiKey.trim() === "") {
    if (!settings.emulator) {
      throw new UsageError(
        `no API key: set ${ENV.apiKey}, or pass --api-key (or use --emulator to try the tool locally)`,
        command,
      );
    }
    apiKey = EMULATOR_API_KEY;
  }
  const emulator = settings.emulator
    ? await startEmulator({ port: 0, logger: false, ...(settings.rest ? { restPort: 0 } : {}) })
    : undefined;
  let client: ClavataClient;
  try {
    client = new ClavataClient({
      apiKey,
      ...(settings.rest ? { protocol: "rest" as const } : {}),
      ...(emulator !== undefined
        ? { baseUrl: (settings.rest ? emulator.restUrl : undefined) ?? emulator.url, insecure: true }
        : { host: settings.host, port: settings.port, insecure: settings.insecure }),
      ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
      ...(settings.verbose ? { logger: streamLogger(io.stderr), logLevel: "debug" as const } : {}),
    });
  } catch (error) {
    await emulator?.close();
    // A bad option the client found: the user fixes it on the command line.
    if (error instanceof ClavataError) throw new UsageError(error.message, command);
    throw error;
  }
  return {
    client,
    emulator,
    async close() {
      await client.close();
      await emulator?.close();
    },
  };
}

/**
 * Opens the connection, runs `call` with its client, and closes it. A failed call is reported on standard error
 * (exit code 1), an interruption by the command's signal says so (exit code 130); anything else is rethrown.
 */
export async function withGateway(
  values: ParsedValues,
  command: string,
  io: Pick<CliIo, "env" | "stderr" | "signal">,
  call: (client: ClavataClient, gateway: GatewayConnection) => Promise<number>,
): Promise<number> {
  const gateway = await openGateway(values, command, io);
  try {
    return await call(gateway.client, gateway);
  } catch (error) {
    if (error instanceof AbortedError && io.signal.aborted) {
      io.stderr.write(`clavata ${command}: interrupted\n`);
      return ExitCode.INTERRUPTED;
    }
    if (error instanceof ClavataError) return reportFailure(error, command, io.stderr);
    throw error;
  } finally {
    await gateway.close();
  }
}
