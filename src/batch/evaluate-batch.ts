// The bulk evaluation engine behind `client.evaluateBatch`. It reads the caller's items lazily, in chunks, and
// runs each chunk as one Evaluate stream, at most `concurrency` at once and at the pace the pacer allows. It yields
// exactly one outcome per input item, whatever the gateway does:
//
// - answers find their item by the correlation key the engine puts in each item's metadata (by content hash when a
//   gateway does not echo metadata), and the key is removed again from what the caller gets;
// - a refusal ends a whole stream: it is pinned to its items by content hash (halving the chunk when hashes do not
//   settle it) and the rest of the chunk is sent again; a refused send does not count as an attempt;
// - after any other failure only the items still unanswered are sent again, after a backoff, each send counting one
//   attempt, up to `maxAttempts`; then the item is `failed` with the error, and the batch goes on;
// - with `resend: false`, nothing of a stream that has had any answer, matched to an item or not, is sent again;
// - an answer that matches no item is dropped, but never silently: `summary.unmatchedAnswers` counts it, and the
//   items its stream leaves unanswered fail with an error that says so;
// - only the caller's abort, the client's close(), or an error that dooms every item (authentication, permission,
//   unknown policy), ends the iteration at once, by throwing;
// - when the caller's items throw, reading stops there: every item already read is still sent and gets its
//   outcome, and only then does the iteration throw what the items threw.
//
// The engine calls the client's public `evaluate()` with retries off (it retries itself, so that it can count
// attempts and see RESOURCE_EXHAUSTED), so it works over whichever transport the client uses.

import { Code } from "@connectrpc/connect";
import type { EvaluateResponse } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import type { CallOptions } from "../client-options.js";
import {
  AbortedError,
  AuthenticationError,
  ClavataError,
  ConnectionError,
  EvaluationRefusedError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
  TimeoutError,
  toClavataError,
} from "../errors.js";
import type { RefusedContent } from "../refusals.js";
import type { CheckedEvaluateRequest, EvaluateRequestInit } from "../requests.js";
import { backoffDelayMs, DEFAULT_RETRY_OPTIONS, sleep } from "../retry.js";
import { BatchInput, type BatchItems, type InvalidItem } from "./batch-input.js";
import { BATCH_KEY_METADATA, type BatchItem, sentContentOf } from "./batch-item.js";
import type { EvaluateBatchOptions, ResolvedBatchOptions } from "./batch-options.js";
import { resolveBatchOptions } from "./batch-options.js";
import type { BatchOutcome } from "./batch-outcome.js";
import { BatchPacer, type PacerClock } from "./batch-pacer.js";
import { type BatchSummary, BatchTally } from "./batch-summary.js";
import { attributeRefusals, HashMatcher } from "./refusal-attribution.js";

/** What the engine needs of a client: `evaluate()`, and whether the client is closed. @private */
export interface BatchEvaluator {
  evaluate(request: EvaluateRequestInit, options?: CallOptions): AsyncIterable<EvaluateResponse>;
  /**
   * Evaluate for items the engine checked as it read them (ClavataClient has it): skips checking each item again.
   * Without it, the engine calls `evaluate()`.
   */
  evaluateChecked?(request: CheckedEvaluateRequest, options?: CallOptions): AsyncIterable<EvaluateResponse>;
  readonly closed?: boolean;
}

/** How a batch learns that its client was closed, for as long as it runs. @private */
export interface CloseWatch {
  /** Aborts when the client is closed (with close()'s reason), and when the watch is disposed. */
  readonly signal: AbortSignal;
  /** Stops watching: the batch is over. */
  dispose(): void;
}

/** What a batch gets besides its evaluator, items and options. @private */
export interface BatchHooks {
  /** The pacer's clock; default the real one. */
  clock?: PacerClock;
  /**
   * Starts watching for the client's close() when the iteration starts (ClavataClient gives it), so that close()
   * ends the batch also while it waits for the items or for a pause, when no stream runs. Throws when the client is
   * closed already.
   */
  watchClose?: () => CloseWatch;
}

