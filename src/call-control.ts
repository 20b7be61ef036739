// One call of a ClavataClient, from its start to its end: its settings, its headers, and how it is stopped (the
// caller's signal, its deadline, close()). The client's fast path stops the attempt in flight through `onAbort`
// without any AbortController; the Connect path asks for `signal`, which is made only then.

import type { CallSettings } from "./interceptors.js";

/** A call in flight. @private */
export class ClientCall {
  /** The method name, such as "GetJob", for messages. */
  readonly method: string;
  readonly settings: CallSettings;
  /** Extra headers (the client's and the call's), or undefined for none. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  #aborted = false;
  #reason: unknown;
  #controller: AbortController | undefined;
  /** What stops the attempt or wait in progress; set and cleared by whoever runs it. */
  onAbort: ((reason: unknown) => void) | undefined;

  constructor(method: string, settings: CallSettings, headers: Readonly<Record<string, string>> | undefined) {
    this.method = method;
    this.settings = settings;
    this.headers = headers;
  }

  /** Whether the call was stopped. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why the call was stopped. */
  get reason(): unknown {
    return this.#reason;
  }

  /** An AbortSignal that follows the call, made on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Stops the call with `reason`; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const onAbort = this.onAbort;
    this.onAbort = undefined;
    onAbort?.(reason);
    this.#controller?.abort(reason);
  }
}
