// The deadlines of a client's calls in flight, kept by one timer: arming and clearing a Node timer per call costs
// more than a short call itself spends in the client, and most calls finish long before their deadline.

/**
 * Aborts each registered call when its deadline passes. One timer is armed for the earliest deadline; it is unref'd,
 * so it never keeps a process alive on its own (a call in flight does, through its connection). @private
 */
export class Deadlines {
  readonly #entries = new Set<{ readonly at: number; readonly expire: () => void }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** Calls `expire` once `at` (a Date.now() time) has passed, unless the returned function is called first. */
  add(at: number, expire: () => void): () => void {
    const entry = { at, expire };
    this.#entries.add(entry);
    if (at < this.#timerAt) this.#arm(at);
    return () => {
      this.#entries.delete(entry);
    };
  }

  /** Forgets every deadline and stops the timer. */
  clear(): void {
    this.#entries.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // At least 1 ms, so a timer that fires a little early cannot spin.
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, at - Date.now()));
    // Edge runtimes return a plain number, which has nothing to unref.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries) {
      if (entry.at <= now) {
        this.#entries.delete(entry);
        entry.expire();
      } else if (entry.at < next) {
        next = entry.at;
      }
    }
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }
}
