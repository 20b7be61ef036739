// How a ClavataClient runs its calls through Connect's interceptor chain: over a transport the caller passed in,
// over Connect-node's gRPC transport, or over the client's own channel when the caller gave interceptors of their
// own (or the client logs every call). The transport runs the interceptors (retry, logging, identification, auth,
// then the caller's) once per call.

import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageShape } from "@bufbuild/protobuf";
import { createContextValues, type Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import type { ClientCall } from "./call-control.js";
import type { CallRunner } from "./fast-path.js";
import { kCallSettings } from "./interceptors.js";

/** Runs calls through a Connect transport whose interceptors do the client's work. @private */
export class ConnectPath implements CallRunner {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): Promise<MessageShape<O>> {
    const response = await this.#transport.unary(
      method,
      call.signal,
      undefined,
      call.headers,
      input,
      createContextValues().set(kCallSettings, call.settings),
    );
    return response.message;
  }

  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    input: MessageShape<I>,
    call: ClientCall,
  ): AsyncIterator<MessageShape<O>> {
    let it: AsyncIterator<MessageShape<O>> | undefined;
    const open = async () => {
      const response = await this.#transport.stream(
        method,
        call.signal,
        undefined,
        call.headers,
        createAsyncIterable([input]),
        createContextValues().set(kCallSettings, call.settings),
      );
      it = response.message[Symbol.asyncIterator]();
      return it;
    };
    return {
      next: () => (it === undefined ? open().then((i) => i.next()) : it.next()),
      // Connect's stream has no return(); the client cancels it by aborting the call (see ClavataClient#begin).
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }
}
