// A hostile gateway that echoes the Authorization header into every place a server controls: the status message,
// the refusal details (message and content hash), a detail of a type the SDK does not know, response headers and
// trailers. A key of realistic length must then appear in no error property, util.inspect, JSON.stringify, log
// line or CLI output. And redaction must not mangle ordinary words, nor act on short keys.

import { inspect } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrecheckFailureSchema, PrecheckFailureType } from "../../gen/clavata/gateway/v1/errs_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { ClavataClient, ClavataError, EvaluationRefusedError, NotFoundError, textContent } from "../../src/index.js";
import { createRedactor } from "../../src/logging.js";
import { runCli } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { TRANSPORT } from "../support/transports.js";

const KEY = "sk_live_Echo0123456789abcdefXYZ";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/** Throws what the hostile server answers: every text a server controls holds the caller's Authorization header. */
function echo(ctx: HandlerContext, code: Code, refusal = true): never {
  const auth = ctx.requestHeader.get("authorization") ?? "";
  ctx.responseHeader.set("x-echo", auth);
  ctx.responseTrailer.set("x-echo-trailer", `key=${auth.slice("Bearer ".length)}`);
  throw new ConnectError(
    `you sent ${auth}; key ${auth.slice("Bearer ".length)} is echoed`,
    code,
    { "x-echo-error": auth },
    [
      ...(refusal
        ? [
            {
              desc: PrecheckFailureSchema,
              value: {
                type: PrecheckFailureType.NCMEC,
                message: `refused for ${auth}`,
                details: { kind: { case: "stringValue" as const, value: `md5::${auth.slice("Bearer ".length)}` } },
              },
            },
          ]
        : []),
      { desc: StatusSchema, value: create(StatusSchema, { code: 3, message: `status detail ${auth}` }) },
    ],
  );
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    gateway: {
      // biome-ignore lint/correctness/useYield: it only throws
      async *evaluate(_req, ctx) {
        echo(ctx, Code.Canceled);
      },
      async createJob(_req, ctx) {
        echo(ctx, Code.Canceled);
      },
      async getJob(_req, ctx) {
        echo(ctx, Code.NotFound, false);
      },
    },
  });
});

afterAll(async () => {
  await server.close();
});

/** Every way an error can be looked at. */
function views(error: unknown): string[] {
  const e = error as Error & Record<string, unknown>;
  const out = [
    inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    JSON.stringify(e),
    String(e.message),
    String(e.stack),
    String(e.rawMessage),
    JSON.stringify(e.refusals ?? []),
    JSON.stringify([...((e.metadata as Headers | undefined)?.entries() ?? [])]),
  ];
  // The binary details that are kept: their bytes must not hold the key either.
  const cause = e.cause as ConnectError | undefined;
  for (const detail of cause?.details ?? []) {
    if ("value" in detail && detail.value instanceof Uint8Array) out.push(Buffer.from(detail.value).toString("latin1"));
  }
  for (const [, value] of (cause?.metadata as Headers | undefined)?.entries() ?? []) out.push(value);
  return out;
}

