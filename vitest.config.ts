// vitest settings for every run: npm test (every project, after a build), npm run test:unit (the unit projects, no
// build), npx vitest run <file>.
//
// The client's tests run twice, once per transport the client can make for itself: its own gRPC transport on
// node:http2 ("grpc", the default) and Connect-node's ("connect-node"), so that the two behave the same. The test
// files read which one through `TRANSPORT` (test/support/transports.ts). Every other test runs once.
import { configDefaults, defineConfig } from "vitest/config";

/** The test files that run the built dist/ (the bin, the demo, the packed package, a child process importing it). */
const BUILT = [
  "test/cli/bin.test.ts",
  "test/cli/demo.test.ts",
  "test/client/crash.test.ts",
  "test/docs/code-types.test.ts",
  "test/examples/*.test.ts",
  "test/package.test.ts",
  "test/transport/hostile-server.test.ts",
];
const client = ["test/client/**/*.test.ts"];
const notBuilt = [...configDefaults.exclude, ...BUILT];

export default defineConfig({
  test: {
    // Generous limits: these bound a hung test on a loaded machine; no test waits for them to pass.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Fails a test file that leaves timers, sockets or servers alive after its last test.
    setupFiles: ["test/support/leak-guard.ts"],
    // expect.poll waits for an event that a loaded machine may deliver late; it returns as soon as it holds.
    expect: { poll: { timeout: 10_000 } },
    projects: [
      {
        extends: true,
        test: { name: "unit:client/grpc", include: client, exclude: notBuilt, provide: { transport: "grpc" } },
      },
      {
        extends: true,
        test: {
          name: "unit:client/connect-node",
          include: client,
          exclude: notBuilt,
          provide: { transport: "connect-node" },
        },
      },
      {
        extends: true,
        test: { name: "unit:other", include: ["test/**/*.test.ts"], exclude: [...notBuilt, ...client] },
      },
      { extends: true, test: { name: "built", include: BUILT } },
    ],
  },
});
