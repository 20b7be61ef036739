// How an evaluateBatch in progress ends when it is told to stop while no stream runs: close() of its client, and an
// AbortSignal.timeout, while the batch waits for a quiet queue or sits out a RESOURCE_EXHAUSTED pause.

import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import {
  AbortedError,
  type BatchOutcome,
  ClavataClient,
  type ContentDataInit,
  TimeoutError,
  textContent,
} from "../../src/index.js";

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, logger: false });
});
afterAll(async () => {
  await emu.close();
});
afterEach(() => emu.faults.clear());

function newClient(): ClavataClient {
  return new ClavataClient({ baseUrl: emu.url, insecure: true, apiKey: "sk-batch-close-test" });
}

/**
 * A queue that hands out `messages`, then goes quiet: its next() answers only once return() is called.
 * `quiet` resolves when the batch asks it for a message it does not have.
 */
function quietQueue(messages: ContentDataInit[]) {
  let onQuiet: () => void = () => {};
  const quiet = new Promise<void>((resolve) => (onQuiet = resolve));
  let onReturn: () => void = () => {};
  const returned = new Promise<void>((resolve) => (onReturn = resolve));
  const state = { nextCalls: 0, returnCalled: false, quiet, returned };
  const iterator: AsyncIterator<ContentDataInit> = {
    next: async () => {
      state.nextCalls++;
      const message = messages.shift();
      if (message !== undefined) return { value: message, done: false };
      onQuiet();
      await returned;
      return { value: undefined, done: true };
    },
    return: async () => {
      state.returnCalled = true;
      onReturn();
      return { value: undefined, done: true };
    },
  };
  return { items: { [Symbol.asyncIterator]: () => iterator }, state };
}

/** Runs the loop; `outcomes` fills as it goes, `ended` settles with what the loop threw (undefined if nothing). */
function consume(batch: AsyncIterable<BatchOutcome>, onOutcome: (outcome: BatchOutcome) => void = () => {}) {
  const outcomes: BatchOutcome[] = [];
  const ended = (async () => {
    try {
      for await (const outcome of batch) {
        outcomes.push(outcome);
        onOutcome(outcome);
      }
      return undefined;
    } catch (error) {
      return error;
    }
  })();
  return { outcomes, ended };
}

describe("evaluateBatch ended while no stream runs", () => {
  it("ends with AbortedError when the client is closed while the batch waits for a quiet queue", async () => {
    const client = newClient();
    const queue = quietQueue([textContent("the only message so far")]);
    let onFirst: () => void = () => {};
    const first = new Promise<void>((resolve) => (onFirst = resolve));
    const { outcomes, ended } = consume(client.evaluateBatch(queue.items, { policyId: "policy-violence" }), onFirst);
    // The message has its outcome, and the batch waits for the next one.
    await Promise.all([first, queue.state.quiet]);
    await client.close();
    const thrown = await ended;
    expect(thrown).toBeInstanceOf(AbortedError);
    expect((thrown as AbortedError).message).toMatch(/client was closed/);
    expect((thrown as AbortedError).code).toBe(Code.Canceled);
    expect(outcomes.map((o) => o.kind)).toEqual(["result"]);
    expect(queue.state.returnCalled).toBe(true);
  }, 10_000);

  it("ends with AbortedError when the client is closed during a RESOURCE_EXHAUSTED pause", async () => {
    const client = newClient();
    emu.faults.failNext("Evaluate", 1, Code.ResourceExhausted, { retryDelayMs: 20_000 });
    let onSettled: () => void = () => {};
    // The rate-limited stream has settled: the batch now waits out the 20 s the gateway asked for.
    const settled = new Promise<void>((resolve) => (onSettled = resolve));
    const calls = emu.calls.Evaluate;
    const { outcomes, ended } = consume(
      client.evaluateBatch([textContent("paused a"), textContent("paused b")], {
        policyId: "policy-violence",
        onProgress: () => onSettled(),
      }),
    );
    await settled;
    await client.close();
    const thrown = await ended;
    expect(thrown).toBeInstanceOf(AbortedError);
    expect((thrown as AbortedError).message).toMatch(/client was closed/);
    expect(outcomes).toEqual([]);
    expect(emu.calls.Evaluate - calls).toBe(1);
  }, 10_000);

  it("throws ConnectionError for a client closed before the iteration, without reading the items", async () => {
    const client = newClient();
    await client.close();
    const queue = quietQueue([textContent("never read")]);
    const { outcomes, ended } = consume(client.evaluateBatch(queue.items, { policyId: "policy-violence" }));
    const thrown = await ended;
    expect((thrown as Error).name).toBe("ConnectionError");
    expect((thrown as Error).message).toMatch(/client is closed/);
    expect(outcomes).toEqual([]);
    expect(queue.state.nextCalls).toBe(0);
    expect(queue.state.returnCalled).toBe(true);
  });

  it("throws TimeoutError, as every method does, when an AbortSignal.timeout fires", async () => {
    const client = newClient();
    try {
      const queue = quietQueue([textContent("before the timeout")]);
      const { ended } = consume(
        client.evaluateBatch(queue.items, { policyId: "policy-violence", signal: AbortSignal.timeout(100) }),
      );
      const thrown = await ended;
      expect(thrown).toBeInstanceOf(TimeoutError);
      expect((thrown as TimeoutError).message).toMatch(/evaluateBatch: your AbortSignal timed out/);
      expect((thrown as TimeoutError).code).toBe(Code.DeadlineExceeded);
      expect((thrown as TimeoutError).cause).toMatchObject({ name: "TimeoutError" });
      expect(queue.state.returnCalled).toBe(true);
    } finally {
      await client.close();
    }
  }, 10_000);
});
