// Stands in for the client's gRPC side (src/transport/grpc-runner.ts) in the edge build (dist/edge, the `workerd`
// and `browser` export conditions): runtimes without node:http2 cannot speak gRPC, so the client says so when asked
// to, and protocol: "rest" works as everywhere.

import { Code, type Interceptor } from "@connectrpc/connect";
import type { ResolvedClientOptions } from "../client-options.js";
import { InvalidRequestError } from "../errors.js";

/**
 * Throws InvalidRequestError: gRPC needs node:http2, which this runtime does not have.
 * @internal
 */
export function createGrpcRunner(
  _resolved: ResolvedClientOptions,
  _interceptors: Interceptor[],
  _fastPath: unknown,
): never {
  throw new InvalidRequestError(
    'gRPC needs node:http2, which this runtime does not have; pass protocol: "rest" to ClavataClient',
    { code: Code.Unimplemented, field: "options.protocol" },
  );
}
