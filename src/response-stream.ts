// The async generator a streaming method returns, written by hand: an `async function*` that re-yields every
// message costs a generator resumption and a promise per message, which is a measurable share of a streamed
// result's cost. This one passes each message through, maps the failure once, and cancels the call when the
// reader stops early. As with a generator, its `next()` calls run one at a time, in the order they were made (so
// readers sharing one stream split its messages between them). A read still in flight when the reader calls
// `return()` ends with `{ done: true }`: the call is cancelled under it, and that is no failure of the stream's.

/** What the stream needs from the call it wraps. @private */
export interface StreamCall<T> {
  /** Starts the call; runs on the first `next()`, as a generator body would. */
  start(): AsyncIterator<T>;
  /** Maps the call's failure to the error the reader gets. */
  fail(error: unknown): unknown;
  /** Ends the call: cancels it on the wire if it still runs, and releases what it holds. Idempotent. */
  dispose(): void;
  /**
   * The number of messages the call must deliver, and the error the reader gets otherwise: after the messages that
   * came when it ends OK with fewer, or in place of the first one too many (the call is then cancelled). Optional.
   */
  readonly expected?: { readonly count: number; wrong(received: number): unknown };
}

/** An AsyncGenerator over a call's messages. @private */
export class ResponseStream<T> implements AsyncGenerator<T, void, undefined> {
  readonly #call: StreamCall<T>;
  #it: AsyncIterator<T> | undefined;
  #over = false;
  /**
   * The `next()` calls not settled yet: the one in flight and those queued behind it. Each is counted down when its
   * own turn settles, so that a reader's next call made as its result arrives still queues behind the others.
   */
  #pending = 0;
  /** Messages delivered so far (counted only when the call expects a number). */
  #received = 0;
  /** The last `next()` asked for; the next one waits for it. */
  #tail: Promise<IteratorResult<T, void>> | undefined;

  constructor(call: StreamCall<T>) {
    this.#call = call;
  }

  next(): Promise<IteratorResult<T, void>> {
    // A second `next()` while one is pending waits for it, as with a generator; the usual one costs no extra hop.
    if (this.#pending++ === 0) {
      this.#tail = this.#next();
      return this.#tail;
    }
    const after = () => this.#next();
    this.#tail = this.#tail!.then(after, after);
    return this.#tail;
  }

  /** One `next()`'s turn: reads the call's next message. */
  #next(): Promise<IteratorResult<T, void>> {
    if (this.#over) {
      this.#pending--;
      return Promise.resolve({ done: true, value: undefined });
    }
    let it = this.#it;
    if (it === undefined) {
      try {
        it = this.#it = this.#call.start();
      } catch (error) {
        this.#pending--;
        this.#end();
        return Promise.reject(this.#call.fail(error));
      }
    }
    const result = it.next().then(
      (r) => {
        this.#pending--;
        // The reader left (return()) while this read was in flight: the call is cancelled, and the read ends.
        if (this.#over) return { done: true as const, value: undefined };
        const expected = this.#call.expected;
        if (r.done === true) {
          this.#end();
          if (expected !== undefined && this.#received < expected.count) throw expected.wrong(this.#received);
          return { done: true as const, value: undefined };
        }
        if (expected !== undefined && ++this.#received > expected.count) {
          this.#end();
          throw expected.wrong(this.#received);
        }
        return r;
      },
      (error: unknown) => {
        this.#pending--;
        // The same: the failure is the cancel's (or a race with it), and not the reader's concern any more.
        if (this.#over) return { done: true as const, value: undefined };
        this.#end();
        throw this.#call.fail(error);
      },
    );
    return result;
  }

  async return(): Promise<IteratorResult<T, void>> {
    if (!this.#over) {
      this.#over = true;
      try {
        await this.#it?.return?.();
      } finally {
        this.#call.dispose();
      }
    }
    return { done: true, value: undefined };
  }

  async throw(error: unknown): Promise<IteratorResult<T, void>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#call.dispose();
  }
}
