// The client's tests run twice, once per transport the client can make for itself: its own gRPC transport on
// node:http2 ("grpc", the default) and Connect-node's ("connect-node"), so that the two behave the same. The test
// files read which one through `TRANSPORT` (test/support/transports.ts). Every other test runs once.
import { defineConfig } from "vitest/config";

const client = ["test/client/**/*.test.ts"];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: "client/grpc", include: client, provide: { transport: "grpc" } } },
      { extends: true, test: { name: "client/connect-node", include: client, provide: { transport: "connect-node" } } },
      { extends: true, test: { name: "other", include: ["test/**/*.test.ts"], exclude: client } },
    ],
  },
});
