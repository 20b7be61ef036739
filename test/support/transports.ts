// Which of the client's own transports the client tests run on: vitest.config.ts runs every test/client file once
// per transport and provides the name. Tests pass `transport: TRANSPORT` to each ClavataClient they build.
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    transport: "grpc" | "connect-node";
  }
}

/** The transport under test: "grpc" (the client's own, the default) or "connect-node". */
export const TRANSPORT: "grpc" | "connect-node" = inject("transport") ?? "grpc";
