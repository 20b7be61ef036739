// Reads the caller's items lazily, one chunk at a time, so that memory stays bounded whatever the input size: a
// chunk ends at `maxItems` items, before the item that would take it past `maxBytes` (an item larger than that
// goes alone), after `maxReads` items taken from the input (bad ones included: the room left in the window), or,
// for an AsyncIterable, once it has waited `maxWaitMs` for the input since its first item. Each item is checked as
// it is read; a bad one is handed to `onInvalid` at once and is never sent. When the caller's iterator throws (or
// breaks the iteration protocol), the read ends there and returns the items it had, with the error.

import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ContentDataSchema } from "../../gen/clavata/shared/v1/public_pb.js";
import type { ContentDataInit } from "../content.js";
import { checkContentItem } from "../content.js";
import { ClavataError, InvalidRequestError } from "../errors.js";
import { describeType } from "../validation/invalid.js";
import { type BatchItem, idOf, SENT_KEY_BYTES } from "./batch-item.js";

/** Items of a batch: an array, a generator, any Iterable or AsyncIterable of content items. */
export type BatchItems = Iterable<ContentDataInit> | AsyncIterable<ContentDataInit>;

/** An item that was read but cannot be sent. @private */
export interface InvalidItem {
  readonly index: number;
  readonly id: string | undefined;
  readonly error: ClavataError;
}

/** What one read may take. @private */
export interface ReadLimits {
  /** The most items to send in the chunk. */
  readonly maxItems: number;
  /** The most bytes in the chunk (an item larger than this goes alone). */
  readonly maxBytes: number;
  /**
   * The most items to take from the input in this read, bad ones included (the room left in the window). Without
   * it, a read still ends at `maxItems` items to send or `maxItems` bad items, whichever comes first.
   */
  readonly maxReads?: number;
  /**
   * How long a chunk that has an item waits for more, in ms, before it is returned as it is (AsyncIterables only:
   * a plain Iterable never waits). Default Infinity: until the chunk is full or the input ends.
   */
  readonly maxWaitMs?: number;
}

/** A chunk read from the input. @private */
export interface ReadChunk {
  /** The items to send; empty with `done` when the input is used up. */
  readonly items: BatchItem[];
  /** Whether the input is used up (or failed). */
  readonly done: boolean;
  /** What the caller's iterator threw, when it did: the input ends there, after `items`. */
  readonly failure?: { readonly error: unknown } | undefined;
}

/** What a wait for the input gives when the chunk has waited long enough (or the input is closed). */
const WAITED = Symbol("waited");

/**
 * The caller's items, read on demand. Not reentrant: the engine reads one chunk at a time.
 * @private
 */
export class BatchInput {
  readonly #iterator: Iterator<ContentDataInit> | AsyncIterator<ContentDataInit>;
  /** Whether the iterator is a plain (synchronous) one: its items are read without a wait each. */
  readonly #sync: boolean;
  #carry: BatchItem | undefined;
  /** A request for the next item that a chunk stopped waiting for: the next read takes its answer. */
  #pending: Promise<IteratorResult<unknown>> | undefined;
  /** Ends the current read's wait for the input, when it has a time limit. */
  #stopWaiting: (() => void) | undefined;
  #read = 0;
  #done = false;

  /** @throws InvalidRequestError (field "items") when `items` is not an Iterable or AsyncIterable of items. */
  constructor(items: BatchItems) {
    const asyncIterable = items as AsyncIterable<ContentDataInit>;
    let iterator: unknown;
    // A string iterates its characters and a Map its [key, value] pairs: neither is a list of items.
    if (typeof items === "string" || items instanceof Map) {
      throw notItems(items);
    } else if (typeof asyncIterable?.[Symbol.asyncIterator] === "function") {
      iterator = asyncIterable[Symbol.asyncIterator]();
      this.#sync = false;
    } else if (typeof (items as Iterable<ContentDataInit>)?.[Symbol.iterator] === "function") {
      iterator = (items as Iterable<ContentDataInit>)[Symbol.iterator]();
      this.#sync = true;
    } else {
      throw notItems(items);
    }
    if (typeof (iterator as { next?: unknown } | null | undefined)?.next !== "function") {
      const method = this.#sync ? "[Symbol.iterator]()" : "[Symbol.asyncIterator]()";
      throw brokenIterator(`its ${method} returned ${describeType(iterator)}, not an iterator with a next() method`);
    }
    this.#iterator = iterator as Iterator<ContentDataInit> | AsyncIterator<ContentDataInit>;
  }

  /** How many items were read so far (the next item's index). */
  get read(): number {
    return this.#read;
  }

  /** Whether the input is used up (and no item waits for the next chunk). */
  get exhausted(): boolean {
    return this.#done && this.#carry === undefined;
  }

