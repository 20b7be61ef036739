// Building a ClavataClient: defaults, the API key, the plaintext guard, and
// option checks. Nothing here touches the network.
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveClientOptions } from "../../src/client-options.js";
import {
  AuthenticationError,
  ClavataClient,
  type ClavataClientOptions,
  type ClavataLogger,
  InvalidRequestError,
} from "../../src/index.js";
import { TRANSPORT } from "../support/transports.js";

const KEY = "sk-test-opt-5d1c0b9a8e7f6a5b4c3d2e1f";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
let savedKey: string | undefined;

beforeEach(() => {
  savedKey = process.env.CLAVATA_API_KEY;
  delete process.env.CLAVATA_API_KEY;
});
afterEach(async () => {
  for (const client of built.splice(0)) await client.close();
  if (savedKey === undefined) delete process.env.CLAVATA_API_KEY;
  else process.env.CLAVATA_API_KEY = savedKey;
});

// Clients here never connect (sessions open on the first call), but each is still closed after its test.
const built: ClavataClient[] = [];
function build(options: ClavataClientOptions): ClavataClient {
  const client = new ClavataClient({ apiKey: KEY, transport: TRANSPORT, ...options });
  built.push(client);
  return client;
}

function rejected(options: ClavataClientOptions): InvalidRequestError {
  try {
    build(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error("expected the options to be refused");
}

describe("the API key", () => {
  it("is required, and the error names the option and the variable", () => {
    for (const make of [
      () => new ClavataClient(),
      () => ClavataClient.create({}),
      () => new ClavataClient({ apiKey: "  " }),
    ]) {
      expect(make).toThrow(AuthenticationError);
      expect(make).toThrow(/apiKey.*CLAVATA_API_KEY/);
    }
  });

  it("comes from CLAVATA_API_KEY when the option is not given", async () => {
    process.env.CLAVATA_API_KEY = KEY;
    const client = new ClavataClient();
    await client.close();
    expect(resolveClientOptions({}).apiKey).toBe(KEY);
    expect(resolveClientOptions({ apiKey: "other" }).apiKey).toBe("other");
    expect(resolveClientOptions({}, { CLAVATA_API_KEY: ` ${KEY}\n` }).apiKey).toBe(KEY);
    // An empty option is a mistake to point at, not a cue to read the variable.
    expect(() => resolveClientOptions({ apiKey: "" }, { CLAVATA_API_KEY: KEY })).toThrow(/the apiKey option is empty/);
  });

  it("with line breaks or spaces inside is refused without repeating it", () => {
    const bad = "sk-abc\r\ninjected: 1";
    try {
      new ClavataClient({ apiKey: bad });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(String(error)).toMatch(/line breaks/);
      expect(inspect(error)).not.toContain("sk-abc");
    }
  });

  it("is not in the client's string forms or its resolved options", () => {
    const client = build({ host: "gateway.example.com" });
    for (const out of [
      JSON.stringify(client),
      inspect(client, { depth: Infinity, showHidden: true }),
      String(client),
      `${inspect(client)}`,
    ]) {
      expect(out).not.toContain(KEY);
    }
    expect(inspect(client)).toBe('ClavataClient { baseUrl: "https://gateway.example.com", closed: false }');
    expect(JSON.parse(JSON.stringify(client))).toEqual({ baseUrl: "https://gateway.example.com", closed: false });
    const { resolved } = resolveClientOptions({ apiKey: KEY, headers: { "x-a": "b" } });
    expect(JSON.stringify(resolved)).not.toContain(KEY);
    expect(inspect(resolved, { depth: Infinity })).not.toContain(KEY);
  });
});

describe("where the client connects", () => {
  it("defaults to the gateway over TLS", () => {
    expect(build({}).baseUrl).toBe("https://gateway.app.clavata.ai");
    expect(build({ host: "gw.internal", port: 8443 }).baseUrl).toBe("https://gw.internal:8443");
    expect(build({ host: "::1", port: 50051, insecure: true }).baseUrl).toBe("http://[::1]:50051");
  });

  it("takes a baseUrl over host and port", () => {
    expect(build({ baseUrl: "https://gw.example.com:9443/", host: "ignored", port: 1 }).baseUrl).toBe(
      "https://gw.example.com:9443",
    );
    expect(build({ baseUrl: "http://127.0.0.1:50051", insecure: true }).baseUrl).toBe("http://127.0.0.1:50051");
  });

  it("speaks plaintext only when asked, and only to loopback unless also allowed", () => {
    expect(rejected({ baseUrl: "http://127.0.0.1:50051" }).message).toMatch(/insecure: true/);
    const remote = rejected({ baseUrl: "http://gw.example.com:80", insecure: true });
    expect(remote.message).toMatch(/plaintext to gw\.example\.com.*allowInsecureRemote: true/);
    expect(remote.field).toBe("options.insecure");
    rejected({ host: "10.1.2.3", insecure: true });
    for (const host of ["localhost", "127.0.0.1", "127.8.9.10", "::1", "app.localhost"]) {
      expect(() => build({ host, port: 1234, insecure: true })).not.toThrow();
    }
    const lines: string[] = [];
    const logger: ClavataLogger = { debug: () => {}, info: () => {}, warn: (l) => void lines.push(l), error: () => {} };
    build({ baseUrl: "http://gw.internal:8080", insecure: true, allowInsecureRemote: true, logger });
    expect(lines).toEqual([
      "[clavata] plaintext connection to http://gw.internal:8080: the API key travels unencrypted (allowInsecureRemote)",
    ]);
    expect(rejected({ baseUrl: "https://127.0.0.1:1", insecure: true }).message).toMatch(/needs an http:\/\/ baseUrl/);
  });

  it("refuses malformed addresses and contradictory TLS settings", () => {
    rejected({ baseUrl: "gateway.example.com" });
    rejected({ baseUrl: "ftp://gateway.example.com" });
    rejected({ baseUrl: "https://user:pw@gateway.example.com" });
    // gRPC has no path prefix: one transport dropped it silently, the other sent it (and got 404).
    expect(rejected({ baseUrl: "https://gateway.example.com/prefix" }).message).toMatch(
      /baseUrl has a path \(\/prefix\)/,
    );
    expect(() => build({ baseUrl: "https://gateway.example.com/prefix", protocol: "rest" })).not.toThrow();
    // A bare "?" or "#" has an empty query or fragment, but would still end up in every request's URL.
    for (const baseUrl of [
      "https://gateway.example.com?",
      "https://gateway.example.com/#",
      "https://gw.example.com?a=1",
    ]) {
      expect(rejected({ baseUrl }).message).toMatch(/must not carry credentials, a query or a fragment/);
    }
    rejected({ host: "https://gateway.example.com" });
    rejected({ host: "" });
    rejected({ port: 0 });
    rejected({ port: 70000 });
    rejected({ port: 44.5 });
    expect(rejected({ tls: { cert: "c" } }).message).toMatch(/go together/);
    rejected({ host: "localhost", insecure: true, tls: { ca: "x" } });
  });
});

describe("other options", () => {
  it("are checked", () => {
    for (const options of [
      { timeoutMs: 0 },
      { timeoutMs: -5 },
      { timeoutMs: Number.NaN },
      { attemptTimeoutMs: 0 },
      { maxRetries: -1 },
      { maxRetries: 1.5 },
      { maxRetries: Infinity },
      { retryBackoff: { initialDelayMs: -1 } },
      { keepalive: { pingIntervalMs: 0 } },
      { keepalive: { pingTimeoutMs: Infinity } },
      { headers: { "bad header": "x" } },
      { headers: { "grpc-timeout": "1S" } },
      { headers: { "x-a": "line\nbreak" } },
      { logLevel: "loud" as never },
      { transport: "grpc-web" as never },
      { proxy: "socks5://proxy:1080" },
      { maxReceiveMessageBytes: 0 },
      { maxReceiveMessageBytes: 1.5 },
    ] as ClavataClientOptions[]) {
      rejected(options);
    }
    expect(rejected({ headers: { Authorization: "Bearer x" } }).message).toMatch(/apiKey option/);
  });

  it("that feed a timer are refused beyond its longest delay, naming the option and the range", async () => {
    const over = 2 ** 31;
    for (const [options, field, range] of [
      [{ retryBackoff: { initialDelayMs: over } }, "retryBackoff.initialDelayMs", "from 0 to 2147483647"],
      [{ retryBackoff: { maxDelayMs: over } }, "retryBackoff.maxDelayMs", "from 0 to 2147483647"],
      [{ keepalive: { pingIntervalMs: over } }, "keepalive.pingIntervalMs", "from 1 to 2147483647"],
      [{ keepalive: { pingTimeoutMs: over } }, "keepalive.pingTimeoutMs", "from 1 to 2147483647"],
      [{ keepalive: { idleConnectionTimeoutMs: over } }, "keepalive.idleConnectionTimeoutMs", "from 1 to 2147483647"],
    ] as const) {
      const error = rejected(options);
      expect(error.field).toBe(`options.${field}`);
      expect(error.message).toContain(`${field} is ${String(over)}; pass a number ${range}`);
    }
    // An aborted signal and a closed port, so that nothing would be sent even if the check were missing.
    const signal = AbortSignal.abort();
    for (const wait of [
      (client: ClavataClient) => client.waitForJob(JOB, { pollIntervalMs: over, signal }),
      (client: ClavataClient) => client.waitForBatchJob("batch-1", { pollIntervalMs: over, signal }),
    ]) {
      const client = build({ protocol: "rest", transport: undefined, baseUrl: "http://127.0.0.1:1", insecure: true });
      const error = await wait(client).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).field).toBe("options.pollIntervalMs");
      expect((error as InvalidRequestError).message).toMatch(
        /pollIntervalMs is 2147483648; pass a number from 1 to 2147483647/,
      );
    }
    // The longest delay itself, Infinity where it means "never", and long time limits are all fine.
    expect(() =>
      build({
        timeoutMs: 30 * 86_400_000,
        attemptTimeoutMs: Infinity,
        retryBackoff: { initialDelayMs: 2 ** 31 - 1, maxDelayMs: 2 ** 31 - 1 },
        keepalive: { pingIntervalMs: Infinity, pingTimeoutMs: 2 ** 31 - 1, idleConnectionTimeoutMs: Infinity },
      }),
    ).not.toThrow();
  });

  it("have documented defaults", () => {
    const { resolved } = resolveClientOptions({ apiKey: KEY });
    expect(resolved).toMatchObject({
      transport: "grpc",
      maxReceiveMessageBytes: 4 * 1024 * 1024,
      timeoutMs: 60_000,
      attemptTimeoutMs: undefined,
      retry: { maxRetries: 2, initialDelayMs: 250, maxDelayMs: 10_000 },
      keepalive: {
        pingIntervalMs: 300_000,
        pingTimeoutMs: 20_000,
        pingIdleConnection: false,
        idleConnectionTimeoutMs: 900_000,
      },
      logLevel: "info",
      insecure: false,
    });
    expect(() => build({ timeoutMs: Infinity, attemptTimeoutMs: Infinity, maxRetries: 0 })).not.toThrow();
  });
});
