// What checking a request costs before it is sent: the descriptor-derived shape check plus the contract's rules
// (src/requests.ts), per text item and per call, next to what building and encoding the same request costs anyway.
// Prints figures; asserts nothing. Run: npx tsc -p bench/tsconfig.json && node dist-bench/bench/validation.js

import { create, toBinary } from "@bufbuild/protobuf";
import { EvaluateRequestSchema } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { checkCallOptions } from "../src/client-options.js";
import { imageContent, textContent } from "../src/content.js";
import { buildEvaluateRequest, buildGetJobRequest } from "../src/requests.js";
import { DEFAULT_REQUEST_LIMITS } from "../src/validation/limits.js";
import { checkMessageShape } from "../src/validation/message-shape.js";

const TEXT = "I'm such an idiot, I forgot my keys again. See you at the party tonight, bring snacks!";

/** Runs `fn` until about `ms` have passed (after a warm-up) and returns nanoseconds per run, the best of 5 rounds. */
function nsPerRun(fn: () => void, ms = 300): number {
  for (let i = 0; i < 200; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    let runs = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    const budget = BigInt(ms / 5) * 1_000_000n;
    while (elapsed < budget) {
      fn();
      runs++;
      elapsed = process.hrtime.bigint() - start;
    }
    best = Math.min(best, Number(elapsed) / runs);
  }
  return best;
}

function row(what: string, ns: number, per: number, unit: string): string {
  return `${what.padEnd(58)} ${(ns / 1000).toFixed(2).padStart(10)} µs/call ${(ns / per / 1000).toFixed(3).padStart(9)} µs/${unit}`;
}

const lines: string[] = [];
for (const items of [1, 100, 10_000]) {
  const contentData = Array.from({ length: items }, (_, i) => textContent(TEXT, { metadata: { id: String(i) } }));
  const init = { policyId: "policy-violence", contentData, threshold: 0.5 };
  const ms = items >= 10_000 ? 1500 : 300;
  lines.push(
    row(
      `shape check only, ${String(items)} text item(s)`,
      nsPerRun(() => {
        checkMessageShape(EvaluateRequestSchema, init, "", { bytes: 0 });
      }, ms),
      items,
      "item",
    ),
    row(
      `buildEvaluateRequest (all checks + create), ${String(items)}`,
      nsPerRun(() => {
        buildEvaluateRequest(init, DEFAULT_REQUEST_LIMITS);
      }, ms),
      items,
      "item",
    ),
    row(
      `create() alone, ${String(items)}`,
      nsPerRun(() => {
        create(EvaluateRequestSchema, init);
      }, ms),
      items,
      "item",
    ),
    row(
      `create() + toBinary(), ${String(items)}`,
      nsPerRun(() => {
        toBinary(EvaluateRequestSchema, create(EvaluateRequestSchema, init));
      }, ms),
      items,
      "item",
    ),
  );
}
const image = imageContent(new Uint8Array(8 * 1024 * 1024).fill(7));
const imageInit = { policyId: "policy-images", contentData: [image] };
lines.push(
  row(
    "buildEvaluateRequest, one 8 MiB image",
    nsPerRun(() => {
      buildEvaluateRequest(imageInit, DEFAULT_REQUEST_LIMITS);
    }),
    1,
    "item",
  ),
  row(
    "textContent(TEXT)",
    nsPerRun(() => {
      textContent(TEXT);
    }),
    1,
    "item",
  ),
  row(
    "getJob checks (call options + UUID) + create",
    nsPerRun(() => {
      checkCallOptions({ timeoutMs: 1000, headers: { "x-request-id": "abc" } });
      buildGetJobRequest("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    }),
    1,
    "call",
  ),
);
console.log(`Validation cost (Node ${process.version}, ${new Date().toISOString()})`);
for (const line of lines) console.log(line);
