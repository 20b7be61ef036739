// Builds dist/edge/index.js, what the `workerd` and `browser` export conditions of "." load: the package's main
// entry (from the compiled dist/esm) with the client's gRPC side (src/transport/grpc-runner.ts) swapped for a stub, so that nothing on the path needs
// node:http2 or any other node: module. The build fails if anything on that path still imports a node: module,
// which is how CI keeps it loadable in edge runtimes. Dependencies stay external (the user's bundler resolves
// them); both are runtime-neutral.
//
// Run after tsc (npm run build does).

import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
// The one module the edge build replaces: the client's gRPC side, and what stands in for it.
const GRPC_TRANSPORT = /^\.\/transport\/grpc-runner\.js$/;
const STAND_IN = `${root}dist/esm/src/transport/grpc-unavailable.js`;

await build({
  entryPoints: [`${root}dist/esm/src/index.js`],
  outfile: `${root}dist/edge/index.js`,
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  external: ["@bufbuild/protobuf", "@bufbuild/protobuf/*", "@connectrpc/connect", "@connectrpc/connect/*"],
  logLevel: "warning",
  plugins: [
    {
      name: "grpc-transport-stand-in",
      setup(b) {
        b.onResolve({ filter: GRPC_TRANSPORT }, (args) =>
          args.importer.endsWith("/dist/esm/src/client.js") ? { path: STAND_IN } : undefined,
        );
        b.onResolve({ filter: /^node:/ }, (args) => ({
          errors: [{ text: `${args.path} is imported by ${args.importer}, on the edge path: edge runtimes lack it` }],
        }));
      },
    },
  ],
});