/** Wakes everyone waiting on it. */
class Wakeup {
  #waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Errors after which no item of the batch can be evaluated. */
function doomsEveryItem(error: ClavataError, evaluator: BatchEvaluator): boolean {
  return (
    error instanceof AuthenticationError ||
    error instanceof PermissionDeniedError ||
    error instanceof NotFoundError ||
    // The client was closed under the batch.
    error instanceof AbortedError ||
    (error instanceof ConnectionError && evaluator.closed === true)
  );
}

/**
 * A running (or finished) bulk evaluation: iterate it once with `for await` to get one BatchOutcome per input
 * item; read `summary` at any time (final once the iteration has ended). Made by `client.evaluateBatch`.
 */
export class BatchEvaluation implements AsyncIterable<BatchOutcome> {
  readonly #evaluator: BatchEvaluator;
  readonly #options: ResolvedBatchOptions;
  readonly #input: BatchInput;
  readonly #pacer: BatchPacer;
  readonly #tally: BatchTally;
  readonly #matcher = new HashMatcher();
  readonly #run = new AbortController();
  /** The streams running now (and their waits), each ended when the batch stops. */
  readonly #streams = new Set<AbortController>();
  readonly #outcomeReady = new Wakeup();
  readonly #spaceFreed = new Wakeup();
  // Completion order: a queue read from `#head`. Input order: outcomes by index, yielded from `#nextIndex`.
  #queue: Array<BatchOutcome | undefined> = [];
  #head = 0;
  readonly #byIndex = new Map<number, BatchOutcome>();
  #nextIndex = 0;
  #yielded = 0;
  #workersLeft = 0;
  #failure: { error: unknown } | undefined;
  /** What the caller's items threw: thrown once every item read before it has its outcome. */
  #sourceFailure: { error: unknown } | undefined;
  #pulling: Promise<unknown> = Promise.resolve();
  /** Whether a read of the caller's items is under way. */
  #reading = false;
  /** The chunks being sent now, each until every item of it has its outcome. */
  readonly #processing = new Set<Promise<void>>();
  #started = false;
  readonly #watchClose: (() => CloseWatch) | undefined;

  /** @private Use `client.evaluateBatch`. Throws InvalidRequestError for a bad option or items that are not iterable. */
  constructor(evaluator: BatchEvaluator, items: BatchItems, options: EvaluateBatchOptions, hooks: BatchHooks = {}) {
    const { clock = { now: () => Date.now(), sleep }, watchClose } = hooks;
    this.#evaluator = evaluator;
    this.#watchClose = watchClose;
    this.#options = resolveBatchOptions(options);
    this.#input = new BatchInput(items);
    this.#pacer = new BatchPacer(this.#options.rateLimit, clock);
    this.#tally = new BatchTally(clock.now);
  }

  /** The counts so far; final once the iteration has ended (also when it threw). */
  get summary(): BatchSummary {
    return this.#tally.summary();
  }

