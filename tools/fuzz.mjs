#!/usr/bin/env node
// `npm run fuzz`: the codec differential tests at 100,000 cases per message (test/codec), in two vitest processes at
// once, each with every other message type (CODEC_FUZZ_SHARD), so that a 2-core machine finishes in about half the
// time. Exits non-zero when either fails; each shard's output is printed whole when it ends.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
const SHARDS = 2;

function shard(index) {
  const started = Date.now();
  // The plugin's own tests do not shard: the first process runs them.
  const files = index === 1 ? ["test/codec"] : ["test/codec/generated-codecs.test.ts"];
  const child = spawn(process.execPath, [vitest, "run", ...files, "--project", "unit:other", "--testTimeout", "0"], {
    cwd: root,
    env: { ...process.env, CODEC_FUZZ_RUNS: "100000", CODEC_FUZZ_SHARD: `${index}/${SHARDS}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      process.stdout.write(`--- codec fuzz, shard ${index}/${SHARDS}\n${output}`);
      const seconds = Math.round((Date.now() - started) / 1000);
      resolve({ index, ok: code === 0, seconds });
    });
  });
}

const results = await Promise.all(Array.from({ length: SHARDS }, (_, i) => shard(i + 1)));
for (const { index, ok, seconds } of results) {
  console.log(`codec fuzz shard ${index}/${SHARDS}: ${ok ? "passed" : "FAILED"} in ${seconds} s`);
}
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
