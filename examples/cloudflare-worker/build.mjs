// Bundles the example Worker as Wrangler would: the `workerd`/`worker`/`browser` export conditions, no Node.js
// built-ins. `clavata-connect` is this repository, by self-reference (its dist/ must be built: npm run build).
//
//   node examples/cloudflare-worker/build.mjs [outfile]

import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** Bundles the Worker into `outfile` (default dist-examples/worker.js); resolves with the path. */
export async function bundleWorker(outfile = fileURLToPath(new URL("../../dist-examples/worker.js", import.meta.url))) {
  await build({
    entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await bundleWorker(process.argv[2]));
}