  /**
   * Starts the batch and yields one outcome per input item. Can be iterated once. Leaving the loop early cancels the
   * streams in flight and stops reading the input. Throws AbortedError when your signal fires (TimeoutError for
   * `AbortSignal.timeout`) or the client is closed, the error when one dooms every item (AuthenticationError,
   * PermissionDeniedError, NotFoundError for an unknown policy), and what your items iterator throws
   * (InvalidRequestError for an iterator that breaks the iteration protocol), once every item read before it has
   * been sent and its outcome yielded. Returns the summary.
   */
  [Symbol.asyncIterator](): AsyncGenerator<BatchOutcome, BatchSummary, undefined> {
    if (this.#started) throw new TypeError("evaluateBatch: a batch can be iterated once; call evaluateBatch again");
    this.#started = true;
    return this.#iterate();
  }

  async *#iterate(): AsyncGenerator<BatchOutcome, BatchSummary, undefined> {
    const callerSignal = this.#options.signal;
    const onAbort = () => this.#stop(callerSignal?.reason);
    if (callerSignal?.aborted) onAbort();
    else callerSignal?.addEventListener("abort", onAbort, { once: true });
    // close() ends the batch as it ends a call in flight, also while no stream runs (a quiet queue, a pause).
    let closeWatch: CloseWatch | undefined;
    const onClose = () => this.#fail(clientClosedError(closeWatch?.signal.reason));
    try {
      closeWatch = this.#watchClose?.();
      if (closeWatch?.signal.aborted) onClose();
      else closeWatch?.signal.addEventListener("abort", onClose, { once: true });
    } catch (error) {
      this.#fail(error);
    }
    this.#tally.start();
    this.#workersLeft = this.#options.concurrency;
    for (let i = 0; i < this.#options.concurrency; i++) void this.#worker();
    try {
      for (;;) {
        if (callerSignal?.aborted) throw signalError(callerSignal.reason);
        if (this.#failure !== undefined) throw this.#failure.error;
        const outcome = this.#takeReady();
        if (outcome !== undefined) {
          this.#yielded++;
          this.#spaceFreed.notify();
          yield outcome;
          continue;
        }
        if (this.#workersLeft === 0) break;
        await this.#outcomeReady.wait();
      }
      // Every item read before your items threw has its outcome now: their error ends the iteration.
      if (this.#sourceFailure !== undefined) throw this.#sourceFailure.error;
    } finally {
      callerSignal?.removeEventListener("abort", onAbort);
      closeWatch?.signal.removeEventListener("abort", onClose);
      closeWatch?.dispose();
      this.#stop(new ConnectionError("the batch is over", { code: Code.Canceled }));
      // Wait for the streams to end, not for a read of your items: an idle queue may not yield for a long time.
      await Promise.allSettled(this.#processing);
      const closing = this.#input.close().catch(() => {});
      if (!this.#reading) await closing;
      this.#tally.end();
      this.#reportProgress();
    }
    return this.#tally.summary();
  }

  #takeReady(): BatchOutcome | undefined {
    if (this.#options.ordered) {
      const outcome = this.#byIndex.get(this.#nextIndex);
      if (outcome === undefined) return undefined;
      this.#byIndex.delete(this.#nextIndex++);
      return outcome;
    }
    if (this.#head >= this.#queue.length) return undefined;
    const outcome = this.#queue[this.#head]!;
    // Let go of what was handed out at once: a result holds a whole report, and holding a thousand of them until
    // the queue is compacted tripled the time spent collecting garbage.
    this.#queue[this.#head++] = undefined;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return outcome;
  }

  #emit(outcome: BatchOutcome): void {
    this.#tally.add(outcome);
    if (this.#options.ordered) this.#byIndex.set(outcome.index, outcome);
    else this.#queue.push(outcome);
    this.#outcomeReady.notify();
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.#stop(error);
  }

  /** Stops everything: the run's signal, every stream, every wait. */
  #stop(reason: unknown): void {
    this.#run.abort(reason);
    for (const stream of this.#streams) stream.abort(reason);
    this.#wakeAll();
  }

  #wakeAll(): void {
    this.#outcomeReady.notify();
    this.#spaceFreed.notify();
  }

  #reportProgress(): void {
    const onProgress = this.#options.onProgress;
    if (onProgress === undefined) return;
    try {
      onProgress(this.#tally.progress());
    } catch (error) {
      this.#fail(error);
    }
  }

  async #worker(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.#pull();
        if (chunk === undefined || this.#run.signal.aborted) return;
        const processing = this.#process(chunk);
        this.#processing.add(processing);
        try {
          await processing;
        } finally {
          this.#processing.delete(processing);
        }
      }
    } catch (error) {
      if (!this.#run.signal.aborted) this.#fail(error);
    } finally {
      this.#workersLeft--;
      this.#outcomeReady.notify();
    }
  }

  /** The next chunk of input, one reader at a time; undefined when the input is used up or the batch stops. */
  #pull(): Promise<BatchItem[] | undefined> {
    const next = this.#pulling.then(() => this.#pullNow());
    this.#pulling = next.catch(() => {});
    return next;
  }

  async #pullNow(): Promise<BatchItem[] | undefined> {
    const { chunkSize, maxChunkBytes, windowSize, maxChunkWaitMs } = this.#options;
    for (;;) {
      if (this.#run.signal.aborted || this.#input.exhausted) return undefined;
      // Items read and not yet yielded, bad ones included, stay within the window: the bound on memory and on
      // reordering.
      const room = windowSize - (this.#input.read - this.#yielded);
      if (room <= 0) {
        await this.#spaceFreed.wait();
        continue;
      }
      this.#reading = true;
      let read: Awaited<ReturnType<BatchInput["next"]>>;
      try {
        read = await this.#input.next(
          { maxItems: chunkSize, maxBytes: maxChunkBytes, maxReads: room, maxWaitMs: maxChunkWaitMs },
          this.#onInvalid,
        );
      } finally {
        this.#reading = false;
      }
      const { items, done, failure } = read;
      // The items read before your items threw are sent all the same; the error waits for their outcomes.
      if (failure !== undefined) this.#sourceFailure ??= failure;
      if (items.length > 0) return items;
      if (done) return undefined;
      // Only bad items so far: let timers and I/O run before reading on, as a stream's send would.
      await nextTurn();
    }
  }

  /** A bad item is failed as soon as it is read, never sent. */
  readonly #onInvalid = (bad: InvalidItem): void => {
    this.#emit({ index: bad.index, id: bad.id, kind: "failed", error: bad.error, attempts: 0 });
  };

  /** Sends a chunk, then whatever it leaves to send again, until every item of it has its outcome. */
  async #process(chunk: BatchItem[]): Promise<void> {
    const stack: BatchItem[][] = [chunk];
    while (stack.length > 0 && !this.#run.signal.aborted) {
      const again = await this.#send(stack.pop()!);
      for (let i = again.length - 1; i >= 0; i--) stack.push(again[i]!);
    }
  }

  /** Sends one chunk as one stream; returns the pieces of it to send again. */
  async #send(chunk: BatchItem[]): Promise<BatchItem[][]> {
    const o = this.#options;
    // Each stream gets a signal of its own, so that the batch's signal holds one listener, not one per stream.
    const stream = new AbortController();
    if (this.#run.signal.aborted) return [];
    this.#streams.add(stream);
    try {
      return await this.#sendOn(chunk, stream.signal, o);
    } finally {
      this.#streams.delete(stream);
    }
  }

  async #sendOn(chunk: BatchItem[], signal: AbortSignal, o: ResolvedBatchOptions): Promise<BatchItem[][]> {
    try {
      await this.#pacer.acquire(chunk.length, signal);
    } catch {
      return [];
    }
    // The items still unanswered, by position in the stream (the correlation key each carries).
    const pending: Array<BatchItem | undefined> = chunk.slice();
    let left = chunk.length;
    let contentBytes = 0;
    for (const item of chunk) {
      if (item.attempts > 0) this.#tally.resends++;
      item.attempts++;
      contentBytes += item.bytes;
    }
    this.#tally.streams++;
    this.#tally.inFlight += chunk.length;
    // Every answer counts, matched or not: any answer means the gateway evaluated the request.
    const answers = { count: 0, unmatched: 0, unmatchedHash: "" };
    let error: ClavataError;
    try {
      const contentData = chunk.map((item, position) => sentContentOf(item, position));
      const callOptions: CallOptions = {
        signal,
        maxRetries: 0,
        ...(o.streamTimeoutMs !== undefined ? { timeoutMs: o.streamTimeoutMs } : {}),
        ...(o.headers !== undefined ? { headers: o.headers } : {}),
      };
      const request = {
        policyId: o.policyId,
        contentData,
        ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
        ...(o.expedited ? { expedited: true } : {}),
      };
      const evaluator = this.#evaluator;
      const responses =
        evaluator.evaluateChecked !== undefined
          ? evaluator.evaluateChecked({ ...request, contentBytes }, callOptions)
          : evaluator.evaluate(request, callOptions);
      for await (const response of responses) {
        answers.count++;
        let position = this.#positionByKey(response, pending);
        if (position === undefined) position = await this.#positionByHash(response, pending);
        if (position === undefined) {
          // No key of a pending item, no hash that matches one: it may be any unanswered item's answer.
          answers.unmatched++;
          answers.unmatchedHash ||= response.contentHash || response.policyEvaluationReport?.contentHash || "";
          this.#tally.unmatchedAnswers++;
          continue;
        }
        const item = pending[position]!;
        pending[position] = undefined;
        left--;
        this.#tally.inFlight--;
        this.#emit({ index: item.index, id: item.id, kind: "result", result: response, attempts: item.attempts });
      }
      if (left === 0) {
        this.#pacer.succeeded();
        return [];
      }
      error = new ServerError("Evaluate failed: the gateway ended the stream without a result for this item", {
        code: Code.Internal,
      });
    } catch (thrown) {
      error = thrown instanceof ClavataError ? thrown : toClavataError(thrown, { method: "Evaluate" });
    } finally {
      this.#tally.inFlight -= left;
    }
    const again = await this.#settle(
      pending.filter((item): item is BatchItem => item !== undefined),
      error,
      answers,
      signal,
    );
    this.#reportProgress();
    return again;
  }

