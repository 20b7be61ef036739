// The client's own gRPC transport: a pool of HTTP/2 connections and, per method, its path and codecs. `start`
// begins one call on it; `createChannelTransport` (below) wraps it as a Connect Transport, so that createClient,
// ConnectError and Connect interceptors work over it too.

import type { OutgoingHttpHeaders } from "node:http2";
import type { DescMessage, DescMethod, DescMethodStreaming, DescMethodUnary, MessageShape } from "@bufbuild/protobuf";
import type { ClavataKeepaliveOptions, ClavataTlsOptions } from "../client-options.js";
import { TransportFailure } from "../errors.js";
import { messageCodec } from "../message-codec.js";
import { type CallSpec, GrpcCall } from "./grpc-call.js";
import { SessionPool } from "./session-pool.js";

/** The default of `maxReceiveMessageBytes`: 4 MiB, gRPC's usual limit. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/** How the channel connects. @internal */
export interface GrpcChannelOptions {
  /** The gateway's origin: https: for TLS, http: for plaintext HTTP/2. */
  readonly url: URL;
  readonly tls: ClavataTlsOptions | undefined;
  readonly keepalive: Required<ClavataKeepaliveOptions>;
  /** The CONNECT proxy to tunnel through, or undefined for none. */
  readonly proxy: URL | undefined;
  /** Response messages above this size fail the call before they are buffered. */
  readonly maxReceiveMessageBytes: number;
  /** Whether to decode with the generated decoders (see `messageCodec`); default: CLAVATA_GENERATED_CODECS. */
  readonly generatedCodecs?: boolean | undefined;
}

/** What the channel keeps per method: its path, and its codecs made once. @internal */
export interface MethodPlan<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  readonly path: string;
  readonly encode: (message: MessageShape<I>) => Uint8Array;
  readonly unary: CallSpec<MessageShape<O>>;
  readonly stream: CallSpec<MessageShape<O>>;
}

/** The client's connections to one gateway and the calls on them. @internal */
export class GrpcChannel {
  readonly pool: SessionPool;
  readonly #maxReceive: number;
  readonly #generatedCodecs: boolean | undefined;
  readonly #plans = new WeakMap<DescMethod, MethodPlan>();

  constructor(options: GrpcChannelOptions) {
    this.pool = new SessionPool(options);
    this.#maxReceive = options.maxReceiveMessageBytes;
    this.#generatedCodecs = options.generatedCodecs;
  }

  /** The path and codecs of a method, made on first use. */
  plan<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O> | DescMethodStreaming<I, O>,
  ): MethodPlan<I, O> {
    let plan = this.#plans.get(method) as MethodPlan<I, O> | undefined;
    if (plan === undefined) {
      const input = messageCodec(method.input, { generated: this.#generatedCodecs });
      const output = messageCodec(method.output, { generated: this.#generatedCodecs });
      const decode = (bytes: Uint8Array) => output.decode(bytes);
      const base = { pool: this.pool, decode, typeName: method.output.typeName, maxReceiveBytes: this.#maxReceive };
      plan = {
        path: `/${method.parent.typeName}/${method.name}`,
        encode: (message) => input.encode(message),
        unary: { ...base, unary: true },
        stream: { ...base, unary: false },
      };
      this.#plans.set(method, plan as unknown as MethodPlan);
    }
    return plan;
  }

  /**
   * The request headers every call of `plan` starts with: the pseudo-headers, the gRPC content type and `te`. The
   * caller adds its own (authorization, user-agent, grpc-timeout, …) to the returned object.
   */
  headers(plan: MethodPlan): OutgoingHttpHeaders {
    return {
      ":method": "POST",
      ":path": plan.path,
      "content-type": "application/grpc+proto",
      te: "trailers",
    };
  }

  /** Starts a call with an encoded request; `spec` (a plan's `unary` or `stream`) says how its answer is read. */
  start<O>(spec: CallSpec<O>, headers: OutgoingHttpHeaders, request: Uint8Array): GrpcCall<O> {
    return new GrpcCall(spec, headers, request);
  }

  /** Ends every connection and call; later calls fail with `reason`. */
  close(reason: string): void {
    this.pool.close(new TransportFailure("connection-lost", reason));
  }
}
