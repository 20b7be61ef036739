// The layer that runs the client's interceptors in front of a Connect transport the caller passed in. Kept apart
// from the gRPC transport so that a REST-only build (edge runtimes) does not load node:http2.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { createMethodUrl } from "@connectrpc/connect/protocol";
import { interceptedTransport } from "./intercepted.js";

/**
 * Wraps a transport the caller supplied so that every call runs through `interceptors` first (outermost first),
 * then through the transport, once per attempt. Deadlines are the interceptors' business (the retry interceptor
 * times each attempt and sends `grpc-timeout`), so the transport is given none.
 * @private
 */
export function withInterceptors(inner: Transport, interceptors: Interceptor[], baseUrl: string): Transport {
  return interceptedTransport(interceptors, {
    target: (method) => ({ requestMethod: "POST", url: createMethodUrl(baseUrl, method) }),
    unary: (req) => inner.unary(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
    stream: (req) => inner.stream(req.method, req.signal, undefined, req.header, req.message, req.contextValues),
  });
}