describe("a server that echoes the API key", () => {
  it("cannot put it into an error, its inspect or JSON form, or a log line", async () => {
    const lines: string[] = [];
    const logger = {
      debug: (l: string) => lines.push(l),
      info: (l: string) => lines.push(l),
      warn: (l: string) => lines.push(l),
      error: (l: string) => lines.push(l),
    };
    const client = new ClavataClient({
      apiKey: KEY,
      baseUrl: server.url,
      insecure: true,
      maxRetries: 0,
      logger,
      logLevel: "debug",
    });
    try {
      const refused = await (async () => {
        for await (const _ of client.evaluate({ policyId: "p", contentData: [textContent("x")] })) {
          // nothing
        }
      })().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(EvaluationRefusedError);
      const refusal = (refused as EvaluationRefusedError).refusals[0]!;
      // Redacted, not dropped: the refusal is still there, with the text around the key.
      expect(refusal.message).toBe("refused for Bearer [redacted]");
      expect(refusal.contentHash).toBe("md5::[redacted]");
      expect((refused as EvaluationRefusedError).rawMessage).toBe(
        "you sent Bearer [redacted]; key [redacted] is echoed",
      );

      const job = await client.createJob({ policyId: "p", contentData: [textContent("x")] }).catch((e: unknown) => e);
      expect(job).toBeInstanceOf(EvaluationRefusedError);
      const notFound = await client.getJob(JOB).catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(NotFoundError);

      for (const error of [refused, job, notFound]) {
        for (const view of views(error)) expect(view).not.toContain(KEY);
      }
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).not.toContain(KEY);
    } finally {
      await client.close();
    }
  });

  it("cannot put it into the CLI's table, --json or jobs create output", async () => {
    const env = { CLAVATA_API_KEY: KEY };
    const connection = ["--host", "127.0.0.1", "--port", String(server.port), "--insecure"];
    const runs = await Promise.all([
      runCli(["evaluate", ...connection, "--policy", "p", "hello"], { env }),
      runCli(["evaluate", ...connection, "--policy", "p", "--json", "hello"], { env }),
      runCli(["jobs", "create", ...connection, "--policy", "p", "hello"], { env }),
      runCli(["jobs", "get", ...connection, JOB], { env }),
      runCli(["--verbose", "jobs", "get", ...connection, JOB], { env }),
    ]);
    for (const run of runs) {
      expect(`${run.stdout}${run.stderr}`).toMatch(/redacted|refused|not found/i);
      expect(run.stdout).not.toContain(KEY);
      expect(run.stderr).not.toContain(KEY);
    }
  }, 60_000);
});

/** The key in the trailers themselves, where only the transport (not Connect's server) can put it. */
const TRANSPORT_ECHOES: Record<
  string,
  (key: string) => { headers?: Record<string, string>; trailers: Record<string, string> }
> = {
  // HTTP/2 lower-cases header names, so the key comes back case-folded.
  "header name": (key) => ({
    headers: { [`x-echo-${key.toLowerCase()}`]: "1" },
    trailers: { "grpc-status": "5", [`x-echo-trailer-${key.toLowerCase()}`]: "1" },
  }),
  // Bytes that read as "-_-_" in URL-safe base64 ("+/+/" in the standard alphabet), in front of the key.
  "URL-safe base64 -bin trailers": (key) => {
    const marker = Buffer.from([0xfb, 0xff, 0xbf]);
    // google.rpc.Status with an unknown field 4 (the marker) and a detail of an unknown type that holds the key.
    const status = Buffer.concat([
      Buffer.from([0x22, 3]),
      marker,
      toBinary(
        StatusSchema,
        create(StatusSchema, {
          code: 5,
          details: [{ typeUrl: "type.googleapis.com/x.Unknown", value: Buffer.from(key) }],
        }),
      ),
    ]);
    const padded = Buffer.concat([marker, Buffer.from(`key=${key}!`)]).toString("base64url");
    return {
      trailers: {
        "grpc-status": "5",
        "grpc-status-details-bin": status.toString("base64url"),
        "x-echo-bin": padded + "=".repeat((4 - (padded.length % 4)) % 4),
      },
    };
  },
  "grpc-status": (key) => ({ trailers: { "grpc-status": `9 ${key}` } }),
  "long grpc-status": (key) => ({ trailers: { "grpc-status": `9 ${key} ${"x".repeat(64)}` } }),
};

describe("a server that echoes the API key into what only the transport reads", () => {
  let raw: TestServer;

  beforeAll(async () => {
    raw = await startTestServer({
      raw(req, res) {
        const echo = TRANSPORT_ECHOES[String(req.headers["x-echo-mode"])]!;
        const { headers = {}, trailers } = echo(String(req.headers.authorization).slice("Bearer ".length));
        req.resume();
        res.writeHead(200, { "content-type": "application/grpc", ...headers });
        res.addTrailers(trailers);
        res.end();
        return true;
      },
    });
  });

  afterAll(async () => {
    await raw.close();
  });

  /** Every way to look at the error and its causes, -bin values decoded (either base64 alphabet). */
  function allViews(error: unknown): string[] {
    const out = views(error);
    for (let e: unknown = error; e instanceof Error; e = e.cause) {
      out.push(String(e.message), inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: true }));
      const metadata = (e as { metadata?: unknown }).metadata;
      if (!(metadata instanceof Headers)) continue;
      out.push(JSON.stringify([...metadata.entries()]));
      for (const [name, value] of metadata) {
        if (name.endsWith("-bin")) out.push(Buffer.from(value, "base64").toString("latin1"));
      }
    }
    return out;
  }

  for (const mode of Object.keys(TRANSPORT_ECHOES)) {
    it(`cannot put it into an error through a ${mode}`, async () => {
      const client = new ClavataClient({
        apiKey: KEY,
        baseUrl: raw.url,
        insecure: true,
        maxRetries: 0,
        transport: TRANSPORT,
        headers: { "x-echo-mode": mode },
      });
      try {
        const error = await client.getJob(JOB).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ClavataError);
        // Nor a piece of it: a quote cut short can leave a fragment that whole-token redaction cannot recognise.
        const pieces = Array.from({ length: KEY.length - 11 }, (_, i) => KEY.slice(i, i + 12).toLowerCase());
        for (const view of allViews(error)) {
          expect(view).not.toContain(KEY);
          expect(view).not.toContain(KEY.toLowerCase());
          for (const piece of pieces) expect(view.toLowerCase()).not.toContain(piece);
        }
      } finally {
        await client.close();
      }
    });
  }
});