  /**
   * The position of the pending item an answer belongs to, by its correlation key, which is removed from the
   * answer; undefined when the answer carries no key of a pending item.
   */
  #positionByKey(response: EvaluateResponse, pending: ReadonlyArray<BatchItem | undefined>): number | undefined {
    const metadata = response.policyEvaluationReport?.contentMetadata;
    const key = metadata?.[BATCH_KEY_METADATA];
    if (key === undefined) return undefined;
    delete metadata![BATCH_KEY_METADATA];
    const position = Number(key);
    // Only the exact decimal text of a position this stream sent (not "1.0", " 1" or "0x1").
    return String(position) === key && pending[position] !== undefined ? position : undefined;
  }

  /** The position of the pending item an answer belongs to by its content hash, for a gateway that does not echo metadata. */
  async #positionByHash(
    response: EvaluateResponse,
    pending: ReadonlyArray<BatchItem | undefined>,
  ): Promise<number | undefined> {
    const report = response.policyEvaluationReport;
    const waiting = pending.filter((item): item is BatchItem => item !== undefined);
    const item = await this.#matcher.find(waiting.values(), response.contentHash || report?.contentHash || "");
    return item === undefined ? undefined : pending.indexOf(item);
  }

  /** Decides what becomes of the items a failed stream left unanswered; returns the pieces to send again. */
  async #settle(
    left: BatchItem[],
    error: ClavataError,
    answers: StreamAnswers,
    signal: AbortSignal,
  ): Promise<BatchItem[][]> {
    if (left.length === 0 || this.#run.signal.aborted) return [];
    // After any answer, matched or not, the gateway may have evaluated the rest too: resend only when the caller
    // allows it.
    const mayResend = this.#options.resend || answers.count === 0;
    // What the items that fail get: the error, and the answers that may have been theirs.
    const failure = answers.unmatched > 0 ? unmatchedAnswersError(error, answers) : error;
    if (error instanceof EvaluationRefusedError) {
      return this.#settleRefusal(left, error.refusals, mayResend, failure);
    }
    if (doomsEveryItem(error, this.#evaluator)) {
      this.#fail(error);
      return [];
    }
    if (error instanceof InvalidRequestError && left.length > 1 && mayResend) {
      // The gateway turned the request away as a whole, before evaluating it: find the item it objects to.
      for (const item of left) item.attempts--;
      return halves(left);
    }
    if (error instanceof RateLimitError) this.#pacer.throttled(error.retryDelayMs);
    const retry: BatchItem[] = [];
    let attempts = 0;
    for (const item of left) {
      const spent = item.attempts >= this.#options.maxAttempts;
      if (spent || !mayResend || error instanceof InvalidRequestError) {
        this.#emit({ index: item.index, id: item.id, kind: "failed", error: failure, attempts: item.attempts });
      } else {
        retry.push(item);
        attempts = Math.max(attempts, item.attempts);
      }
    }
    if (retry.length === 0) return [];
    // RESOURCE_EXHAUSTED already paused every stream through the pacer; other failures back off here.
    if (!(error instanceof RateLimitError)) {
      try {
        await sleep(backoffDelayMs(attempts, DEFAULT_RETRY_OPTIONS), signal);
      } catch {
        return [];
      }
    }
    return [retry];
  }

  /**
   * Pins a refusal to its items, and returns the rest to send again; `mayResend` false (an answer came before the
   * refusal, and the caller passed `resend: false`) fails the rest with `failure` instead.
   */
  async #settleRefusal(
    left: BatchItem[],
    refusals: readonly RefusedContent[],
    mayResend: boolean,
    failure: ClavataError,
  ): Promise<BatchItem[][]> {
    // A refused stream evaluated nothing: its sends do not count (unless answers came first and nothing is resent).
    if (mayResend) for (const item of left) item.attempts--;
    const { refused, rest } = await attributeRefusals(left, refusals, this.#matcher);
    for (const { item, refusal } of refused) {
      this.#emit({ index: item.index, id: item.id, kind: "refused", refusal, attempts: item.attempts });
    }
    if (rest.length === 0) return [];
    if (refused.length === 0 && rest.length === 1) {
      // The gateway sends at least one refusal with the error, and this item is the only one it can be about.
      const item = rest[0]!;
      this.#emit({ index: item.index, id: item.id, kind: "refused", refusal: refusals[0]!, attempts: item.attempts });
      return [];
    }
    if (!mayResend) {
      for (const item of rest) {
        this.#emit({ index: item.index, id: item.id, kind: "failed", error: failure, attempts: item.attempts });
      }
      return [];
    }
    // No hash names an item: halve until each refusal has its item.
    return refused.length > 0 ? [rest] : halves(rest);
  }
}

/** The answers one stream had: all of them, those that matched no item, and the content hash of the first of those. */
interface StreamAnswers {
  count: number;
  unmatched: number;
  unmatchedHash: string;
}

/**
 * The error of an item its stream left unanswered after answers that matched no item: one of them may have been
 * its own (so it may have been evaluated), and the stream's own error is the cause.
 */
function unmatchedAnswersError(error: ClavataError, answers: StreamAnswers): ServerError {
  const n = answers.unmatched;
  const which = n === 1 ? "1 answer" : `${String(n)} answers`;
  // The gateway's text, so bounded.
  const shown = answers.unmatchedHash.length > 80 ? `${answers.unmatchedHash.slice(0, 80)}…` : answers.unmatchedHash;
  const hash =
    shown === ""
      ? "and no content hash"
      : `and content hash "${shown}"${n === 1 ? "" : " (the first)"} matches no unanswered item`;
  return new ServerError(
    `Evaluate failed: the gateway sent ${which} that could not be matched to an item (no correlation key in ` +
      `${n === 1 ? "its" : "their"} metadata, ${hash}), so this item may have been evaluated; the stream then ` +
      `ended: ${error.message}`,
    { code: Code.Internal, cause: error },
  );
}

/** What ends a batch your signal stopped: TimeoutError for `AbortSignal.timeout` (as any call), else AbortedError. */
function signalError(reason: unknown): ClavataError {
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new TimeoutError(`evaluateBatch: your AbortSignal timed out (${reason.message})`, {
      code: Code.DeadlineExceeded,
      cause: reason,
    });
  }
  return new AbortedError("evaluateBatch: aborted by your AbortSignal", { code: Code.Canceled, cause: reason });
}

/** What ends a batch whose client was closed under it. */
function clientClosedError(reason: unknown): AbortedError {
  return new AbortedError("evaluateBatch: the client was closed while the batch was running", {
    code: Code.Canceled,
    cause: reason,
  });
}

/** Resolves after timers and I/O that are due have had their turn. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function halves(items: BatchItem[]): BatchItem[][] {
  const half = Math.ceil(items.length / 2);
  return [items.slice(0, half), items.slice(half)];
}
