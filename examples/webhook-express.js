// A webhook receiver on Express: the gateway POSTs a finished job here, and the route verifies its secret (sent as
// X-Webhook-Secret) before it reads the job. Create jobs with webhookWithSecret(url, secret) from
// clavata-connect/webhooks and the same secret.
//
//   CLAVATA_WEBHOOK_SECRET=… node examples/webhook-express.js
//
// PORT (default 3000; 0 picks a free port) sets where it listens.

import { isMatch, JobStatus, matchedLabels } from "clavata-connect";
import { createWebhookMiddleware, WebhookVerificationError } from "clavata-connect/webhooks";
import express from "express";

const secret = process.env.CLAVATA_WEBHOOK_SECRET;
if (!secret) {
  console.error("CLAVATA_WEBHOOK_SECRET is not set; set it to the secret your jobs are created with");
  process.exit(2);
}

const app = express();

// The route reads the raw body itself, so it comes before any JSON body parser.
app.post(
  "/clavata",
  createWebhookMiddleware({
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
  }),
);
app.use(express.json()); // the rest of your API

const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/clavata`);
});

for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => server.close());
