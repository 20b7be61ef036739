// A runtime smoke test in plain JavaScript, for runtimes that run Node packages but not vitest (Bun, Deno): the
// built SDK against the built emulator on loopback. It covers the main paths a user takes: a streamed evaluation,
// a refusal, a job whose webhook is received and verified, and the emulator itself. Run after `npm run build`:
//   bun test/runtime/smoke.mjs      deno run -A test/runtime/smoke.mjs      node test/runtime/smoke.mjs
// Prints one line per check and "smoke: ok", and exits 0; any failed check exits 1.

import { createServer } from "node:http";
import { SAMPLE_POLICY_IDS, startEmulator } from "../../dist/esm/src/emulator/index.js";
import {
  ClavataClient,
  EvaluationRefusedError,
  imageContent,
  Outcome,
  RefusalReason,
  textContent,
} from "../../dist/esm/src/index.js";
import {
  createNodeWebhookHandler,
  generateWebhookSecret,
  webhookWithSecret,
} from "../../dist/esm/src/webhooks/index.js";

const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `deno ${globalThis.Deno.version.deno}`
    : `node ${process.versions.node}`;

function check(condition, what) {
  if (!condition) throw new Error(`smoke check failed: ${what}`);
  console.log(`ok - ${what}`);
}

const apiKey = "runtime-smoke-test-key-0123456789";
const emulator = await startEmulator({ logger: false, apiKeys: [apiKey] });
const client = new ClavataClient({ apiKey, baseUrl: emulator.url, insecure: true });
let receiver;
try {
  check(emulator.port > 0, `the emulator listens on ${emulator.url}`);

  const results = [];
  for await (const result of client.evaluate({
    policyId: SAMPLE_POLICY_IDS.violence,
    contentData: [
      textContent("I will hurt you", { metadata: { id: "a" } }),
      textContent("See you tomorrow", { metadata: { id: "b" } }),
    ],
  })) {
    results.push(result);
  }
  const outcomes = Object.fromEntries(
    results.map((r) => [r.policyEvaluationReport?.contentMetadata.id, r.policyEvaluationReport?.reviewResult?.outcome]),
  );
  check(outcomes.a === Outcome.TRUE && outcomes.b === Outcome.FALSE, "a streamed evaluation answers each item");

  const gif = new Uint8Array([...new TextEncoder().encode("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);
  const refusal = await client
    .evaluateOne({ policyId: SAMPLE_POLICY_IDS.violence, contentData: imageContent(gif) })
    .then(
      () => undefined,
      (error) => error,
    );
  check(
    refusal instanceof EvaluationRefusedError && refusal.topReason === RefusalReason.UNSUPPORTED_FORMAT,
    "a GIF is refused with EvaluationRefusedError (UNSUPPORTED_FORMAT)",
  );

  const secret = generateWebhookSecret();
  let resolveJob;
  const delivered = new Promise((resolve) => {
    resolveJob = resolve;
  });
  receiver = createServer(createNodeWebhookHandler({ secret, onJob: async (job) => resolveJob(job) }));
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const hook = webhookWithSecret(`http://127.0.0.1:${receiver.address().port}/hooks/clavata`, secret);
  const job = await client.createJob({
    policyId: SAMPLE_POLICY_IDS.violence,
    contentData: [textContent("I will hurt you")],
    webhook: hook,
  });
  const received = await delivered;
  check(received.jobUuid === job?.jobUuid && received.results.length === 1, "a job's webhook is received and verified");
  const final = await client.waitForJob(job.jobUuid, { pollIntervalMs: 20 });
  check(final.results[0]?.report?.reviewResult?.outcome === Outcome.TRUE, "waitForJob returns the completed job");
} finally {
  await client.close();
  if (receiver) await new Promise((resolve) => receiver.close(resolve));
  await emulator.close();
}
console.log(`smoke: ok (${runtime})`);
