// client.evaluateBatch against the emulator over real HTTP/2: one outcome per item whatever the gateway does
// (refusals, failed and reset streams, rate limits), input order on request, bounded reading, and the errors that
// end a batch.

import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { contentHash } from "../../src/content-hash.js";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import {
  AbortedError,
  AuthenticationError,
  BATCH_KEY_METADATA,
  type BatchOutcome,
  type BatchProgress,
  ClavataClient,
  ConnectionError,
  type ContentDataInit,
  EvaluateResponseSchema,
  EvaluationRefusedError,
  InvalidRequestError,
  imageContent,
  NotFoundError,
  PrecheckFailureSchema,
  PrecheckFailureType,
  RefusalReason,
  ServerError,
  textContent,
} from "../../src/index.js";
import { startTestServer } from "../support/test-server.js";

const GIF = Uint8Array.from(Buffer.from("R0lGODlhAQABAAAAACw=", "base64"));
const blockedText = (i: number) => `blocked item ${i}`;

let emu: Emulator;
let client: ClavataClient;

beforeAll(async () => {
  emu = await startEmulator({ logger: false, recordEvaluations: true, evaluateJitterMs: 2 });
  client = new ClavataClient({ baseUrl: emu.url, insecure: true, apiKey: "sk-batch-test" });
});
afterAll(async () => {
  await client.close();
  await emu.close();
});
afterEach(() => emu.faults.clear());

/** Item i: a GIF image when i % 37 === 5 (refused, unsupported), a blocked text when i % 41 === 7, else text. */
function itemOf(i: number): ContentDataInit {
  if (i % 37 === 5) return imageContent(GIF, { metadata: { id: `item-${i}` } });
  if (i % 41 === 7) {
    emu.engine.blockHash(contentHash(blockedText(i)));
    return textContent(blockedText(i), { metadata: { id: `item-${i}` } });
  }
  return textContent(`comment number ${i}: have a nice day`, { metadata: { id: `item-${i}` } });
}

async function* generate(n: number, read?: { count: number }): AsyncGenerator<ContentDataInit> {
  for (let i = 0; i < n; i++) {
    if (read) read.count = i + 1;
    yield itemOf(i);
  }
}

async function collect(iterable: AsyncIterable<BatchOutcome>): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for await (const outcome of iterable) out.push(outcome);
  return out;
}

function expectEveryIndexOnce(outcomes: BatchOutcome[], n: number): void {
  const seen = new Set(outcomes.map((o) => o.index));
  expect(outcomes).toHaveLength(n);
  expect(seen.size).toBe(n);
  for (let i = 0; i < n; i++) expect(seen.has(i)).toBe(true);
}

function expectRefusalsRight(outcomes: BatchOutcome[]): void {
  for (const o of outcomes) {
    const gif = o.index % 37 === 5;
    const blocked = !gif && o.index % 41 === 7;
    if (gif) {
      expect(o).toMatchObject({ kind: "refused", refusal: { reason: RefusalReason.UNSUPPORTED_FORMAT } });
      expect(o.refusal?.contentHash).toBe(contentHash(GIF));
    } else if (blocked) {
      expect(o).toMatchObject({ kind: "refused", refusal: { reason: RefusalReason.CSAM } });
      expect(o.refusal?.contentHash).toBe(contentHash(blockedText(o.index)));
    } else if (o.kind !== "failed") {
      expect(o.kind).toBe("result");
    }
  }
}

