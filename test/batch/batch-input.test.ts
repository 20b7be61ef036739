// Reading a batch's items: lazily, one chunk at a time, bounded by items and by bytes; bad items set aside.

import { describe, expect, it } from "vitest";
import { BatchInput } from "../../src/batch/batch-input.js";
import { InvalidRequestError, textContent } from "../../src/index.js";

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
    const first = await input.next(3, 1_000_000);
    expect(first.items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(first.items.map((i) => i.id)).toEqual(["i0", "i1", "i2"]);
    expect(read).toBe(3);
    // About 150 bytes each: two fit under 350; the third waits for the next chunk.
    const second = await input.next(100, 350);
    expect(second.items.map((i) => i.index)).toEqual([3, 4]);
    const third = await input.next(100, 1_000_000);
    expect(third.items.map((i) => i.index)).toEqual([5, 6]);
    expect(third.done).toBe(true);
    expect(input.exhausted).toBe(true);
  });

  it("gives an item larger than the byte bound a chunk of its own", async () => {
    const input = new BatchInput([textContent("y".repeat(1000)), textContent("a"), textContent("b")]);
    expect((await input.next(100, 300)).items.map((i) => i.index)).toEqual([0]);
    expect((await input.next(100, 300)).items.map((i) => i.index)).toEqual([1, 2]);
  });

  it("sets bad items aside with InvalidRequestError and reads async iterables", async () => {
    async function* items() {
      yield textContent("ok");
      yield { content: { case: "text" as const, value: "" } };
      yield "not an item" as never;
      yield textContent("fine");
    }
    const input = new BatchInput(items());
    const chunk = await input.next(10, 1_000_000);
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
    await input.next(2, 1_000_000);
    await input.close();
    expect(closed).toBe(true);
  });
});
