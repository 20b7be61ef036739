// The client's shared deadline timer, on its own: every deadline expires once, in time order, and a forgotten one
// never does. Fake timers move the clock, so no margin of real time decides the outcome.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Deadlines, grpcTimeout, MAX_TIMER_MS } from "../../src/deadlines.js";

describe("Deadlines", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires each deadline once, earliest first, also when added out of order", () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const now = Date.now();
    deadlines.add(now + 60, () => expired.push("c"));
    deadlines.add(now + 20, () => expired.push("a"));
    deadlines.add(now + 40, () => expired.push("b"));
    vi.advanceTimersByTime(19);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(["a"]);
    vi.advanceTimersByTime(20);
    expect(expired).toEqual(["a", "b"]);
    vi.advanceTimersByTime(20);
    expect(expired).toEqual(["a", "b", "c"]);
    vi.advanceTimersByTime(600_000);
    expect(expired).toEqual(["a", "b", "c"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("expires together the deadlines that fall due at once, and re-arms for a later one added meanwhile", () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const now = Date.now();
    deadlines.add(now + 10, () => expired.push("a"));
    deadlines.add(now + 10, () => expired.push("b"));
    vi.advanceTimersByTime(10);
    expect(expired).toEqual(["a", "b"]);
    deadlines.add(Date.now() + 1000, () => expired.push("later"));
    deadlines.add(Date.now() + 5, () => expired.push("sooner"));
    vi.advanceTimersByTime(5);
    expect(expired).toEqual(["a", "b", "sooner"]);
    vi.advanceTimersByTime(995);
    expect(expired).toEqual(["a", "b", "sooner", "later"]);
  });

  it("expires a deadline that is already past on the next tick, not at once", () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    deadlines.add(Date.now() - 50, () => expired.push("past"));
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(["past"]);
  });

  it("never expires a deadline that was forgotten, nor any after clear()", () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const now = Date.now();
    const forget = deadlines.add(now + 10, () => expired.push("forgotten"));
    deadlines.add(now + 30, () => expired.push("kept"));
    forget();
    vi.advanceTimersByTime(30);
    expect(expired).toEqual(["kept"]);
    deadlines.add(Date.now() + 10, () => expired.push("cleared"));
    deadlines.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(600_000);
    expect(expired).toEqual(["kept"]);
  });

  it("waits out a deadline beyond the longest timer delay without waking up every millisecond", () => {
    // The fake timers, like Node.js, fire a timer of more than 2^31 − 1 ms after 1 ms.
    const day = 86_400_000;
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    const deadlines = new Deadlines();
    const expired: string[] = [];
    deadlines.add(Date.now() + 30 * day, () => expired.push("month"));
    vi.advanceTimersByTime(1000);
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    expect(setTimeoutSpy.mock.calls[0]![1]).toBe(MAX_TIMER_MS);
    // At the longest delay it re-arms once for the rest, and expires on time.
    vi.advanceTimersByTime(30 * day - 1001);
    expect(expired).toEqual([]);
    expect(setTimeoutSpy).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(["month"]);
    expect(vi.getTimerCount()).toBe(0);
    setTimeoutSpy.mockRestore();
  });

  it("does not keep the process alive on its own", () => {
    vi.useRealTimers();
    const deadlines = new Deadlines();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    deadlines.add(Date.now() + 600_000, () => {});
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(before);
    deadlines.clear();
  });
});

describe("grpcTimeout", () => {
  it("writes at most 8 digits, in the smallest unit that fits, rounded up", () => {
    expect(grpcTimeout(1)).toBe("1m");
    expect(grpcTimeout(1.2)).toBe("2m");
    expect(grpcTimeout(99_999_999)).toBe("99999999m");
    expect(grpcTimeout(1e8)).toBe("100000S");
    expect(grpcTimeout(99_999_999_999)).toBe("1666667M");
    expect(grpcTimeout(1e12)).toBe("16666667M");
    expect(grpcTimeout(1e13)).toBe("2777778H");
    expect(grpcTimeout(Number.MAX_SAFE_INTEGER)).toBe("99999999H");
    for (const ms of [1e8, 1e11, 1e12, 1e13, 1e15, Number.MAX_SAFE_INTEGER]) {
      expect(grpcTimeout(ms)).toMatch(/^\d{1,8}[mSMH]$/);
    }
  });
});
