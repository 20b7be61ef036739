// `npm run emulator`: runs the gateway emulator in the foreground until SIGINT or SIGTERM.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startEmulator } from "./server.js";

const USAGE = `Usage: npm run emulator -- [options]

Runs a local stand-in for the Clavata gateway (gRPC, gRPC-Web and Connect over HTTP/2).

Options:
  --host <address>      address to listen on (default 127.0.0.1)
  --port <port>         port to listen on; 0 picks a free one (default 50051)
  --policies <file>     policy file (JSON); default: the built-in sample policies
  --api-key <key>       accept only this key (repeat for several); default: any non-empty key
  --blocked-hash <h>    refuse content with this hash as a CSAM match (repeatable)
  --job-delay <ms>      how long jobs stay PENDING, then RUNNING (default 50)
  --tls-cert <file>     serve TLS with this certificate (PEM); needs --tls-key
  --tls-key <file>      the certificate's private key (PEM)
  -h, --help            show this help
`;

function fail(message: string): never {
  process.stderr.write(`emulator: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        host: { type: "string" },
        port: { type: "string" },
        policies: { type: "string" },
        "api-key": { type: "string", multiple: true },
        "blocked-hash": { type: "string", multiple: true },
        "job-delay": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

function wholeNumber(value: string | undefined, flag: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > max) fail(`${flag} must be a whole number from 0 to ${max}, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if ((args["tls-cert"] === undefined) !== (args["tls-key"] === undefined)) fail("--tls-cert and --tls-key go together");

  try {
    const emulator = await startEmulator({
      ...(args.host !== undefined ? { host: args.host } : {}),
      port: wholeNumber(args.port, "--port", 50051, 65535),
      ...(args.policies !== undefined ? { policies: args.policies } : {}),
      ...(args["api-key"] !== undefined ? { apiKeys: args["api-key"] } : {}),
      ...(args["blocked-hash"] !== undefined ? { blockedHashes: args["blocked-hash"] } : {}),
      jobDelayMs: wholeNumber(args["job-delay"], "--job-delay", 50, 3_600_000),
      ...(args["tls-cert"] !== undefined && args["tls-key"] !== undefined
        ? { tls: { cert: readFileSync(args["tls-cert"]), key: readFileSync(args["tls-key"]) } }
        : {}),
    });
    process.stdout.write(`Clavata gateway emulator listening on ${emulator.url}\n`);
    const stop = (signal: string) => {
      process.stderr.write(`[emulator] ${signal}: stopping\n`);
      void emulator.close().then(() => process.exit(0));
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  } catch (err) {
    process.stderr.write(`emulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

void main();
