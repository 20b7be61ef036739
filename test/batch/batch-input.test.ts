// Reading a batch's items: lazily, one chunk at a time, bounded by items and by bytes; bad items set aside.

import { afterEach, describe, expect, it, vi } from "vitest";
import { BatchInput, type InvalidItem, type ReadLimits } from "../../src/batch/batch-input.js";
import { type ContentDataInit, InvalidRequestError, textContent } from "../../src/index.js";

/** One read of `input`, with the bad items it handed over on the way. */
async function readChunk(input: BatchInput, maxItems: number, maxBytes: number, more: Partial<ReadLimits> = {}) {
  const invalid: InvalidItem[] = [];
  const chunk = await input.next({ maxItems, maxBytes, ...more }, (bad) => invalid.push(bad));
  return { ...chunk, invalid };
}

describe("BatchInput", () => {
  it("keeps input order and bounds each chunk by items and by bytes, reading no further than it must", async () => {
    let read = 0;
    function* items() {
      for (let i = 0; i < 7; i++) {
        read++;
        yield textContent("x".repeat(100), { metadata: { id: `i${i}` } });
      }
    }
    const input = new BatchInput(items());
    const first = await readChunk(input, 3, 1_000_000);
    expect(first.items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(first.items.map((i) => i.id)).toEqual(["i0", "i1", "i2"]);
    expect(read).toBe(3);
    // About 150 bytes each: two fit under 350; the third waits for the next chunk.
    const second = await readChunk(input, 100, 350);
    expect(second.items.map((i) => i.index)).toEqual([3, 4]);
    const third = await readChunk(input, 100, 1_000_000);
    expect(third.items.map((i) => i.index)).toEqual([5, 6]);
    expect(third.done).toBe(true);
    expect(input.exhausted).toBe(true);
  });

  it("gives an item larger than the byte bound a chunk of its own", async () => {
    const input = new BatchInput([textContent("y".repeat(1000)), textContent("a"), textContent("b")]);
    expect((await readChunk(input, 100, 300)).items.map((i) => i.index)).toEqual([0]);
    expect((await readChunk(input, 100, 300)).items.map((i) => i.index)).toEqual([1, 2]);
  });

  it("sets bad items aside with InvalidRequestError and reads async iterables", async () => {
    async function* items() {
      yield textContent("ok");
      yield { content: { case: "text" as const, value: "" } };
      yield "not an item" as never;
      yield textContent("fine");
    }
    const input = new BatchInput(items());
    const chunk = await readChunk(input, 10, 1_000_000);
    expect(chunk.items.map((i) => i.index)).toEqual([0, 3]);
    expect(chunk.invalid.map((i) => i.index)).toEqual([1, 2]);
    expect(chunk.invalid.every((i) => i.error instanceof InvalidRequestError)).toBe(true);
  });

  it("closes the caller's iterator when the batch stops early", async () => {
    let closed = false;
    function* items() {
      try {
        for (;;) yield textContent("again");
      } finally {
        closed = true;
      }
    }
    const input = new BatchInput(items());
    await readChunk(input, 2, 1_000_000);
    await input.close();
    expect(closed).toBe(true);
  });
  it("ends a read where the iterator throws, with the items read before it; a failed iterator is not closed", async () => {
    const lost = new Error("queue connection lost");
    let returns = 0;
    const sync = (): Iterator<ContentDataInit> => {
      let calls = 0;
      return {
        next: () => {
          if (++calls > 2) throw lost;
          return { value: textContent(`m${calls}`), done: false };
        },
        return: () => {
          returns++;
          return { value: undefined, done: true };
        },
      };
    };
    async function* later(): AsyncGenerator<ContentDataInit> {
      yield textContent("a");
      yield textContent("b");
      throw lost;
    }
    for (const input of [new BatchInput({ [Symbol.iterator]: sync }), new BatchInput(later())]) {
      const chunk = await readChunk(input, 10, 1_000_000);
      expect(chunk.items.map((i) => i.index)).toEqual([0, 1]);
      expect(chunk).toMatchObject({ done: true, failure: { error: lost } });
      expect(input.exhausted).toBe(true);
      const after = await readChunk(input, 10, 1_000_000);
      expect(after).toMatchObject({ items: [], done: true });
      expect(after.failure).toBeUndefined();
      // As for…of: an iterator whose next() threw is not closed with return().
      await input.close();
    }
    expect(returns).toBe(0);
  });

  it("counts bad items against maxReads and maxItems, handing each over as it is read", async () => {
    let read = 0;
    function* garbage(): Generator<ContentDataInit> {
      for (;;) {
        if (++read > 1000) throw new Error("read without bound");
        yield (read % 4 === 0 ? textContent(`ok ${read}`) : undefined) as ContentDataInit;
      }
    }
    const input = new BatchInput(garbage());
    // Within the window's room: 10 items taken, 2 of them sendable.
    const first = await readChunk(input, 100, 1_000_000, { maxReads: 10 });
    expect(first.items.map((i) => i.index)).toEqual([3, 7]);
    expect(first.invalid.map((i) => i.index)).toEqual([0, 1, 2, 4, 5, 6, 8, 9]);
    expect(input.read).toBe(10);
    // No more bad items per read than a chunk's items: a run of them cannot hold the event loop.
    const second = await readChunk(input, 4, 1_000_000, { maxReads: 500 });
    expect(second.invalid).toHaveLength(4);
    expect(second.items.length).toBeLessThanOrEqual(4);
    expect(input.read).toBeLessThanOrEqual(18);
  });

  it("fails an iterator that breaks the protocol with InvalidRequestError naming items", async () => {
    let calls = 0;
    const broken = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          if (++calls > 100) throw new Error("read on past a broken result");
          return calls === 1 ? { value: textContent("fine"), done: false } : null;
        },
      }),
    } as unknown as AsyncIterable<ContentDataInit>;
    const input = new BatchInput(broken);
    const chunk = await readChunk(input, 10, 1_000_000);
    expect(chunk.items).toHaveLength(1);
    expect(chunk.failure?.error).toBeInstanceOf(InvalidRequestError);
    expect(chunk.failure?.error).toMatchObject({
      field: "items",
      message: expect.stringMatching(/broken iterator: its next\(\) returned null, not an iterator result/),
    });
    expect(calls).toBe(2);
    expect(() => new BatchInput({ [Symbol.asyncIterator]: () => ({}) } as never)).toThrow(
      /its \[Symbol\.asyncIterator\]\(\) returned an object, not an iterator with a next\(\) method/,
    );
  });

  describe("waiting for a quiet AsyncIterable", () => {
    afterEach(() => vi.useRealTimers());

    it("returns a part-filled chunk after maxWaitMs, and the next read takes the item it waited for", async () => {
      vi.useFakeTimers();
      let release: () => void = () => {};
      const quiet = new Promise<void>((resolve) => (release = resolve));
      let finished = false;
      async function* queue(): AsyncGenerator<ContentDataInit> {
        try {
          yield textContent("m0");
          yield textContent("m1");
          await quiet;
          yield textContent("m2");
        } finally {
          finished = true;
        }
      }
      const input = new BatchInput(queue());
      let settled = false;
      const reading = readChunk(input, 10, 1_000_000, { maxWaitMs: 20 }).finally(() => (settled = true));
      await vi.advanceTimersByTimeAsync(19);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(settled).toBe(true);
      const first = await reading;
      expect(first.items.map((i) => i.index)).toEqual([0, 1]);
      expect(first.done).toBe(false);
      expect(input.waiting).toBe(true);
      // No limit: the chunk waits for more, however long the source is quiet.
      let secondSettled = false;
      const second = readChunk(input, 10, 1_000_000, { maxWaitMs: Number.POSITIVE_INFINITY }).finally(
        () => (secondSettled = true),
      );
      await vi.advanceTimersByTimeAsync(60_000);
      expect(secondSettled).toBe(false);
      release();
      expect((await second).items.map((i) => i.index)).toEqual([2]);
      expect(input.exhausted).toBe(true);
      expect(finished).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("closes without waiting for a quiet source's answer", async () => {
      vi.useFakeTimers();
      let finished = false;
      let release: () => void = () => {};
      const quiet = new Promise<void>((resolve) => (release = resolve));
      async function* queue(): AsyncGenerator<ContentDataInit> {
        try {
          yield textContent("m0");
          await quiet;
          yield textContent("m1");
        } finally {
          finished = true;
        }
      }
      const input = new BatchInput(queue());
      let settled = false;
      const reading = readChunk(input, 10, 1_000_000, { maxWaitMs: 20 }).finally(() => (settled = true));
      await vi.advanceTimersByTimeAsync(20);
      expect(settled).toBe(true);
      expect((await reading).items).toHaveLength(1);
      expect(input.waiting).toBe(true);
      let closed = false;
      void input.close().then(() => (closed = true));
      await vi.advanceTimersByTimeAsync(1);
      expect(closed).toBe(true);
      expect(finished).toBe(false);
      release();
      await expect.poll(() => finished).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
