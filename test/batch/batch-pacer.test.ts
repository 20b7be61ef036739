// The pacer on a fake clock: the caller's pace, the pause and slow-down after RESOURCE_EXHAUSTED, the recovery.

import { describe, expect, it } from "vitest";
import { BatchPacer, type PacerClock } from "../../src/batch/batch-pacer.js";

/** A clock that only moves when someone sleeps on it; records every sleep. */
function fakeClock(): PacerClock & { sleeps: number[]; t: number } {
  const clock = {
    t: 1_000_000,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

const signal = new AbortController().signal;

describe("BatchPacer", () => {
  it("lets streams start at once without a pace", async () => {
    const clock = fakeClock();
    const pacer = new BatchPacer(undefined, clock);
    for (let i = 0; i < 10; i++) await pacer.acquire(100, signal);
    expect(clock.sleeps).toEqual([]);
  });

  it("keeps requests and items per second", async () => {
    const clock = fakeClock();
    const pacer = new BatchPacer({ requestsPerSecond: 10 }, clock);
    const start = clock.t;
    for (let i = 0; i < 5; i++) await pacer.acquire(1, signal);
    expect(clock.t - start).toBe(400);

    const items = fakeClock();
    const byItems = new BatchPacer({ itemsPerSecond: 100 }, items);
    const from = items.t;
    await byItems.acquire(50, signal); // at once
    await byItems.acquire(50, signal); // 500 ms later
    await byItems.acquire(10, signal); // another 500 ms later
    expect(items.t - from).toBe(1000);
  });

  it("pauses every stream as long as RetryInfo asks after RESOURCE_EXHAUSTED, halves the pace, then recovers", async () => {
    const clock = fakeClock();
    const pacer = new BatchPacer({ requestsPerSecond: 100 }, clock);
    await pacer.acquire(1, signal);
    pacer.throttled(2_000);
    expect(pacer.factor).toBe(0.5);
    const before = clock.t;
    await pacer.acquire(1, signal);
    expect(clock.t - before).toBeGreaterThanOrEqual(2_000);
    // At half the pace: 20 ms between requests instead of 10.
    const t = clock.t;
    await pacer.acquire(1, signal);
    expect(clock.t - t).toBe(20);
    for (let i = 0; i < 20; i++) pacer.succeeded();
    expect(pacer.factor).toBe(1);
  });

  it("without a pace of its own, adopts half the rate it saw once the gateway says RESOURCE_EXHAUSTED", async () => {
    const clock = fakeClock();
    const pacer = new BatchPacer(undefined, clock);
    for (let i = 0; i < 20; i++) {
      await pacer.acquire(1, signal);
      clock.t += 100; // 10 streams a second
    }
    pacer.throttled(undefined); // no hint: a 1 s pause
    const before = clock.t;
    await pacer.acquire(1, signal);
    expect(clock.t - before).toBe(1_000);
    const t = clock.t;
    await pacer.acquire(1, signal);
    // About 10 a second, halved: about 200 ms apart.
    expect(clock.t - t).toBeGreaterThan(150);
    expect(clock.t - t).toBeLessThan(260);
  });

  it("stops waiting when the signal aborts", async () => {
    const controller = new AbortController();
    const pacer = new BatchPacer(
      { requestsPerSecond: 1 },
      {
        now: () => 0,
        sleep: (_ms, s) =>
          new Promise((_resolve, reject) => s.addEventListener("abort", () => reject(s.reason), { once: true })),
      },
    );
    await pacer.acquire(1, controller.signal);
    const waiting = pacer.acquire(1, controller.signal);
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
  });
});
