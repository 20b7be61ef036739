import { Code } from "@connectrpc/connect";

/** The RPCs of the emulated gateway, by the name used in fault rules and call counters. */
export type EmulatorMethod = "Evaluate" | "CreateJob" | "GetJob" | "ListJobs" | "EvaluateLabels";

/** Every method name, in a fixed order. */
export const EMULATOR_METHODS: readonly EmulatorMethod[] = [
  "Evaluate",
  "CreateJob",
  "GetJob",
  "ListJobs",
  "EvaluateLabels",
];

/**
 * A fault to arm when the emulator starts; the same shapes as the {@link FaultInjector} methods take.
 */
export type FaultRule =
  | { kind: "fail"; method: EmulatorMethod | "*"; count: number; code: Code; message?: string; retryDelayMs?: number }
  | { kind: "delay"; method: EmulatorMethod | "*"; ms: number; count?: number }
  | { kind: "failStreamAfter"; messages: number; code: Code; count?: number }
  | { kind: "resetStreamAfter"; messages: number; count?: number }
  | { kind: "goAway" }
  | { kind: "random"; method: EmulatorMethod | "*"; probability: number; fault: RandomFault; seed?: number };

/**
 * A fault that strikes calls at random (see {@link FaultInjector.random}): fail at once with `code`, or (Evaluate
 * only) cut the stream after `after` responses (a number, or `[min, max]` drawn per stream) by ending it with
 * `code`, or by resetting it when `code` is not given.
 */
export type RandomFault =
  | { kind: "fail"; code: Code; retryDelayMs?: number }
  | { kind: "cutStream"; after: number | readonly [number, number]; code?: Code };

/** What the emulator does with one call, decided when the call arrives. */
export interface CallFaults {
  /** Fail the call at once with this error. */
  fail?: { code: Code; message: string; retryDelayMs?: number };
  /** Wait this long before answering. */
  delayMs?: number;
  /** Evaluate only: after this many responses, end with `code` or reset the HTTP/2 stream. */
  cutStream?: { after: number; how: { code: Code } | "reset" };
}

/**
 * Faults that tests arm on a running emulator to see how a client copes. Each armed fault is used up by the calls it
 * hits, in the order armed; `clear()` disarms everything.
 */
export interface FaultInjector {
  /**
   * The next `count` calls of `method` ("*" = any method) fail at once with `code`. With `retryDelayMs`, the error
   * carries a google.rpc.RetryInfo hint.
   */
  failNext(
    method: EmulatorMethod | "*",
    count: number,
    code: Code,
    options?: { message?: string; retryDelayMs?: number },
  ): void;
  /** The next `count` calls of `method` (default: every call until `clear()`) wait `ms` before they are answered. */
  delay(method: EmulatorMethod | "*", ms: number, count?: number): void;
  /** The next `count` (default 1) Evaluate streams send `messages` responses, then end with `code`. */
  failStreamAfter(messages: number, code: Code, count?: number): void;
  /** The next `count` (default 1) Evaluate streams send `messages` responses, then are reset (HTTP/2 RST_STREAM). */
  resetStreamAfter(messages: number, count?: number): void;
  /**
   * From now until `clear()`, each call of `method` suffers `fault` with the given probability (0 to 1), drawn from
   * a pseudo-random sequence seeded with `seed` (default 1), so that a run with the same calls repeats. Faults armed
   * by count come first: a call they hit is not also struck at random.
   */
  random(method: EmulatorMethod | "*", probability: number, fault: RandomFault, seed?: number): void;
  /** Sends GOAWAY on every open HTTP/2 session and closes them. */
  goAway(): void;
  /** Disarms every fault. */
  clear(): void;
}

/** Mulberry32: a small, fast, seedable generator of numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RandomRule {
  method: EmulatorMethod | "*";
  probability: number;
  fault: RandomFault;
  random: () => number;
}

interface Armed<T> {
  method: EmulatorMethod | "*";
  remaining: number;
  value: T;
}

/**
 * The emulator's fault state: what tests armed, and what each arriving call should suffer.
 * @internal
 */
export class FaultState implements FaultInjector {
  private fails: Armed<{ code: Code; message: string; retryDelayMs?: number }>[] = [];
  private delays: Armed<number>[] = [];
  private cuts: Armed<{ after: number; how: { code: Code } | "reset" }>[] = [];
  private randoms: RandomRule[] = [];

  constructor(private readonly onGoAway: () => void) {}

