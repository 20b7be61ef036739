// Retry decisions and backoff, without a network.
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { backoffDelayMs, DEFAULT_RETRY_OPTIONS, RetryInfoSchema, retryDelayHintMs } from "../../src/index.js";
import { attemptTimeoutMs, kCallSettings } from "../../src/interceptors.js";
import { decideRetry, type FailedAttempt, provablyNeverSent, sleep } from "../../src/retry.js";

const retry = { maxRetries: 3, initialDelayMs: 100, maxDelayMs: 1000 };

function attempt(overrides: Partial<FailedAttempt>): FailedAttempt {
  return {
    error: new ConnectError("down", Code.Unavailable),
    attempts: 1,
    retry,
    idempotent: true,
    attemptTimedOut: false,
    remainingMs: Infinity,
    random: () => 0.5,
    ...overrides,
  };
}

function refusedConnection(): ConnectError {
  const sys = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
    code: "ECONNREFUSED",
    syscall: "connect",
  });
  const error = new ConnectError(sys.message, Code.Unavailable);
  error.cause = sys;
  return error;
}

describe("backoffDelayMs", () => {
  it("is full jitter under an exponential cap", () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(1, options, () => 0.999999)).toBe(99);
    expect(backoffDelayMs(2, options, () => 0.999999)).toBe(199);
    expect(backoffDelayMs(3, options, () => 0.999999)).toBe(399);
    expect(backoffDelayMs(5, options, () => 0.999999)).toBe(999);
    expect(backoffDelayMs(30, options, () => 0.999999)).toBe(999);
    expect(backoffDelayMs(3, options, () => 0)).toBe(0);
    expect(backoffDelayMs(3, options, () => 0.5)).toBe(200);
  });

  it("spreads delays over the whole range with the real random source", () => {
    const delays = Array.from({ length: 200 }, () => backoffDelayMs(4, { initialDelayMs: 100, maxDelayMs: 10_000 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(800);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });

  it("has the documented defaults", () => {
    expect(DEFAULT_RETRY_OPTIONS).toEqual({ maxRetries: 2, initialDelayMs: 250, maxDelayMs: 10_000 });
  });
});

describe("retryDelayHintMs", () => {
  it("reads google.rpc.RetryInfo", () => {
    const error = new ConnectError("slow", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(2345) } },
    ]);
    expect(retryDelayHintMs(error)).toBe(2345);
    expect(retryDelayHintMs(new ConnectError("slow", Code.ResourceExhausted))).toBeUndefined();
  });
});

describe("provablyNeverSent", () => {
  it("is true only for failures to open the connection", () => {
    expect(provablyNeverSent(refusedConnection())).toBe(true);
    const dns = Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), {
      code: "ENOTFOUND",
      syscall: "getaddrinfo",
    });
    expect(provablyNeverSent(new ConnectError("x", Code.Unavailable, undefined, undefined, dns))).toBe(true);
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" });
    expect(provablyNeverSent(new ConnectError("x", Code.Aborted, undefined, undefined, reset))).toBe(false);
    expect(provablyNeverSent(new ConnectError("injected fault: UNAVAILABLE", Code.Unavailable))).toBe(false);
    expect(provablyNeverSent("nonsense")).toBe(false);
  });
});

describe("decideRetry", () => {
  it("retries UNAVAILABLE and RESOURCE_EXHAUSTED with jittered backoff", () => {
    expect(decideRetry(attempt({}))).toEqual({ retry: true, delayMs: 50, hinted: false });
    expect(decideRetry(attempt({ error: new ConnectError("x", Code.ResourceExhausted), attempts: 2 }))).toEqual({
      retry: true,
      delayMs: 100,
      hinted: false,
    });
  });

  it("does not retry other codes", () => {
    for (const code of [
      Code.Internal,
      Code.InvalidArgument,
      Code.Canceled,
      Code.DeadlineExceeded,
      Code.Unauthenticated,
    ]) {
      expect(decideRetry(attempt({ error: new ConnectError("x", code) })).retry).toBe(false);
    }
  });

  it("retries an attempt that ran out of its own timeout", () => {
    expect(
      decideRetry(attempt({ error: new ConnectError("x", Code.DeadlineExceeded), attemptTimedOut: true })).retry,
    ).toBe(true);
  });

  it("stops after maxRetries", () => {
    expect(decideRetry(attempt({ attempts: 3 })).retry).toBe(true);
    expect(decideRetry(attempt({ attempts: 4 }))).toEqual({ retry: false, why: "out of retries" });
    expect(decideRetry(attempt({ retry: { ...retry, maxRetries: 0 } })).retry).toBe(false);
  });

  it("honours the server's RetryInfo hint, even above maxDelayMs", () => {
    const error = new ConnectError("slow", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(4000) } },
    ]);
    expect(decideRetry(attempt({ error }))).toEqual({ retry: true, delayMs: 4000, hinted: true });
  });

  it("gives up when the server asks to wait longer than a timer can (about 24.8 days), even without a deadline", () => {
    const error = new ConnectError("slow", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(30 * 24 * 3600 * 1000) } },
    ]);
    const verdict = decideRetry(attempt({ error, remainingMs: Infinity }));
    expect(verdict.retry).toBe(false);
    expect(verdict).toMatchObject({ why: expect.stringMatching(/longer than a call can wait/) });
  });

  it("gives up when the wait would pass the deadline", () => {
    expect(decideRetry(attempt({ remainingMs: 40 }))).toEqual({
      retry: false,
      why: "the wait would pass the deadline",
    });
  });

  it("retries a non-idempotent call only when the request never left", () => {
    expect(decideRetry(attempt({ idempotent: false })).retry).toBe(false);
    expect(
      decideRetry(attempt({ idempotent: false, error: new ConnectError("x", Code.ResourceExhausted) })).retry,
    ).toBe(false);
    expect(decideRetry(attempt({ idempotent: false, error: refusedConnection() })).retry).toBe(true);
  });
});

describe("sleep", () => {
  it("resolves after the delay", async () => {
    await expect(sleep(5, new AbortController().signal)).resolves.toBeUndefined();
  });

  it("rejects at once with the signal's reason when aborted, also before it starts", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    const pending = sleep(60_000, controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(sleep(60_000, controller.signal)).rejects.toBe(reason);
  });
});

describe("attemptTimeoutMs", () => {
  const base = kCallSettings.defaultValue;
  it("caps the attempt timeout by the time left, and never returns 0", () => {
    expect(attemptTimeoutMs({ ...base, deadlineAt: 1000, attemptTimeoutMs: 300 }, 500)).toBe(300);
    expect(attemptTimeoutMs({ ...base, deadlineAt: 1000, attemptTimeoutMs: 800 }, 500)).toBe(500);
    expect(attemptTimeoutMs({ ...base, deadlineAt: 1000, attemptTimeoutMs: undefined }, 999.5)).toBe(1);
    expect(attemptTimeoutMs({ ...base, deadlineAt: Infinity, attemptTimeoutMs: undefined }, 0)).toBeUndefined();
    expect(() => attemptTimeoutMs({ ...base, deadlineAt: 1000, attemptTimeoutMs: undefined }, 1000)).toThrow(
      /timed out/,
    );
  });
});