describe("evaluateBatch", () => {
  it("yields one outcome per item, pins refusals to their items, and hides its correlation key", async () => {
    const batch = client.evaluateBatch(generate(300), { policyId: "policy-violence", concurrency: 4, chunkSize: 25 });
    const outcomes = await collect(batch);
    expectEveryIndexOnce(outcomes, 300);
    expectRefusalsRight(outcomes);
    expect(outcomes.filter((o) => o.kind === "failed")).toEqual([]);
    for (const o of outcomes) {
      expect(o.id).toBe(`item-${o.index}`);
      if (o.kind === "result") {
        const metadata = o.result.policyEvaluationReport?.contentMetadata ?? {};
        expect(metadata).toEqual({ id: `item-${o.index}` });
        expect(metadata[BATCH_KEY_METADATA]).toBeUndefined();
      }
    }
    const refused = outcomes.filter((o) => o.kind === "refused").length;
    expect(batch.summary).toMatchObject({ total: 300, results: 300 - refused, refused, failed: 0, resends: 0 });
    expect(batch.summary.refusalsByReason[RefusalReason.CSAM]).toBe(
      outcomes.filter((o) => o.refusal?.reason === RefusalReason.CSAM).length,
    );
    expect(batch.summary.tokens.billed).toBeGreaterThan(0);
    // Every evaluated item was evaluated exactly once; refused items never.
    for (const o of outcomes) {
      const hash = o.kind === "result" ? o.result.contentHash : undefined;
      if (hash !== undefined && !hash.includes(contentHash(GIF))) expect(emu.evaluations.get(hash)).toBe(1);
    }
  });

  it("tells identical items in one stream apart, each with its own metadata", async () => {
    const items = Array.from({ length: 20 }, (_, i) =>
      textContent(i % 2 === 0 ? "the same words" : "other same words", { metadata: { id: `dup-${i}` } }),
    );
    items.push(imageContent(GIF, { metadata: { id: "gif-a" } }), imageContent(GIF, { metadata: { id: "gif-b" } }));
    const outcomes = await collect(client.evaluateBatch(items, { policyId: "policy-spam", chunkSize: 50 }));
    expectEveryIndexOnce(outcomes, 22);
    for (const o of outcomes) {
      if (o.index < 20) {
        expect(o.kind).toBe("result");
        expect(o.result?.policyEvaluationReport?.contentMetadata.id).toBe(`dup-${o.index}`);
      } else {
        expect(o).toMatchObject({ kind: "refused", id: o.index === 20 ? "gif-a" : "gif-b" });
      }
    }
  });

  it("yields in input order with ordered: true", async () => {
    const outcomes = await collect(
      client.evaluateBatch(generate(400), {
        policyId: "policy-violence",
        ordered: true,
        concurrency: 8,
        chunkSize: 10,
      }),
    );
    expect(outcomes.map((o) => o.index)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expectRefusalsRight(outcomes);
  });

  it("reads the input lazily: never more than the window ahead of what was yielded", async () => {
    const read = { count: 0 };
    let yielded = 0;
    let maxAhead = 0;
    for await (const _ of client.evaluateBatch(generate(500, read), {
      policyId: "policy-violence",
      concurrency: 3,
      chunkSize: 10,
      windowSize: 40,
    })) {
      yielded++;
      maxAhead = Math.max(maxAhead, read.count - yielded);
    }
    expect(yielded).toBe(500);
    // The generator may have produced one item that waits for the next chunk (it did not fit the byte bound).
    expect(maxAhead).toBeLessThanOrEqual(40);
  });

  it("sends again only the unanswered items of failed and reset streams, each send one attempt", async () => {
    emu.faults.failNext("Evaluate", 3, Code.Unavailable);
    emu.faults.resetStreamAfter(4, 2);
    emu.faults.failStreamAfter(2, Code.Internal);
    const before = new Map(emu.evaluations);
    const items = Array.from({ length: 120 }, (_, i) =>
      textContent(`fault test item ${i}`, { metadata: { id: `f${i}` } }),
    );
    const batch = client.evaluateBatch(items, { policyId: "policy-violence", concurrency: 2, chunkSize: 20 });
    const outcomes = await collect(batch);
    expectEveryIndexOnce(outcomes, 120);
    expect(outcomes.every((o) => o.kind === "result")).toBe(true);
    expect(outcomes.filter((o) => o.attempts > 1).length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.attempts <= 3)).toBe(true);
    expect(batch.summary.resends).toBeGreaterThan(0);
    for (const o of outcomes) {
      const hash = o.result!.contentHash;
      const times = (emu.evaluations.get(hash) ?? 0) - (before.get(hash) ?? 0);
      expect(times).toBeGreaterThanOrEqual(1);
      expect(times).toBeLessThanOrEqual(o.attempts);
    }
  });

  it("gives an item up as failed after maxAttempts, and goes on with the rest", async () => {
    emu.faults.failNext("Evaluate", 2, Code.Unavailable);
    const items = Array.from({ length: 15 }, (_, i) => textContent(`attempts item ${i}`));
    const outcomes = await collect(
      client.evaluateBatch(items, { policyId: "policy-violence", concurrency: 1, chunkSize: 5, maxAttempts: 2 }),
    );
    expectEveryIndexOnce(outcomes, 15);
    const failed = outcomes.filter((o) => o.kind === "failed");
    expect(failed.map((o) => o.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    for (const o of failed) {
      expect(o.error).toBeInstanceOf(ConnectionError);
      expect(o.attempts).toBe(2);
    }
    expect(outcomes.filter((o) => o.kind === "result")).toHaveLength(10);
  });

  it("with resend: false, fails the unanswered items of a stream cut after its first result instead", async () => {
    emu.faults.resetStreamAfter(3);
    const items = Array.from({ length: 10 }, (_, i) => textContent(`no resend item ${i}`));
    const before = new Map(emu.evaluations);
    const batch = client.evaluateBatch(items, {
      policyId: "policy-violence",
      concurrency: 1,
      chunkSize: 10,
      resend: false,
    });
    const outcomes = await collect(batch);
    expectEveryIndexOnce(outcomes, 10);
    expect(outcomes.filter((o) => o.kind === "result")).toHaveLength(3);
    expect(outcomes.filter((o) => o.kind === "failed")).toHaveLength(7);
    expect(batch.summary.resends).toBe(0);
    for (const item of items) {
      const hash = contentHash((item.content as { value: string }).value);
      expect((emu.evaluations.get(hash) ?? 0) - (before.get(hash) ?? 0)).toBe(1);
    }
  });

  it("fails a bad item at once without sending it", async () => {
    const items: ContentDataInit[] = [textContent("fine"), { content: { case: "text", value: "" } }, textContent("ok")];
    const outcomes = await collect(client.evaluateBatch(items, { policyId: "policy-violence", ordered: true }));
    expect(outcomes.map((o) => o.kind)).toEqual(["result", "failed", "result"]);
    expect(outcomes[1]!.error).toBeInstanceOf(InvalidRequestError);
    expect(outcomes[1]!.attempts).toBe(0);
  });

  it("rides out RESOURCE_EXHAUSTED: pauses as RetryInfo says and finishes every item", async () => {
    emu.faults.failNext("Evaluate", 3, Code.ResourceExhausted, { retryDelayMs: 20 });
    const items = Array.from({ length: 60 }, (_, i) => textContent(`rate item ${i}`));
    const outcomes = await collect(
      client.evaluateBatch(items, { policyId: "policy-violence", concurrency: 4, chunkSize: 5, maxAttempts: 5 }),
    );
    expectEveryIndexOnce(outcomes, 60);
    expect(outcomes.every((o) => o.kind === "result")).toBe(true);
  });

  it("reports progress as streams settle, ending with every item done", async () => {
    const seen: BatchProgress[] = [];
    const batch = client.evaluateBatch(generate(100), {
      policyId: "policy-violence",
      chunkSize: 10,
      onProgress: (p) => seen.push(p),
    });
    await collect(batch);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ done: 100, inFlight: 0 });
    expect(last.results + last.refused + last.failed).toBe(100);
    expect(batch.summary.itemsPerSecond).toBeGreaterThan(0);
  });

  it("throws the error that dooms every item: an unknown policy", async () => {
    const read = { count: 0 };
    await expect(
      collect(client.evaluateBatch(generate(1000, read), { policyId: "no-such-policy" })),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(read.count).toBeLessThan(1000);
  });

  it("throws AuthenticationError for a key the gateway does not accept", async () => {
    await using locked = await startEmulator({ logger: false, apiKeys: ["sk-right"] });
    await using wrong = new ClavataClient({ baseUrl: locked.url, insecure: true, apiKey: "sk-wrong" });
    await expect(collect(wrong.evaluateBatch(generate(50), { policyId: "policy-violence" }))).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it("throws AbortedError when the caller's signal fires, and stops reading the input", async () => {
    const controller = new AbortController();
    let finished = false;
    async function* endless(): AsyncGenerator<ContentDataInit> {
      try {
        for (let i = 0; ; i++) yield textContent(`endless ${i}`);
      } finally {
        finished = true;
      }
    }
    let count = 0;
    await expect(
      (async () => {
        for await (const _ of client.evaluateBatch(endless(), {
          policyId: "policy-violence",
          signal: controller.signal,
        })) {
          if (++count === 50) controller.abort();
        }
      })(),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(finished).toBe(true);
  });

  it("stops cleanly when the loop is left early", async () => {
    let finished = false;
    async function* items(): AsyncGenerator<ContentDataInit> {
      try {
        for (let i = 0; i < 10_000; i++) yield textContent(`early ${i}`);
      } finally {
        finished = true;
      }
    }
    const batch = client.evaluateBatch(items(), { policyId: "policy-violence" });
    for await (const _ of batch) break;
    expect(finished).toBe(true);
    expect(batch.summary.total).toBeLessThan(10_000);
    // The client still works afterwards.
    expect(
      (await client.evaluateOne({ policyId: "policy-violence", contentData: textContent("hi") })).jobUuid,
    ).not.toBe("");
  });

  it("ends at once when the loop is left while the items wait, as an idle queue does", async () => {
    let release: () => void = () => {};
    const idle = new Promise<void>((resolve) => (release = resolve));
    async function* queue(): AsyncGenerator<ContentDataInit> {
      yield textContent("the only message so far");
      await idle; // no more messages for now
      yield textContent("a late message");
    }
    const batch = client.evaluateBatch(queue(), { policyId: "policy-violence", chunkSize: 1 });
    for await (const outcome of batch) {
      expect(outcome.kind).toBe("result");
      break;
    }
    expect(batch.summary.total).toBe(1);
    release();
  });

  for (const ordered of [false, true]) {
    it(`when the items throw, finishes every item already read, then throws their error${ordered ? " (in order)" : ""}`, async () => {
      const lost = new Error("queue connection lost");
      // Sync: the read that throws holds two items not yet sent. Async: streams are in flight when it throws.
      function* syncQueue(): Generator<ContentDataInit> {
        for (let i = 0; i < 5; i++) yield textContent(`sync queue message ${i}`, { metadata: { id: `s${i}` } });
        throw lost;
      }
      async function* asyncQueue(): AsyncGenerator<ContentDataInit> {
        for (let i = 0; i < 47; i++) yield textContent(`async queue message ${i}`, { metadata: { id: `a${i}` } });
        throw lost;
      }
      for (const [source, n] of [
        [syncQueue(), 5],
        [asyncQueue(), 47],
      ] as const) {
        const calls = emu.calls.Evaluate;
        const batch = client.evaluateBatch(source, { policyId: "policy-violence", chunkSize: 3, ordered });
        const outcomes: BatchOutcome[] = [];
        let thrown: unknown;
        try {
          for await (const outcome of batch) outcomes.push(outcome);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBe(lost);
        expectEveryIndexOnce(outcomes, n);
        expect(outcomes.every((o) => o.kind === "result")).toBe(true);
        if (ordered) expect(outcomes.map((o) => o.index)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(batch.summary).toMatchObject({ total: n, results: n, failed: 0 });
        expect(emu.calls.Evaluate - calls).toBe(Math.ceil(n / 3));
      }
    });
  }

  it("throws InvalidRequestError for an iterator that breaks the protocol, after the items before it", async () => {
    let calls = 0;
    const broken = {
      [Symbol.iterator]: () => ({
        next: () => {
          calls++;
          if (calls <= 3) return { value: textContent(`before the break ${calls}`), done: false };
          // Without the check, 5 reads as { value: undefined, done: undefined }, an endless run of undefined items.
          if (calls > 1000) throw new Error("read on past a broken iterator result");
          return 5;
        },
      }),
    } as unknown as Iterable<ContentDataInit>;
    const batch = client.evaluateBatch(broken, { policyId: "policy-violence" });
    const outcomes: BatchOutcome[] = [];
    const thrown = await (async () => {
      try {
        for await (const outcome of batch) outcomes.push(outcome);
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(InvalidRequestError);
    expect(thrown).toMatchObject({
      field: "items",
      message: expect.stringMatching(/broken iterator.*next\(\) returned a whole number/),
    });
    expect(calls).toBe(4);
    expectEveryIndexOnce(outcomes, 3);
    expect(outcomes.every((o) => o.kind === "result")).toBe(true);
    expect(batch.summary.total).toBe(3);
    // An iterable whose [Symbol.iterator]() returns no iterator is refused at once.
    expect(() => client.evaluateBatch({ [Symbol.iterator]: () => 5 } as never, { policyId: "p" })).toThrow(
      /items is a broken iterator: its \[Symbol\.iterator\]\(\) returned a whole number/,
    );
  });

  it("reads bad items within the window, yields them as it reads them, and lets timers run", async () => {
    let read = 0;
    function* garbage(): Generator<ContentDataInit> {
      for (;;) {
        // Without a bound on bad items, the first read never ends: stop it here rather than run out of memory.
        if (++read > 20_000) throw new Error("read without bound");
        yield undefined as never;
      }
    }
    let ticked = false;
    const tick = setTimeout(() => (ticked = true), 0);
    let yielded = 0;
    let maxAhead = 0;
    let tickedAt: number | undefined;
    for await (const outcome of client.evaluateBatch(garbage(), { policyId: "policy-violence", windowSize: 100 })) {
      expect(outcome).toMatchObject({ kind: "failed", index: yielded, attempts: 0 });
      expect(outcome.error).toBeInstanceOf(InvalidRequestError);
      yielded++;
      maxAhead = Math.max(maxAhead, read - yielded);
      if (ticked) tickedAt ??= yielded;
      if (yielded === 5000) break;
    }
    clearTimeout(tick);
    expect(maxAhead).toBeLessThanOrEqual(100);
    // The timer, due at once, ran while the batch was still yielding bad items: the reading never held the event loop.
    expect(tickedAt).toBeDefined();
    expect(tickedAt!).toBeLessThan(5000);
  });

  it("sends a part-filled chunk once the source has been quiet for a moment, and fills it when the source is fast", async () => {
    const outcomes: BatchOutcome[] = [];
    const calls = emu.calls.Evaluate;
    async function* queue(): AsyncGenerator<ContentDataInit> {
      for (let i = 0; i < 150; i++) yield textContent(`queue message ${i}`, { metadata: { id: `q${i}` } });
      // The queue goes quiet until its messages so far are evaluated: held until the chunk fills, they never would be.
      await expect.poll(() => outcomes.length, { timeout: 5000 }).toBe(150);
      yield textContent("a late message", { metadata: { id: "late" } });
    }
    for await (const outcome of client.evaluateBatch(queue(), { policyId: "policy-violence" })) outcomes.push(outcome);
    expectEveryIndexOnce(outcomes, 151);
    expect(outcomes.every((o) => o.kind === "result")).toBe(true);
    // 100 items read without a wait fill their chunk; the 50 after them go once the queue is quiet; then the late one.
    expect(emu.calls.Evaluate - calls).toBe(3);
  });

  it("ends at once when the loop is left after a part-filled chunk went while the queue is quiet", async () => {
    let release: () => void = () => {};
    const idle = new Promise<void>((resolve) => (release = resolve));
    async function* queue(): AsyncGenerator<ContentDataInit> {
      yield textContent("the only message for now");
      await idle; // the chunk goes without waiting for this
      yield textContent("a late message");
    }
    // One stream: when the loop is left, no read is under way, but the queue still owes an answer to the last one.
    const batch = client.evaluateBatch(queue(), { policyId: "policy-violence", concurrency: 1 });
    for await (const outcome of batch) {
      expect(outcome.kind).toBe("result");
      break;
    }
    expect(batch.summary.total).toBe(1);
    release();
  });

  it("checks its options at once", () => {
    expect(() => client.evaluateBatch([], { policyId: "" })).toThrow(InvalidRequestError);
    expect(() => client.evaluateBatch([], { policyId: "p", concurrency: 0 })).toThrow(/concurrency is 0/);
    expect(() => client.evaluateBatch([], { policyId: "p", threshold: 2 })).toThrow(/threshold/);
    expect(() => client.evaluateBatch(42 as never, { policyId: "p" })).toThrow(InvalidRequestError);
    // A string is iterable, but its characters are not content items.
    expect(() => client.evaluateBatch("hello" as never, { policyId: "p" })).toThrow(/items is a string/);
    expect(() => client.evaluateBatch([], { policyId: "p", concurency: 4 } as never)).toThrow(
      /concurency is not an option of evaluateBatch/,
    );
    expect(() => client.evaluateBatch([], { policyId: "p", ordered: "yes" } as never)).toThrow(/ordered is a string/);
    for (const bad of [-1, Number.NaN, 2 ** 31, "20"]) {
      expect(() => client.evaluateBatch([], { policyId: "p", maxChunkWaitMs: bad as number })).toThrow(
        /maxChunkWaitMs is .*; pass a number of milliseconds from 0 to 2147483647, or Infinity for no limit/,
      );
    }
    for (const good of [0, 5, Number.POSITIVE_INFINITY]) {
      expect(() => client.evaluateBatch([], { policyId: "p", maxChunkWaitMs: good })).not.toThrow();
    }
  });

  it("yields nothing for no items, and bounds each stream by bytes", async () => {
    expect(await collect(client.evaluateBatch([], { policyId: "policy-violence" }))).toEqual([]);
    const items = Array.from({ length: 6 }, (_, i) => textContent(`${String(i)} ${"long text ".repeat(100)}`));
    const calls = emu.calls.Evaluate;
    const outcomes = await collect(
      client.evaluateBatch(items, { policyId: "policy-violence", maxChunkBytes: 2500, concurrency: 1 }),
    );
    expectEveryIndexOnce(outcomes, 6);
    // About 1 kB each: two per stream.
    expect(emu.calls.Evaluate - calls).toBe(3);
  });
});

// Gateways that answer with something the batch cannot match to an item: no metadata echoed (so no correlation key),
// and a content hash in an algorithm the SDK cannot compute.
describe("evaluateBatch and answers that match no item", () => {
  const unmatchable = { contentHash: "sha999::abc", policyEvaluationReport: { reviewResult: { outcome: 1 } } };
  const items = () => ["a", "b", "c"].map((text) => textContent(text, { metadata: { id: text } }));

  /** A gateway that answers each stream once, unmatchably, then resets it with REFUSED_STREAM. */
  async function refusingAfterAnAnswer() {
    return startTestServer({
      raw: (req, res) => {
        if (!req.url.endsWith("/Evaluate")) return false;
        const stream = res.stream;
        req.resume();
        req.on("end", () => {
          stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
          const message = toBinary(EvaluateResponseSchema, create(EvaluateResponseSchema, unmatchable));
          const frame = Buffer.alloc(5 + message.length);
          frame.writeUInt32BE(message.length, 1);
          frame.set(message, 5);
          stream.write(frame, () => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
        });
        return true;
      },
    });
  }

  it("with resend: false, sends nothing again once a stream had an answer, and fails its items saying why", async () => {
    await using server = await refusingAfterAnAnswer();
    await using c = new ClavataClient({ baseUrl: server.url, insecure: true, apiKey: "sk-batch-test", maxRetries: 2 });
    const batch = c.evaluateBatch(items(), { policyId: "p", resend: false, maxAttempts: 3, ordered: true });
    const outcomes = await collect(batch);
    expect(server.count("Evaluate")).toBe(1);
    expect(outcomes.map((o) => [o.id, o.kind, o.attempts])).toEqual([
      ["a", "failed", 1],
      ["b", "failed", 1],
      ["c", "failed", 1],
    ]);
    for (const o of outcomes) {
      expect(o.error).toBeInstanceOf(ServerError);
      expect(o.error?.message).toMatch(/1 answer .*could not be matched to an item.*"sha999::abc".*may have been/);
      expect(o.error?.cause).toBeInstanceOf(Error);
    }
    expect(batch.summary).toMatchObject({ failed: 3, streams: 1, resends: 0, unmatchedAnswers: 1 });
  });

  it("with resend: true (the default), sends the items again as after any broken stream, and says why they failed", async () => {
    await using server = await refusingAfterAnAnswer();
    await using c = new ClavataClient({ baseUrl: server.url, insecure: true, apiKey: "sk-batch-test" });
    const batch = c.evaluateBatch(items(), { policyId: "p", maxAttempts: 3 });
    const outcomes = await collect(batch);
    expect(server.count("Evaluate")).toBe(3);
    expectEveryIndexOnce(outcomes, 3);
    for (const o of outcomes) {
      expect(o).toMatchObject({ kind: "failed", attempts: 3 });
      expect(o.error).toBeInstanceOf(ServerError);
      expect(o.error?.message).toMatch(/could not be matched to an item/);
    }
    expect(batch.summary).toMatchObject({ failed: 3, streams: 3, resends: 6, unmatchedAnswers: 3 });
  });

  it("counts an answer it cannot match when the stream ends cleanly, and resends the items left only if allowed", async () => {
    // Each stream answers its first item, then something that matches none, and ends without an error.
    await using server = await startTestServer({
      gateway: {
        async *evaluate(req) {
          const first = req.contentData[0]!;
          yield { policyEvaluationReport: { contentMetadata: first.metadata, reviewResult: { outcome: 1 } } };
          yield unmatchable;
        },
      },
    });
    await using c = new ClavataClient({ baseUrl: server.url, insecure: true, apiKey: "sk-batch-test" });
    const once = c.evaluateBatch(items(), { policyId: "p", resend: false, ordered: true });
    const outcomes = await collect(once);
    expect(outcomes.map((o) => [o.id, o.kind])).toEqual([
      ["a", "result"],
      ["b", "failed"],
      ["c", "failed"],
    ]);
    expect(outcomes[1]!.error?.message).toMatch(/could not be matched to an item.*without a result for this item/);
    expect(server.count("Evaluate")).toBe(1);
    expect(once.summary).toMatchObject({ results: 1, failed: 2, resends: 0, unmatchedAnswers: 1 });

    // resend: true: b and c go again, then c alone, each stream answering its first item.
    const again = c.evaluateBatch(items(), { policyId: "p", ordered: true });
    expect((await collect(again)).map((o) => [o.id, o.kind, o.attempts])).toEqual([
      ["a", "result", 1],
      ["b", "result", 2],
      ["c", "result", 3],
    ]);
    expect(server.count("Evaluate")).toBe(4);
    expect(again.summary).toMatchObject({ results: 3, resends: 3, unmatchedAnswers: 3 });
  });

  it("with resend: false, fails rather than sends again the items a refusal after an answer does not name", async () => {
    const hashOfB = contentHash("b");
    await using server = await startTestServer({
      gateway: {
        async *evaluate(req) {
          const first = req.contentData[0]!;
          yield { policyEvaluationReport: { contentMetadata: first.metadata, reviewResult: { outcome: 1 } } };
          throw new ConnectError("refused", Code.FailedPrecondition, undefined, [
            {
              desc: PrecheckFailureSchema,
              value: {
                type: PrecheckFailureType.NCMEC,
                details: { kind: { case: "stringValue" as const, value: hashOfB } },
              },
            },
          ]);
        },
      },
    });
    await using c = new ClavataClient({ baseUrl: server.url, insecure: true, apiKey: "sk-batch-test" });
    const batch = c.evaluateBatch(items(), { policyId: "p", resend: false, ordered: true });
    const outcomes = await collect(batch);
    expect(outcomes.map((o) => [o.id, o.kind])).toEqual([
      ["a", "result"],
      ["b", "refused"],
      ["c", "failed"],
    ]);
    expect(outcomes[2]!.error).toBeInstanceOf(EvaluationRefusedError);
    expect(server.count("Evaluate")).toBe(1);
    expect(batch.summary.resends).toBe(0);
  });
});
