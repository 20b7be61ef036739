// The client's gRPC channel as a Connect Transport, so that Connect's createClient, its ConnectError and Connect
// interceptors work over it just as over Connect-node's own transport. The client uses this path when it is given
// interceptors of the caller's own (or logs at debug level); otherwise it calls the channel directly (fast-path.ts).

import type { OutgoingHttpHeaders } from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { grpcTimeout } from "../deadlines.js";
import { TransportFailure } from "../errors.js";
import { USER_AGENT } from "../interceptors.js";
import type { GrpcCall } from "./grpc-call.js";
import type { GrpcChannel } from "./grpc-channel.js";
import { toHeaders, transportError } from "./grpc-status.js";
import { type HeadersInit_, interceptedTransport } from "./intercepted.js";

/** Cancels `call` when `signal` aborts (also when it already has). */
function link(signal: AbortSignal, call: GrpcCall<unknown>): void {
  if (signal.aborted) call.cancel(ConnectError.from(signal.reason, Code.Canceled));
  else
    signal.addEventListener("abort", () => call.cancel(ConnectError.from(signal.reason, Code.Canceled)), {
      once: true,
    });
}

function outgoing(path: string, header: Headers): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc+proto",
    te: "trailers",
  };
  header.forEach((value, name) => {
    if (name !== "content-type" && name !== "te") headers[name] = value;
  });
  headers["user-agent"] ??= USER_AGENT;
  return headers;
}

function messageOf<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): MessageShape<Desc> {
  return isMessage(init, schema) ? (init as MessageShape<Desc>) : create(schema, init);
}

/**
 * A Connect Transport over the channel: unary and server-streaming methods, with `interceptors` run on every call
 * (outermost first). Client-streaming and bidi methods, which the gateway does not have, fail with
 * UNIMPLEMENTED. @internal
 */
export function createChannelTransport(channel: GrpcChannel, interceptors: Interceptor[], baseUrl: string): Transport {
  return interceptedTransport(interceptors, {
    target: (method) => ({ requestMethod: "POST", url: baseUrl + channel.plan(method as DescMethodUnary).path }),
    headers: withTimeout,
    refuse(method) {
      if (method.methodKind === "server_streaming") return undefined;
      return transportError(
        new TransportFailure(
          "unsupported-method",
          `${method.parent.typeName}.${method.name} is a ${method.methodKind.replace("_", " ")} method, which ` +
            "the client's gRPC transport does not support (the gateway has none); use the connect-node transport",
        ),
      );
    },
    async unary<I extends DescMessage, O extends DescMessage>(req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>> {
      const method = req.method;
      const plan = channel.plan(method);
      const call = channel.start(
        plan.unary,
        outgoing(plan.path, req.header),
        plan.encode(messageOf(method.input, req.message)),
      );
      link(req.signal, call as GrpcCall<unknown>);
      const message = await call.takeResult();
      return {
        stream: false,
        service: method.parent,
        method,
        header: toHeaders(call.header),
        message,
        trailer: toHeaders(call.trailer),
      };
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      req: StreamRequest<I, O>,
    ): Promise<StreamResponse<I, O>> {
      const method = req.method as DescMethodStreaming<I, O>;
      const plan = channel.plan(method);
      const requests: MessageShape<I>[] = [];
      for await (const m of req.message) requests.push(messageOf(method.input, m));
      if (requests.length !== 1) {
        throw new ConnectError(
          `a server-streaming call takes exactly one request message, not ${String(requests.length)}`,
          Code.InvalidArgument,
        );
      }
      const call = channel.start(plan.stream, outgoing(plan.path, req.header), plan.encode(requests[0]!));
      link(req.signal, call as GrpcCall<unknown>);
      // The headers arrive with the first message or the end; wait for one of them so `header` is set.
      const first = await call.next();
      let pending: IteratorResult<MessageShape<O>> | undefined = first;
      const trailer = new Headers();
      const iterator: AsyncIterator<MessageShape<O>> = {
        next() {
          if (pending !== undefined) {
            const r = pending;
            pending = undefined;
            return Promise.resolve(r);
          }
          return call.next().then((r) => {
            if (r.done === true) {
              for (const [name, value] of toHeaders(call.trailer)) trailer.append(name, value);
            }
            return r;
          });
        },
        return() {
          return call.return();
        },
      };
      return {
        stream: true,
        service: method.parent,
        method,
        header: toHeaders(call.header),
        message: { [Symbol.asyncIterator]: () => iterator },
        trailer,
      };
    },
  });
}

function withTimeout(header: HeadersInit_ | undefined, timeoutMs: number | undefined): Headers {
  const headers = new Headers(header);
  if (timeoutMs !== undefined && timeoutMs > 0 && !headers.has("grpc-timeout")) {
    headers.set("grpc-timeout", grpcTimeout(timeoutMs));
  }
  return headers;
}
