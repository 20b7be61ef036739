// Paces the streams of a bulk evaluation: at most the requests and items per second the caller asked for, and,
// whatever was asked, slower after the gateway says RESOURCE_EXHAUSTED. Such an answer pauses every stream for as
// long as its RetryInfo asks (else a backoff) and halves the pace; each stream that then succeeds speeds it up a
// little again, back to the caller's pace. Without a pace of its own, the first RESOURCE_EXHAUSTED sets one at half
// the rate of streams seen so far.

import { sleep } from "../retry.js";
import type { BatchRateLimit } from "./batch-options.js";

/** The slowest the pace gets: 1/64 of the caller's (or of the observed) rate. */
const MIN_FACTOR = 1 / 64;
/** How much each successful stream speeds the pace back up. */
const RECOVERY = 1.1;
/** The pause after RESOURCE_EXHAUSTED without a RetryInfo hint, in ms. */
const DEFAULT_PAUSE_MS = 1000;

/** What the pacer needs from the outside world, so that tests can run it on a fake clock. @private */
export interface PacerClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realClock: PacerClock = { now: () => Date.now(), sleep };

/** Decides when each stream may start. @private */
export class BatchPacer {
  #requestsPerSecond: number | undefined;
  readonly #itemsPerSecond: number | undefined;
  #factor = 1;
  #nextRequestAt = 0;
  #nextItemsAt = 0;
  #pausedUntil = 0;
  #started = 0;
  #firstStartAt: number | undefined;

  constructor(
    limit: BatchRateLimit | undefined,
    private readonly clock: PacerClock = realClock,
  ) {
    this.#requestsPerSecond = limit?.requestsPerSecond;
    this.#itemsPerSecond = limit?.itemsPerSecond;
  }

  /** The current share of the full pace, 1/64 to 1. */
  get factor(): number {
    return this.#factor;
  }

  /** Until when every stream waits (epoch ms), after RESOURCE_EXHAUSTED. */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** Waits until a stream of `items` items may start, and books its slot. Rejects when the signal aborts. */
  async acquire(items: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const at = Math.max(now, this.#pausedUntil, this.#nextRequestAt, this.#nextItemsAt);
      if (at <= now) break;
      await this.clock.sleep(at - now, signal);
    }
    const now = this.clock.now();
    this.#firstStartAt ??= now;
    this.#started++;
    if (this.#requestsPerSecond !== undefined) {
      this.#nextRequestAt = Math.max(this.#nextRequestAt, now) + 1000 / (this.#requestsPerSecond * this.#factor);
    }
    if (this.#itemsPerSecond !== undefined) {
      this.#nextItemsAt = Math.max(this.#nextItemsAt, now) + (items * 1000) / (this.#itemsPerSecond * this.#factor);
    }
  }

  /** The gateway said RESOURCE_EXHAUSTED: pause every stream for `retryDelayMs` (its hint) and halve the pace. */
  throttled(retryDelayMs: number | undefined): void {
    const now = this.clock.now();
    this.#pausedUntil = Math.max(this.#pausedUntil, now + (retryDelayMs ?? DEFAULT_PAUSE_MS));
    if (this.#requestsPerSecond === undefined && this.#itemsPerSecond === undefined) {
      // No pace of our own: start from the rate the gateway has been taking.
      const seconds = Math.max(1, now - (this.#firstStartAt ?? now)) / 1000;
      this.#requestsPerSecond = Math.max(1, this.#started / seconds);
    }
    this.#factor = Math.max(MIN_FACTOR, this.#factor / 2);
  }

  /** A stream succeeded: speed the pace up a little, back towards the full pace. */
  succeeded(): void {
    this.#factor = Math.min(1, this.#factor * RECOVERY);
  }
}