describe("redaction", () => {
  it("replaces the key as a whole token, also after a percent escape", () => {
    const redact = createRedactor(KEY);
    expect(redact(`Bearer ${KEY}`)).toBe("Bearer [redacted]");
    expect(redact(`"${KEY}"`)).toBe('"[redacted]"');
    expect(redact(`Bearer%20${KEY}%0A`)).toBe("Bearer%20[redacted]%0A");
    expect(redact(`a ${KEY} b ${KEY}`)).toBe("a [redacted] b [redacted]");
  });

  it("replaces the key in any letter case, still only as a whole token", () => {
    const redact = createRedactor(KEY);
    expect(redact(`x-echo-${KEY.toLowerCase()}`)).toBe("x-echo-[redacted]");
    expect(redact(`Bearer ${KEY.toUpperCase()}`)).toBe("Bearer [redacted]");
    expect(redact(`x${KEY.toLowerCase()}`)).toBe(`x${KEY.toLowerCase()}`);
  });

  it("never mangles ordinary words, and leaves keys under 16 characters alone", () => {
    // The CLI's old --emulator key and a placeholder key: too short to redact without corrupting messages.
    for (const short of ["emulator", "key", "test-key-123456"]) {
      const redact = createRedactor(short);
      expect(redact('policy "policy-violent" not found; this emulator has: policy-violence')).toBe(
        'policy "policy-violent" not found; this emulator has: policy-violence',
      );
      expect(redact("API key not accepted")).toBe("API key not accepted");
    }
    const redact = createRedactor("abcdefghijklmnop");
    expect(redact("xabcdefghijklmnopx")).toBe("xabcdefghijklmnopx");
    expect(redact("key abcdefghijklmnop.")).toBe("key [redacted].");
  });

  it("replaces the start of the key where an excerpt was cut: at the end of the text or before a …", () => {
    const redact = createRedactor(KEY);
    expect(redact(`line: ${"x".repeat(60)}${KEY.slice(0, 20)}`)).toBe(`line: ${"x".repeat(60)}[redacted]`);
    expect(redact(`a: ${KEY.slice(0, 12)}… (INTERNAL)`)).toBe("a: [redacted]… (INTERNAL)");
    expect(redact(`a: ${KEY.slice(0, 9).toUpperCase()}…`)).toBe("a: [redacted]…");
    // Shorter than 8 characters, or not at a cut: left alone.
    expect(redact(`a: ${KEY.slice(0, 7)}…`)).toBe(`a: ${KEY.slice(0, 7)}…`);
    expect(redact(`a: ${KEY.slice(0, 12)} b`)).toBe(`a: ${KEY.slice(0, 12)} b`);
    expect(redact("…")).toBe("…");
    expect(redact("")).toBe("");
  });

  it("the client warns about a key too short to redact, and not about a real one", async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (l: string) => warnings.push(l), error() {} };
    const short = new ClavataClient({ apiKey: "short-key", baseUrl: server.url, insecure: true, logger });
    const long = new ClavataClient({ apiKey: KEY, baseUrl: server.url, insecure: true, logger });
    await short.close();
    await long.close();
    expect(warnings).toEqual([expect.stringMatching(/shorter than 16 characters, so it is not redacted/)]);
  });
});
