// The running counts of a bulk evaluation: what `onProgress` sees while it runs and the summary at its end.

import type { RefusalReason } from "../refusals.js";
import type { BatchOutcome } from "./batch-outcome.js";

/** Counts while a batch runs, passed to `onProgress`. */
export interface BatchProgress {
  /** Items with an outcome so far (results + refused + failed). */
  readonly done: number;
  /** Items evaluated. */
  readonly results: number;
  /** Items the gateway refused. */
  readonly refused: number;
  /** Items that could not be evaluated. */
  readonly failed: number;
  /** Items in streams that are running now. */
  readonly inFlight: number;
  /** Outcomes per second since the batch started. */
  readonly itemsPerSecond: number;
  /** Milliseconds since the batch started. */
  readonly elapsedMs: number;
}

/** The summary of a batch: final once the iteration has ended (also when it threw). */
export interface BatchSummary {
  /** Items with an outcome (results + refused + failed). */
  readonly total: number;
  /** Items evaluated. */
  readonly results: number;
  /** Items the gateway refused. */
  readonly refused: number;
  /** Items that could not be evaluated. */
  readonly failed: number;
  /** Refused items per reason. */
  readonly refusalsByReason: Readonly<Partial<Record<RefusalReason, number>>>;
  /** Tokens of the evaluated items, as the gateway reported them. */
  readonly tokens: { readonly input: number; readonly billed: number };
  /** Evaluate streams started. */
  readonly streams: number;
  /** Sends of an item after its first one (each may be billed again; see the `resend` option). */
  readonly resends: number;
  /**
   * Answers from the gateway that matched no item (no correlation key in their metadata, no content hash of an
   * unanswered item of their stream), and were dropped; the items left unanswered say so in their error.
   */
  readonly unmatchedAnswers: number;
  /** Milliseconds from the start of the iteration to its end (or to now, while it runs). */
  readonly elapsedMs: number;
  /** Items per second over `elapsedMs`. */
  readonly itemsPerSecond: number;
}

/** Counts outcomes and streams as they happen. @private */
export class BatchTally {
  results = 0;
  refused = 0;
  failed = 0;
  inFlight = 0;
  streams = 0;
  resends = 0;
  unmatchedAnswers = 0;
  inputTokens = 0;
  billedTokens = 0;
  readonly #reasons: Partial<Record<RefusalReason, number>> = {};
  #startedAt: number | undefined;
  #endedAt: number | undefined;

  constructor(private readonly now: () => number) {}

  start(): void {
    this.#startedAt ??= this.now();
  }

  end(): void {
    this.#endedAt ??= this.now();
  }

  add(outcome: BatchOutcome): void {
    if (outcome.kind === "result") {
      this.results++;
      const usage = outcome.result.policyEvaluationReport?.tokenUsage;
      if (usage !== undefined) {
        this.inputTokens += usage.inputTokens;
        this.billedTokens += usage.billedTokens;
      }
    } else if (outcome.kind === "refused") {
      this.refused++;
      const reason = outcome.refusal.reason;
      this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
    } else {
      this.failed++;
    }
  }

  get done(): number {
    return this.results + this.refused + this.failed;
  }

  #elapsedMs(): number {
    if (this.#startedAt === undefined) return 0;
    return (this.#endedAt ?? this.now()) - this.#startedAt;
  }

  #rate(elapsedMs: number): number {
    return elapsedMs > 0 ? (this.done * 1000) / elapsedMs : 0;
  }

  progress(): BatchProgress {
    const elapsedMs = this.#elapsedMs();
    return {
      done: this.done,
      results: this.results,
      refused: this.refused,
      failed: this.failed,
      inFlight: this.inFlight,
      itemsPerSecond: this.#rate(elapsedMs),
      elapsedMs,
    };
  }

  summary(): BatchSummary {
    const elapsedMs = this.#elapsedMs();
    return {
      total: this.done,
      results: this.results,
      refused: this.refused,
      failed: this.failed,
      refusalsByReason: { ...this.#reasons },
      tokens: { input: this.inputTokens, billed: this.billedTokens },
      streams: this.streams,
      resends: this.resends,
      unmatchedAnswers: this.unmatchedAnswers,
      elapsedMs,
      itemsPerSecond: this.#rate(elapsedMs),
    };
  }
}
