// The layer that runs the client's interceptors in front of a Connect transport the caller passed in.

import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import {
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";

/** What `new Headers()` accepts (the DOM lib type, which this package does not load). */
type HeadersInit_ = ConstructorParameters<typeof Headers>[0];

/**
 * Wraps a transport the caller supplied so that every call runs through `interceptors` first (outermost first),
 * then through the transport, once per attempt. Deadlines are the interceptors' business (the retry interceptor
 * times each attempt and sends `grpc-timeout`), so the transport is given none.
 * @private
 */
export function withInterceptors(inner: Transport, interceptors: Interceptor[], baseUrl: string): Transport {
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit_ | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      return runUnaryCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) => inner.unary(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
      });
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit_ | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      return runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) =>
          inner.stream(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
      });
    },
  };
}
