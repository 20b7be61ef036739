// The client's gRPC side in one place: which runner carries its calls over gRPC (our own transport's fast path, our
// transport under Connect's interceptor chain, or Connect-node's transport) and how to close their connections.
// Everything that needs node:http2 is reached from here, so the edge build (tools/build-edge.mjs) swaps this one
// module for src/transport/grpc-unavailable.ts.

import { Code, type ConnectError, type Interceptor } from "@connectrpc/connect";
import type { ResolvedClientOptions } from "../client-options.js";
import { ConnectPath } from "../connect-path.js";
import type { Deadlines } from "../deadlines.js";
import { InvalidRequestError } from "../errors.js";
import { type CallRunner, FastPath } from "../fast-path.js";
import type { Log } from "../logging.js";
import { createChannelTransport } from "./channel-transport.js";
import { createConnectNodeTransport } from "./connect-node.js";
import { GrpcChannel } from "./grpc-channel.js";
import { proxyFor } from "./proxy.js";

/** How the client's calls travel over gRPC, and how to end its connections. @internal */
export interface GrpcRunner {
  readonly runner: CallRunner;
  /** Closes every connection (calls in flight fail with `reason`). */
  close(reason: ConnectError): void;
}

/** What the fast path needs; undefined when the calls must go through Connect's interceptor chain. @internal */
export interface FastPathSettings {
  readonly apiKey: string;
  readonly log: Log;
  readonly deadlines: Deadlines;
}

/**
 * Makes the runner for `resolved.transport` ("grpc" or "connect-node"). With `fastPath`, our own transport runs
 * the client's own work (auth, client id, deadline, retry) without Connect's chain; without it, `interceptors` run
 * through the chain. Nothing connects until the first call.
 * @throws InvalidRequestError when the proxy setting (option or environment) is not usable.
 * @internal
 */
export function createGrpcRunner(
  resolved: ResolvedClientOptions,
  interceptors: Interceptor[],
  fastPath: FastPathSettings | undefined,
): GrpcRunner {
  if (resolved.transport === "connect-node") {
    const owned = createConnectNodeTransport(resolved, interceptors);
    return { runner: new ConnectPath(owned.transport), close: (reason) => owned.sessionManager.abort(reason) };
  }
  const url = new URL(resolved.baseUrl);
  let proxy: URL | undefined;
  try {
    proxy = proxyFor(url, resolved.proxy);
  } catch (error) {
    throw new InvalidRequestError(
      `the proxy setting is not usable (${(error as Error).message}); fix the proxy option or HTTPS_PROXY`,
      { code: Code.InvalidArgument, field: "options.proxy" },
    );
  }
  const channel = new GrpcChannel({
    url,
    tls: resolved.tls,
    keepalive: resolved.keepalive,
    proxy,
    maxReceiveMessageBytes: resolved.maxReceiveMessageBytes,
    generatedCodecs: resolved.generatedCodecs,
  });
  const runner =
    fastPath === undefined
      ? new ConnectPath(createChannelTransport(channel, interceptors, resolved.baseUrl))
      : new FastPath(channel, fastPath.apiKey, fastPath.log, fastPath.deadlines);
  return { runner, close: (reason) => channel.close(reason.rawMessage) };
}
