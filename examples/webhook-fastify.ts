// A webhook receiver on Fastify: the gateway POSTs a finished job here, and the route verifies its secret (sent as
// X-Webhook-Secret) before it reads the job. Create jobs with webhookWithSecret(url, secret) from
// clavata-connect/webhooks and the same secret.
//
//   CLAVATA_WEBHOOK_SECRET=… node dist-examples/webhook-fastify.js          (after npm run build && npm run examples)
//
// PORT (default 3000; 0 picks a free port) sets where it listens.

import { isMatch, JobStatus, matchedLabels } from "clavata-connect";
import { createWebhookMiddleware, WebhookVerificationError } from "clavata-connect/webhooks";
import Fastify from "fastify";

const secret = process.env.CLAVATA_WEBHOOK_SECRET;
if (!secret) {
  console.error("CLAVATA_WEBHOOK_SECRET is not set; set it to the secret your jobs are created with");
  process.exit(2);
}

const webhook = createWebhookMiddleware({
  secret,
  // Answers 200 once this resolves; if it throws, 500, and the gateway delivers the job again.
  onJob: async (job) => {
    console.log(`job ${job.jobUuid} ${JobStatus[job.status]}`);
    for (const result of job.results) {
      const labels = matchedLabels(result).map((l) => l.name);
      console.log(
        `  ${result.report?.contentMetadata.id}: ${isMatch(result) ? `flagged (${labels.join(", ")})` : "fine"}`,
      );
    }
  },
  // A rejected call (a wrong or missing secret: 401), or onJob throwing (500).
  onError: (error, status) =>
    console.log(
      `refused a call: ${status} ${error instanceof WebhookVerificationError ? error.reason : String(error)}`,
    ),
});

const app = Fastify();

// Fastify parses JSON itself; the secret check needs the raw bytes, so this plugin keeps them for its route.
// Jobs with many results can be large: raise bodyLimit (Fastify's default is 1 MiB) to what yours need.
await app.register(async (instance) => {
  instance.addContentTypeParser(
    "application/json",
    { parseAs: "buffer", bodyLimit: 4 * 1024 * 1024 },
    (_req, body, done) => done(null, body),
  );
  instance.post("/clavata", webhook);
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: "127.0.0.1" });
console.log(`listening on ${address}/clavata`);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void app.close());
