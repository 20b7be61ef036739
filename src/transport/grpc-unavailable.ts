// Stands in for the gRPC transport (src/transport.ts) in the edge build (dist/edge, the `workerd` and `browser`
// export conditions): runtimes without node:http2 cannot speak gRPC, so the client says so when asked to, and
// protocol: "rest" works as everywhere.

import { Code } from "@connectrpc/connect";
import type { ResolvedClientOptions } from "../client-options.js";
import { InvalidRequestError } from "../errors.js";

/**
 * Throws InvalidRequestError: gRPC needs node:http2, which this runtime does not have. @private
 */
export function createOwnedTransport(_options: ResolvedClientOptions, _interceptors: unknown[]): never {
  throw new InvalidRequestError(
    'gRPC needs node:http2, which this runtime does not have; pass protocol: "rest" to ClavataClient',
    { code: Code.Unimplemented, field: "options.protocol" },
  );
}
