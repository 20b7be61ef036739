// Reads the caller's items lazily, one chunk at a time, so that memory stays bounded whatever the input size: a
// chunk ends at `maxItems` items or before the item that would take it past `maxBytes` (an item larger than that
// goes alone). Each item is checked as it is read; a bad one becomes a failed outcome and is never sent.

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

/** A chunk read from the input. @private */
export interface ReadChunk {
  /** The items to send; empty with `done` when the input is used up. */
  readonly items: BatchItem[];
  /** Items read on the way that cannot be sent. */
  readonly invalid: InvalidItem[];
  /** Whether the input is used up. */
  readonly done: boolean;
}

/**
 * The caller's items, read on demand. Not reentrant: the engine reads one chunk at a time.
 * @private
 */
export class BatchInput {
  readonly #iterator: Iterator<ContentDataInit> | AsyncIterator<ContentDataInit>;
  /** Whether the iterator is a plain (synchronous) one: its items are read without a wait each. */
  readonly #sync: boolean;
  #carry: BatchItem | undefined;
  #read = 0;
  #done = false;

  /** @throws InvalidRequestError (field "items") when `items` is not an Iterable or AsyncIterable of items. */
  constructor(items: BatchItems) {
    const asyncIterable = items as AsyncIterable<ContentDataInit>;
    // A string iterates its characters and a Map its [key, value] pairs: neither is a list of items.
    if (typeof items === "string" || items instanceof Map) {
      throw notItems(items);
    } else if (typeof asyncIterable?.[Symbol.asyncIterator] === "function") {
      this.#iterator = asyncIterable[Symbol.asyncIterator]();
      this.#sync = false;
    } else if (typeof (items as Iterable<ContentDataInit>)?.[Symbol.iterator] === "function") {
      this.#iterator = (items as Iterable<ContentDataInit>)[Symbol.iterator]();
      this.#sync = true;
    } else {
      throw notItems(items);
    }
  }

  /** How many items were read so far (the next item's index). */
  get read(): number {
    return this.#read;
  }

  /** Whether the input is used up (and no item waits for the next chunk). */
  get exhausted(): boolean {
    return this.#done && this.#carry === undefined;
  }

  /**
   * Reads up to `maxItems` items within `maxBytes`. Rethrows what the caller's iterator throws.
   */
  async next(maxItems: number, maxBytes: number): Promise<ReadChunk> {
    const items: BatchItem[] = [];
    const invalid: InvalidItem[] = [];
    let bytes = 0;
    if (this.#carry !== undefined) {
      items.push(this.#carry);
      bytes = this.#carry.bytes;
      this.#carry = undefined;
    }
    while (items.length < maxItems && !this.#done) {
      const step = this.#sync
        ? (this.#iterator as Iterator<ContentDataInit>).next()
        : await (this.#iterator as AsyncIterator<ContentDataInit>).next();
      if (step.done === true) {
        this.#done = true;
        break;
      }
      const index = this.#read++;
      const content = step.value;
      const budget = { bytes: 0 };
      try {
        checkContentItem(content, `items[${String(index)}]`, budget);
      } catch (error) {
        if (!(error instanceof ClavataError)) throw error;
        invalid.push({ index, id: safeIdOf(content), error });
        continue;
      }
      const item: BatchItem = {
        index,
        id: idOf(content),
        content,
        message: create(ContentDataSchema, content),
        bytes: budget.bytes + SENT_KEY_BYTES,
        attempts: 0,
      };
      if (items.length > 0 && bytes + item.bytes > maxBytes) {
        this.#carry = item;
        break;
      }
      items.push(item);
      bytes += item.bytes;
    }
    return { items, invalid, done: this.exhausted };
  }

  /** Stops the caller's iterator (its `finally` blocks run), once the batch no longer reads. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#carry = undefined;
    await this.#iterator.return?.();
  }
}

function safeIdOf(content: unknown): string | undefined {
  return content !== null && typeof content === "object" ? idOf(content as ContentDataInit) : undefined;
}

function notItems(items: unknown): InvalidRequestError {
  const hint = items instanceof Map ? " (for a Map of items, pass map.values())" : "";
  return new InvalidRequestError(
    `evaluateBatch: items is ${describeType(items)}; pass an Iterable or AsyncIterable of content items, such as an array or a generator of textContent(…)${hint}`,
    { code: Code.InvalidArgument, field: "items" },
  );
}
