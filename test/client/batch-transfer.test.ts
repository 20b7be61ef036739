// The transfers of batch jobs to and from their signed URLs, against servers and bodies that misbehave: an output
// file read only as its rows are asked for, lines and CSV records past the read limit, error pages and short rows,
// storage services that go quiet (the idle limit), an upload whose stream does not have the length given, a signed
// URL refused, and a GetBatchJobs poll that hangs past waitForBatchJob's own time limit.
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BatchJobSchema } from "../../gen/clavata/gateway/v1/batch_pb.js";
import { pollBatchJob } from "../../src/batch-jobs.js";
import { readBatchOutput, uploadBatchInput } from "../../src/batch-transfer.js";
import { SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import {
  BatchJobState,
  ClavataClient,
  InvalidRequestError,
  PermissionDeniedError,
  ServerError,
  TimeoutError,
  toClavataError,
  type UploadProgress,
} from "../../src/index.js";
import { drain, drainToError, invalidRequest, thrown } from "../support/calls.js";

const KEY = "sk-batch-transfer-1a2b3c4d5e6f";
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A loopback HTTP server, closed (connections and all) after the test. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

function restClient(baseUrl: string, options: { timeoutMs?: number } = {}): ClavataClient {
  const client = new ClavataClient({ apiKey: KEY, baseUrl, insecure: true, protocol: "rest", ...options });
  cleanup.push(() => client.close());
  return client;
}

const encoder = new TextEncoder();

/**
 * A fetch that answers one body, made chunk by chunk as it is read (`next` returns undefined at the end, or a
 * promise that never settles to stall); the body fails with the signal's reason when the fetch is aborted, as a
 * real fetch's does. Counts the chunks made and their bytes, and whether the body was cancelled.
 */
function fakeFetch(contentType: string, next: (n: number) => Uint8Array | undefined | Promise<never>) {
  const state = { pulls: 0, bytes: 0, cancelled: false, fetched: 0 };
  const fetch = (async (_url: string, init: RequestInit) => {
    state.fetched++;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        async pull(c) {
          state.pulls++;
          const chunk = await next(state.pulls);
          if (chunk === undefined) {
            c.close();
            return;
          }
          state.bytes += chunk.byteLength;
          c.enqueue(chunk);
        },
        cancel() {
          state.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    init.signal?.addEventListener("abort", () => controller.error(init.signal?.reason), { once: true });
    return new Response(body, { headers: { "content-type": contentType } });
  }) as typeof globalThis.fetch;
  return { fetch, state };
}

/** Lets every pending callback of the event loop run, a few rounds over (no timer, no sleep). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

const OUTPUT_URL = "https://storage.example/out.jsonl?X-Amz-Signature=abcdef0123456789";

describe("readBatchOutput reads only as rows are asked for", () => {
  it("JSON lines and CSV: one row read pulls about one chunk, and leaving the loop cancels the download", async () => {
    for (const [type, line, header] of [
      ["application/x-ndjson", `${JSON.stringify({ ref_id: "r", result: "x".repeat(100) })}\n`, ""],
      ["text/csv", `r,${"x".repeat(100)}\n`, "ref_id,result\n"],
    ] as const) {
      // 1000 chunks of 100 rows: about 10 MB if it were all read.
      const chunk = encoder.encode(line.repeat(100));
      const { fetch, state } = fakeFetch(type, (n) =>
        n === 1 ? encoder.encode(header + line) : n <= 1000 ? chunk : undefined,
      );
      const rows = readBatchOutput(OUTPUT_URL, { fetch });
      expect((await rows.next()).value?.refId).toBe("r");
      await settle();
      expect(state.pulls, type).toBeLessThanOrEqual(2);
      await rows.return();
      expect(state.cancelled, type).toBe(true);
    }
  });
});

describe("output lines past the read limit", () => {
  it("a 32 MiB JSON line or CSV field fails once it passes the limit, without reading much further", async () => {
    const limit = 1024 * 1024;
    const piece = encoder.encode("a".repeat(64 * 1024));
    for (const [type, start] of [
      ["application/x-ndjson", '{"ref_id":"a","x":"'],
      ["text/csv", "ref_id,x\na,"],
    ] as const) {
      // 32 MiB of one line (and its end), where the limit is 1 MiB.
      const { fetch, state } = fakeFetch(type, (n) =>
        n === 1 ? encoder.encode(start) : n <= 513 ? piece : n === 514 ? encoder.encode('"}\n') : undefined,
      );
      const { messages, error } = await drainToError(readBatchOutput(OUTPUT_URL, { fetch, maxLineBytes: limit }));
      expect(messages).toEqual([]);
      const mapped = toClavataError(error, { method: "readBatchOutput" });
      expect(mapped, type).toBeInstanceOf(ServerError);
      expect(mapped.message).toMatch(/row 1 of the output file https:\/\/storage\.example\/out\.jsonl\?\[redacted\]/);
      expect(mapped.message).toContain("is longer than 1048576 bytes (the client's maxReceiveMessageBytes)");
      expect(state.bytes, type).toBeLessThanOrEqual(limit + 2 * piece.byteLength);
      expect(state.cancelled, type).toBe(true);
    }
  });

  it("through the client: a line over 4 MiB (maxReceiveMessageBytes' default) is a ServerError naming the row", async () => {
    const url = await serve((req, res) => {
      const csv = req.url!.startsWith("/csv");
      res.writeHead(200, { "content-type": csv ? "text/csv" : "application/x-ndjson" });
      res.write(csv ? "ref_id,x\nfirst,1\nbig," : '{"ref_id":"first"}\n{"ref_id":"big","x":"');
      const piece = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < 8 * 1024 * 1024) {
          sent += piece.length;
          if (!res.write(piece)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end(csv ? "\n" : '"}\n');
      };
      res.on("error", () => {});
      pump();
    });
    const client = restClient(url);
    for (const path of ["/csv?sig=0123456789", "/jsonl?sig=0123456789"]) {
      const { messages, error } = await drainToError(client.readBatchOutput(`${url}${path}`));
      expect(messages.map((r) => r.refId)).toEqual(["first"]);
      expect(error, path).toBeInstanceOf(ServerError);
      expect((error as ServerError).message).toMatch(
        /^readBatchOutput failed: row 2 of the output file http:\/\/127\.0\.0\.1:\d+\/\w+\?\[redacted\] is longer than 4194304 bytes/,
      );
    }
  });
});

describe("output files that are not what they should be", () => {
  it("an HTML page (200) fails clearly; a CSV row with fewer cells than the header is named, not padded", async () => {
    const url = await serve((req, res) => {
      if (req.url!.startsWith("/html")) {
        res
          .writeHead(200, { "content-type": "text/html; charset=utf-8" })
          .end("<html><body>Access Denied</body></html>");
      } else if (req.url!.startsWith("/page")) {
        res.writeHead(200, { "content-type": "binary/octet-stream" }).end("\n  <!DOCTYPE html><p>Forbidden</p>");
      } else {
        res.writeHead(200, { "content-type": "text/csv" }).end("ref_id,result,score\na,ok,0.5\nb,o");
      }
    });
    const client = restClient(url);

    const html = await drainToError(client.readBatchOutput(`${url}/html?sig=0123456789`));
    expect(html.error).toBeInstanceOf(ServerError);
    expect((html.error as ServerError).message).toMatch(
      /the output file http:\/\/127\.0\.0\.1:\d+\/html\?\[redacted\] is text\/html, not CSV or JSON lines \(Access Denied\)/,
    );

    const page = await drainToError(client.readBatchOutput(`${url}/page?sig=0123456789`));
    expect(page.error).toBeInstanceOf(ServerError);
    expect((page.error as ServerError).message).toMatch(/is an HTML or XML page, not CSV or JSON lines \(Forbidden\)/);

    const short = await drainToError(client.readBatchOutput(`${url}/short?sig=0123456789`));
    expect(short.messages.map((r) => r.fields)).toEqual([{ ref_id: "a", result: "ok", score: "0.5" }]);
    expect(short.error).toBeInstanceOf(ServerError);
    expect((short.error as ServerError).message).toMatch(
      /row 2 of the output file .* \(ref_id "b"\) has 2 cells, but the header has 3 columns; the file may be cut short/,
    );
  });
});

describe("the idle limit of transfers (idleTimeoutMs)", () => {
  it("counts only the waits on the network: a slow loop is not idle, a stalled download is", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { fetch } = fakeFetch("application/x-ndjson", (n) =>
      n <= 2 ? encoder.encode(`{"ref_id":"r${String(n)}"}\n`) : new Promise<never>(() => {}),
    );
    const rows = readBatchOutput(OUTPUT_URL, { fetch, idleTimeoutMs: 50 });
    expect((await rows.next()).value?.refId).toBe("r1");
    // The loop takes its time over a row: nothing is wanted from the network meanwhile.
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await rows.next()).value?.refId).toBe("r2");
    let outcome: unknown;
    const third = rows.next().then(
      () => "a row",
      (error: unknown) => error,
    );
    void third.then((o) => {
      outcome = o;
    });
    await vi.advanceTimersByTimeAsync(49);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(TimeoutError);
    expect((outcome as TimeoutError).message).toMatch(
      /^readBatchOutput failed: the download of the output file https:\/\/storage\.example\/out\.jsonl\?\[redacted\] moved no bytes for 50 ms \(idleTimeoutMs\)/,
    );
  });

  it("is 60 s by default, and an upload that gets no answer fails with TimeoutError", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const neverAnswers = ((_url: string, init: RequestInit) =>
      new Promise((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
      })) as typeof globalThis.fetch;
    let outcome: unknown;
    void uploadBatchInput(
      "https://storage.example/in.csv?sig=0123456789",
      [{ refId: "a", type: "text", content: "x" }],
      {
        fetch: neverAnswers,
      },
    ).then(
      () => {
        outcome = "uploaded";
      },
      (error: unknown) => {
        outcome = error;
      },
    );
    await vi.advanceTimersByTimeAsync(59_999);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(TimeoutError);
    expect((outcome as TimeoutError).message).toMatch(
      /^uploadBatchInput failed: the upload to https:\/\/storage\.example\/in\.csv\?\[redacted\] moved no bytes for 60000 ms \(idleTimeoutMs\)/,
    );
  });

  it("ends an upload and a download to a real server that accepts and never answers", async () => {
    const url = await serve((req, res) => {
      req.resume();
      // The output: one row, then nothing.
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write('{"ref_id":"a"}\n');
      }
    });
    const upload = await thrown(
      uploadBatchInput(`${url}/up?sig=0123456789`, [{ refId: "a", type: "text", content: "x" }], {
        idleTimeoutMs: 50,
      }),
    );
    expect(upload).toBeInstanceOf(TimeoutError);
    expect(upload.message).toContain("moved no bytes for 50 ms (idleTimeoutMs)");
    const { messages, error } = await drainToError(readBatchOutput(`${url}/out?sig=0123456789`, { idleTimeoutMs: 50 }));
    expect(messages.map((r) => r.refId)).toEqual(["a"]);
    expect(error).toBeInstanceOf(TimeoutError);
  });

  it("a bad idleTimeoutMs is refused before anything is sent", async () => {
    const { fetch, state } = fakeFetch("text/csv", () => undefined);
    for (const bad of [0, -1, 1.5e10, Number.NaN, "5000"]) {
      const options = { fetch, idleTimeoutMs: bad as number };
      const up = await thrown(uploadBatchInput(OUTPUT_URL, [{ refId: "a", type: "text", content: "x" }], options));
      expect(up).toBeInstanceOf(InvalidRequestError);
      expect((up as InvalidRequestError).field).toBe("options.idleTimeoutMs");
      const down = await thrown(drain(readBatchOutput(OUTPUT_URL, options)));
      expect((down as InvalidRequestError).field).toBe("options.idleTimeoutMs");
    }
    expect(state.fetched).toBe(0);
    // Infinity turns the limit off.
    expect(await drain(readBatchOutput(OUTPUT_URL, { fetch, idleTimeoutMs: Number.POSITIVE_INFINITY }))).toEqual([]);
  });
});

describe("an upload whose stream does not have the length given as size", () => {
  it("is an InvalidRequestError naming size, and the last promised byte never goes out", async () => {
    const url = await serve((req, res) => {
      req.on("error", () => {});
      req.resume();
      req.on("end", () => res.end());
    });
    const client = restClient(url);
    const file = encoder.encode("ref_id,type,content\nx,text,hello\n"); // 33 bytes
    const upload = (chunks: Uint8Array[], size: number, onProgress?: (p: UploadProgress) => void) =>
      thrown(
        client.uploadBatchInput(
          `${url}/up?sig=0123456789`,
          {
            stream: (async function* () {
              yield* chunks;
            })(),
            size,
          },
          { onProgress },
        ),
      );

    const short = await upload([file], 83);
    expect(short).toBeInstanceOf(InvalidRequestError);
    expect((short as InvalidRequestError).field).toBe("size");
    expect(short.message).toMatch(/^the stream had 33 bytes, not the 83 given as size; pass the file's exact length/);

    const long = await upload([file], 28);
    expect(long).toBeInstanceOf(InvalidRequestError);
    expect((long as InvalidRequestError).field).toBe("size");
    expect(long.message).toMatch(/^the stream had more than the 28 bytes given as size \(at least 33\)/);

    // Exactly `size` bytes, then more: the storage service must not get a complete body of the wrong file.
    const progress: UploadProgress[] = [];
    const exactThenMore = await upload([file.subarray(0, 28), file.subarray(28)], 28, (p) => progress.push(p));
    expect(exactThenMore).toBeInstanceOf(InvalidRequestError);
    expect(exactThenMore.message).toMatch(/more than the 28 bytes given as size/);
    expect(progress).toEqual([]);
  });
});

describe("an upload whose stream fails or is not bytes", () => {
  it("is an InvalidRequestError naming stream, not a network failure; nothing is sent for what is no stream", async () => {
    const url = await serve((req, res) => {
      req.on("error", () => {});
      req.resume();
      req.on("end", () => res.end());
    });
    const client = restClient(url);
    const upload = (stream: unknown) =>
      thrown(
        client.uploadBatchInput(`${url}/up?sig=0123456789`, {
          stream: stream as AsyncIterable<Uint8Array>,
          size: 10,
        }),
      );
    const failing = await upload(
      (async function* () {
        yield encoder.encode("ref_");
        throw new Error("disk on fire");
      })(),
    );
    expect(failing).toBeInstanceOf(InvalidRequestError);
    expect((failing as InvalidRequestError).field).toBe("stream");
    expect(failing.message).toMatch(/^the stream failed while it was read: disk on fire/);

    const text = await upload(
      (async function* () {
        yield "ref_id,type";
      })(),
    );
    expect((text as InvalidRequestError).field).toBe("stream");
    expect(text.message).toMatch(/^the stream gave a string; it must give bytes/);

    const { fetch, state } = fakeFetch("text/csv", () => undefined);
    for (const notAStream of [null, 42, "ref_id,type,content", encoder.encode("ref_id")]) {
      const error = await thrown(
        uploadBatchInput(
          OUTPUT_URL,
          { stream: notAStream as unknown as AsyncIterable<Uint8Array>, size: 6 },
          { fetch },
        ),
      );
      expect((error as InvalidRequestError).field).toBe("stream");
    }
    expect(state.fetched).toBe(0);
  });
});

describe("a refused signed URL", () => {
  it("is a PermissionDeniedError that blames the URL, not the API key, for the upload and the output", async () => {
    const emu = await startEmulator({ logger: false, restPort: 0, apiKeys: [KEY], batchStepDelayMs: 1 });
    cleanup.push(() => emu.close());
    const client = restClient(emu.restUrl!);
    const created = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.spam });
    const tampered = created.inputFileUploadUrl.replace(/signature=[0-9a-f]{4}/, "signature=0000");
    const upload = await thrown(client.uploadBatchInput(tampered, [{ refId: "a", type: "text", content: "hi" }]));
    expect(upload).toBeInstanceOf(PermissionDeniedError);
    expect(upload.message).toMatch(
      /^uploadBatchInput failed: the upload URL http:\/\/127\.0\.0\.1:\d+\/batch-uploads\/[^?]+\?\[redacted\] was refused \(HTTP 403\): the signed URL has expired or is not the one the gateway gave/,
    );
    expect(upload.message).not.toMatch(/API key may not/);

    await client.uploadBatchInput(created.inputFileUploadUrl, [{ refId: "a", type: "text", content: "hi" }]);
    const done = await client.waitForBatchJob(created.batchJobId, { pollIntervalMs: 5 });
    expect(done.state).toBe(BatchJobState.COMPLETED);
    const badOutput = done.outputFileUrl.replace(/signature=[0-9a-f]{4}/, "signature=0000");
    const output = await thrown(drain(client.readBatchOutput(badOutput)));
    expect(output).toBeInstanceOf(PermissionDeniedError);
    expect(output.message).toMatch(/^readBatchOutput failed: the output URL .* was refused \(HTTP 403\)/);
    expect(output.message).not.toMatch(/API key may not/);
    expect(output.message).not.toContain(new URL(done.outputFileUrl).searchParams.get("signature")!);
  });

  it("never shows the API key, even when the refusal's body holds it", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(`<Error><Code>AccessDenied</Code><Message>Request has expired ${KEY}</Message></Error>`);
    });
    const client = restClient(url);
    const error = await thrown(drain(client.readBatchOutput(`${url}/out?sig=0123456789`)));
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(`${error.message} ${error.rawMessage}`).not.toContain(KEY);
  });
});

describe("waitForBatchJob's time limit", () => {
  it("bounds a GetBatchJobs poll that hangs, whatever the client's timeoutMs", async () => {
    const url = await serve((req) => {
      // Reads the poll and never answers it.
      req.resume();
    });
    // The client's own timeoutMs (60 s by default) would let the poll run far past the wait's 100 ms.
    const client = restClient(url);
    const error = await thrown(client.waitForBatchJob("b1", { timeoutMs: 100 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(/batch job b1 was not read yet \(GetBatchJobs did not answer\) after 100 ms/);
  });

  it("pollBatchJob ends a poll still running when its timeoutMs passes, naming the last state", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    let polls = 0;
    let outcome: unknown;
    void pollBatchJob(
      "b1",
      { timeoutMs: 1500, pollIntervalMs: 1000 },
      async () => {
        polls++;
        // The first poll answers at once; the second never does.
        if (polls === 1) return create(BatchJobSchema, { batchJobId: "b1", state: BatchJobState.QUEUED });
        return new Promise<never>(() => {});
      },
      (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ).then(
      () => {
        outcome = "final";
      },
      (error: unknown) => {
        outcome = error;
      },
    );
    await vi.advanceTimersByTimeAsync(1499);
    expect(polls).toBe(2);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(ConnectError);
    expect((outcome as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect((outcome as ConnectError).rawMessage).toMatch(/^batch job b1 was still QUEUED after 1500 ms/);
  });
});

describe("the client passes its settings to the transfers", () => {
  it("idleTimeoutMs is checked and applies; maxReceiveMessageBytes limits output lines; a refusal's excerpt is redacted", async () => {
    const url = await serve((req, res) => {
      req.on("error", () => {});
      req.resume();
      if (req.url!.startsWith("/stall")) {
        // The output: one row, then nothing; the upload: no answer.
        if (req.method === "GET")
          res.writeHead(200, { "content-type": "application/x-ndjson" }).write('{"ref_id":"a"}\n');
      } else if (req.url!.startsWith("/long")) {
        res
          .writeHead(200, { "content-type": "application/x-ndjson" })
          .end(`{"ref_id":"a","x":"${"y".repeat(2048)}"}\n`);
      } else {
        res.writeHead(403, { "content-type": "application/xml" });
        res.end(`<Error><Code>AccessDenied</Code><Message>Request has expired ${KEY}</Message></Error>`);
      }
    });
    const client = new ClavataClient({
      apiKey: KEY,
      baseUrl: url,
      insecure: true,
      protocol: "rest",
      maxReceiveMessageBytes: 1024,
    });
    cleanup.push(() => client.close());
    const items = [{ refId: "a", type: "text" as const, content: "x" }];

    for (const bad of [0, 2 ** 31, "60000"]) {
      const options = { idleTimeoutMs: bad as number };
      const up = await thrown(client.uploadBatchInput(`${url}/stall?sig=0123456789`, items, options));
      expect((up as InvalidRequestError).field).toBe("options.idleTimeoutMs");
      const down = invalidRequest(() => client.readBatchOutput(`${url}/stall?sig=0123456789`, options));
      expect(down.field).toBe("options.idleTimeoutMs");
    }

    const up = await thrown(client.uploadBatchInput(`${url}/stall?sig=0123456789`, items, { idleTimeoutMs: 50 }));
    expect(up).toBeInstanceOf(TimeoutError);
    expect(up.message).toContain("moved no bytes for 50 ms (idleTimeoutMs)");
    const stalled = await drainToError(client.readBatchOutput(`${url}/stall?sig=0123456789`, { idleTimeoutMs: 50 }));
    expect(stalled.messages.map((r) => r.refId)).toEqual(["a"]);
    expect(stalled.error).toBeInstanceOf(TimeoutError);

    const long = await drainToError(client.readBatchOutput(`${url}/long?sig=0123456789`));
    expect(long.error).toBeInstanceOf(ServerError);
    expect((long.error as ServerError).message).toContain("is longer than 1024 bytes");

    const refused = await thrown(drain(client.readBatchOutput(`${url}/refused?sig=0123456789`)));
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect(refused.message).toContain("Request has expired [redacted]");
    expect(`${refused.message} ${refused.rawMessage}`).not.toContain(KEY);
  });
});
