// A Connect Transport whose every call runs through Connect's interceptor chain first, then through one transport's
// own way of making the call. The client's three chains (over a transport the caller passed in, over its own gRPC
// channel, over REST) differ only in that last step; this is the rest, written once.

import type {
  DescMessage,
  DescMethod,
  DescMethodStreaming,
  DescMethodUnary,
  MessageInitShape,
} from "@bufbuild/protobuf";
import {
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";

/** What `new Headers()` accepts (the DOM lib type, which this package does not load). @internal */
export type HeadersInit_ = ConstructorParameters<typeof Headers>[0];

/** One transport's own part of a call, after the interceptors. @internal */
export interface CallSteps {
  /** The HTTP method and URL that the request shows the interceptors. */
  target(method: DescMethod): { readonly requestMethod: string; readonly url: string };
  /** The request headers from the caller's; default: a copy. `timeoutMs` is the call's Connect timeout. */
  headers?(header: HeadersInit_ | undefined, timeoutMs: number | undefined): Headers;
  /** The error for a streaming method this transport cannot run, or undefined to run it. */
  refuse?(method: DescMethodStreaming): Error | undefined;
  /** Makes a unary call, once the interceptors have run. */
  unary<I extends DescMessage, O extends DescMessage>(req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>>;
  /** Makes a streaming call, once the interceptors have run. */
  stream<I extends DescMessage, O extends DescMessage>(req: StreamRequest<I, O>): Promise<StreamResponse<I, O>>;
}

/**
 * A Transport that runs `interceptors` (outermost first) in front of `steps` on every call, once per attempt. The
 * interceptors see the request as Connect builds it (service, method, URL, headers, context values).
 * @internal
 */
export function interceptedTransport(interceptors: Interceptor[], steps: CallSteps): Transport {
  const headersOf = (header: HeadersInit_ | undefined, timeoutMs: number | undefined) =>
    steps.headers === undefined ? new Headers(header) : steps.headers(header, timeoutMs);
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit_ | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const { requestMethod, url } = steps.target(method);
      return runUnaryCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod,
          url,
          header: headersOf(header, timeoutMs),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => steps.unary(req),
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
      const refused = steps.refuse?.(method);
      if (refused !== undefined) return Promise.reject(refused);
      const { requestMethod, url } = steps.target(method);
      return runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod,
          url,
          header: headersOf(header, timeoutMs),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => steps.stream(req),
      });
    },
  };
}