  /** Whether a request for the next item is still unanswered (a quiet AsyncIterable, between reads). */
  get waiting(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Reads a chunk within `limits`, handing each bad item to `onInvalid` as soon as it is read. Never throws for what
   * the caller's iterator does: a throw (or a broken iterator result) ends the input and comes back as `failure`,
   * with the items read before it.
   */
  async next(limits: ReadLimits, onInvalid: (item: InvalidItem) => void): Promise<ReadChunk> {
    const { maxItems, maxBytes, maxWaitMs = Number.POSITIVE_INFINITY } = limits;
    const maxReads = limits.maxReads ?? Number.POSITIVE_INFINITY;
    const items: BatchItem[] = [];
    let bytes = 0;
    let reads = 0;
    let bad = 0;
    if (this.#carry !== undefined) {
      items.push(this.#carry);
      bytes = this.#carry.bytes;
      this.#carry = undefined;
    }
    let waited: Promise<typeof WAITED> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // At most `maxItems` bad items per read too, so that a run of them cannot hold the event loop for long.
      while (items.length < maxItems && reads < maxReads && bad < maxItems && !this.#done) {
        let step: IteratorResult<unknown>;
        try {
          if (this.#sync) {
            step = checkStep((this.#iterator as Iterator<unknown>).next());
          } else {
            this.#pending ??= this.#request();
            const pending = this.#pending;
            if (items.length > 0 && maxWaitMs !== Number.POSITIVE_INFINITY) {
              // The chunk has an item: wait for the next one no longer than `maxWaitMs`, from now on.
              if (waited === undefined) {
                waited = new Promise<typeof WAITED>((resolve) => {
                  const stop = () => resolve(WAITED);
                  this.#stopWaiting = stop;
                  timer = setTimeout(stop, maxWaitMs);
                });
              }
              const first = await Promise.race([pending, waited]);
              if (first === WAITED) break;
            }
            const answer = await pending;
            this.#pending = undefined;
            step = checkStep(answer);
          }
        } catch (error) {
          // The caller's iterator threw or is broken: the input ends here, as `for…of` ends (without return()).
          this.#done = true;
          this.#pending = undefined;
          return { items, done: true, failure: { error } };
        }
        if (step.done) {
          this.#done = true;
          break;
        }
        reads++;
        const item = this.#take(step.value, this.#read++);
        if ("error" in item) {
          bad++;
          onInvalid(item);
          continue;
        }
        if (items.length > 0 && bytes + item.bytes > maxBytes) {
          this.#carry = item;
          break;
        }
        items.push(item);
        bytes += item.bytes;
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.#stopWaiting = undefined;
    }
    return { items, done: this.exhausted };
  }

  /** Asks the AsyncIterable for its next item; the answer is always handled, also when no read takes it. */
  #request(): Promise<IteratorResult<unknown>> {
    let answer: Promise<IteratorResult<unknown>>;
    try {
      answer = Promise.resolve((this.#iterator as AsyncIterator<unknown>).next());
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.catch(() => {});
    return answer;
  }

  /** The item read at `index`, checked and made into a message once; or why it cannot be sent. */
  #take(value: unknown, index: number): BatchItem | InvalidItem {
    const path = `items[${String(index)}]`;
    try {
      const budget = { bytes: 0 };
      checkContentItem(value, path, budget);
      const content = value as ContentDataInit;
      return {
        index,
        id: idOf(content),
        content,
        message: create(ContentDataSchema, content),
        bytes: budget.bytes + SENT_KEY_BYTES,
        attempts: 0,
      };
    } catch (thrown) {
      // An item whose reading throws (a getter, a Proxy) is a bad item too: it fails, and the batch goes on.
      const error =
        thrown instanceof ClavataError
          ? thrown
          : new InvalidRequestError(`${path} could not be read: ${messageOf(thrown)}; pass a plain content item`, {
              code: Code.InvalidArgument,
              field: path,
              cause: thrown,
            });
      return { index, id: safeIdOf(value), error };
    }
  }

  /**
   * Stops the caller's iterator (its `finally` blocks run), once the batch no longer reads. A request for the next
   * item still unanswered (a quiet queue) is not waited for: an AsyncGenerator returns after answering it.
   */
  async close(): Promise<void> {
    this.#stopWaiting?.();
    if (this.#done) return;
    this.#done = true;
    this.#carry = undefined;
    const waiting = this.#pending !== undefined;
    this.#pending = undefined;
    let closing: Promise<unknown>;
    try {
      closing = Promise.resolve(this.#iterator.return?.());
    } catch (error) {
      closing = Promise.reject(error);
    }
    if (waiting) closing.catch(() => {});
    else await closing;
  }
}

/** The iterator's answer, when it is an iterator result object, as `for…of` requires. */
function checkStep(step: unknown): IteratorResult<unknown> {
  if (step === null || (typeof step !== "object" && typeof step !== "function")) {
    throw brokenIterator(`its next() returned ${describeType(step)}, not an iterator result such as { value, done }`);
  }
  return step as IteratorResult<unknown>;
}

function brokenIterator(problem: string): InvalidRequestError {
  return new InvalidRequestError(
    `evaluateBatch: items is a broken iterator: ${problem}; fix the iterator, or pass an array or a generator of content items`,
    { code: Code.InvalidArgument, field: "items" },
  );
}

function safeIdOf(content: unknown): string | undefined {
  try {
    return content !== null && typeof content === "object" ? idOf(content as ContentDataInit) : undefined;
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : describeType(error);
}

function notItems(items: unknown): InvalidRequestError {
  const hint = items instanceof Map ? " (for a Map of items, pass map.values())" : "";
  return new InvalidRequestError(
    `evaluateBatch: items is ${describeType(items)}; pass an Iterable or AsyncIterable of content items, such as an array or a generator of textContent(…)${hint}`,
    { code: Code.InvalidArgument, field: "items" },
  );
}