  failNext(
    method: EmulatorMethod | "*",
    count: number,
    code: Code,
    options: { message?: string; retryDelayMs?: number } = {},
  ): void {
    checkCount(count, "failNext");
    if (!Number.isInteger(code) || code < 1 || code > 16) {
      throw new RangeError(
        `failNext: ${String(code)} is not a gRPC error code (1-16); use Code from @connectrpc/connect`,
      );
    }
    const message = options.message ?? `injected fault: ${Code[code]}`;
    this.fails.push({
      method,
      remaining: count,
      value: { code, message, ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}) },
    });
  }

  delay(method: EmulatorMethod | "*", ms: number, count = Number.POSITIVE_INFINITY): void {
    if (!(ms >= 0)) throw new RangeError(`delay: ms must be 0 or more, got ${ms}`);
    checkCount(count, "delay");
    this.delays.push({ method, remaining: count, value: ms });
  }

  failStreamAfter(messages: number, code: Code, count = 1): void {
    checkMessages(messages, "failStreamAfter");
    checkCount(count, "failStreamAfter");
    this.cuts.push({ method: "Evaluate", remaining: count, value: { after: messages, how: { code } } });
  }

  resetStreamAfter(messages: number, count = 1): void {
    checkMessages(messages, "resetStreamAfter");
    checkCount(count, "resetStreamAfter");
    this.cuts.push({ method: "Evaluate", remaining: count, value: { after: messages, how: "reset" } });
  }

  random(method: EmulatorMethod | "*", probability: number, fault: RandomFault, seed = 1): void {
    if (!(probability >= 0 && probability <= 1)) {
      throw new RangeError(`random: probability must be from 0 to 1, got ${probability}`);
    }
    if (fault.kind === "fail" && (!Number.isInteger(fault.code) || fault.code < 1 || fault.code > 16)) {
      throw new RangeError(`random: ${String(fault.code)} is not a gRPC error code (1-16)`);
    }
    if (fault.kind === "cutStream") {
      const [min, max] = typeof fault.after === "number" ? [fault.after, fault.after] : fault.after;
      checkMessages(min, "random");
      checkMessages(max, "random");
      if (max < min) throw new RangeError(`random: after is [${min}, ${max}]; the first must not exceed the second`);
    }
    this.randoms.push({ method, probability, fault, random: seededRandom(seed) });
  }

  goAway(): void {
    this.onGoAway();
  }

  clear(): void {
    this.fails = [];
    this.delays = [];
    this.cuts = [];
    this.randoms = [];
  }

  /** Arms a rule given at start. */
  arm(rule: FaultRule): void {
    switch (rule.kind) {
      case "fail":
        this.failNext(rule.method, rule.count, rule.code, {
          ...(rule.message !== undefined ? { message: rule.message } : {}),
          ...(rule.retryDelayMs !== undefined ? { retryDelayMs: rule.retryDelayMs } : {}),
        });
        break;
      case "delay":
        this.delay(rule.method, rule.ms, rule.count);
        break;
      case "failStreamAfter":
        this.failStreamAfter(rule.messages, rule.code, rule.count);
        break;
      case "resetStreamAfter":
        this.resetStreamAfter(rule.messages, rule.count);
        break;
      case "goAway":
        this.goAway();
        break;
      case "random":
        this.random(rule.method, rule.probability, rule.fault, rule.seed);
        break;
    }
  }

  /** Takes, for one arriving call, whatever faults are armed for its method. */
  take(method: EmulatorMethod): CallFaults {
    const faults: CallFaults = {};
    const fail = takeOne(this.fails, method);
    if (fail) faults.fail = fail;
    const delayMs = takeOne(this.delays, method);
    if (delayMs !== undefined) faults.delayMs = delayMs;
    const cut = takeOne(this.cuts, method);
    if (cut) faults.cutStream = cut;
    for (const rule of this.randoms) {
      if (rule.method !== "*" && rule.method !== method) continue;
      // Draw for every matching call, struck or not, so that the sequence depends only on the calls.
      const strikes = rule.random() < rule.probability;
      const f = rule.fault;
      if (!strikes) continue;
      if (f.kind === "fail" && faults.fail === undefined) {
        faults.fail = {
          code: f.code,
          message: `injected fault: ${Code[f.code]}`,
          ...(f.retryDelayMs !== undefined ? { retryDelayMs: f.retryDelayMs } : {}),
        };
      } else if (f.kind === "cutStream" && method === "Evaluate" && faults.cutStream === undefined) {
        const [min, max] = typeof f.after === "number" ? [f.after, f.after] : f.after;
        const after = min + Math.floor(rule.random() * (max - min + 1));
        faults.cutStream = { after, how: f.code === undefined ? "reset" : { code: f.code } };
      }
    }
    return faults;
  }
}

function takeOne<T>(list: Armed<T>[], method: EmulatorMethod): T | undefined {
  const i = list.findIndex((a) => a.method === "*" || a.method === method);
  if (i < 0) return undefined;
  const armed = list[i]!;
  armed.remaining -= 1;
  if (armed.remaining <= 0) list.splice(i, 1);
  return armed.value;
}

function checkCount(count: number, what: string): void {
  if (!(count >= 1)) throw new RangeError(`${what}: count must be 1 or more, got ${count}`);
}

function checkMessages(messages: number, what: string): void {
  if (!Number.isInteger(messages) || messages < 0) {
    throw new RangeError(`${what}: messages must be a whole number, 0 or more, got ${messages}`);
  }
}
