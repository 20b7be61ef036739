// `npm run demo`: a tour of the SDK on a fresh machine. Starts the gateway emulator in this process and runs what a
// moderation backend does: a batch of comments streamed against three policies, images (one refused), a labels
// evaluation, and a background job whose webhook is received on loopback and verified with its secret. Needs no
// account and no network; exits 0 when every step worked.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Job, JobStatus, Outcome, type PolicyEvaluationReport } from "../../gen/clavata/shared/v1/public_pb.js";
import { ClavataClient } from "../client.js";
import { imageContent, textContent } from "../content.js";
import {
  makePng,
  SAMPLE_LABEL_VERSION_IDS,
  SAMPLE_POLICY_IDS,
  sampleKnownImage,
  startEmulator,
} from "../emulator/index.js";
import { EMULATOR_LOCAL_API_KEY } from "../emulator/local-api-key.js";
import { EvaluationRefusedError } from "../errors.js";
import {
  createNodeWebhookHandler,
  createTestWebhookRequest,
  generateWebhookSecret,
  webhookWithSecret,
} from "../webhooks/index.js";

const out = (line = "") => process.stdout.write(`${line}\n`);

function heading(title: string): void {
  out();
  out(`── ${title} ${"─".repeat(Math.max(3, 100 - title.length))}`);
}

function quoted(text: string, width: number): string {
  const q = `"${text}"`;
  return q.length > width ? `${q.slice(0, width - 2)}…"` : q.padEnd(width);
}

/** The verdict of a report in a moderator's words: the action of the strongest matched label, or "clear". */
function verdict(report: PolicyEvaluationReport | undefined): string {
  if (report === undefined) return "no report";
  if (report.reviewResult?.outcome !== Outcome.TRUE) return "clear";
  const matched = report.sectionEvaluationReports
    .filter((s) => s.reviewResult?.outcome === Outcome.TRUE)
    .sort((a, b) => (b.reviewResult?.score ?? 0) - (a.reviewResult?.score ?? 0));
  const top = matched[0];
  return top === undefined ? "match" : `${top.message} ${top.name} ${(top.reviewResult?.score ?? 0).toFixed(2)}`;
}

const comments = [
  { id: "c1", text: "Great photo, thanks for sharing!" },
  { id: "c2", text: "If you post that again I will hurt you." },
  { id: "c3", text: "In the movie the character screams 'I will kill you' and it is chilling." },
  { id: "c4", text: "BUY NOW!!! Free money, click here: http://deals.example/win" },
  { id: "c5", text: "You're such a loser, nobody likes you." },
  { id: "c6", text: "I'm such an idiot, I forgot my keys again." },
  { id: "c7", text: "Selling my old hunting rifle, message me." },
  { id: "c8", text: "News report: according to police, the suspect shouted 'I will shoot'." },
  { id: "c9", text: "He lives at 12 Oak Street, everyone go visit him." },
];

/** The labels a report matched, as "ACTION Label score", strongest action first. */
function matchedLabels(report: PolicyEvaluationReport | undefined): Array<{ text: string; rank: number }> {
  if (report?.reviewResult?.outcome !== Outcome.TRUE) return [];
  return report.sectionEvaluationReports
    .filter((s) => s.reviewResult?.outcome === Outcome.TRUE)
    .map((s) => ({
      text: `${s.message} ${s.name} ${(s.reviewResult?.score ?? 0).toFixed(2)}`,
      rank: (actionRank[s.message] ?? 0) * 10 + (s.reviewResult?.score ?? 0),
    }));
}

const actionRank: Record<string, number> = { BLOCK: 3, REVIEW: 2, WARN: 1 };

async function moderateComments(client: ClavataClient): Promise<void> {
  heading("1. A batch of comments, streamed (client.evaluate)");
  const policies = [SAMPLE_POLICY_IDS.violence, SAMPLE_POLICY_IDS.spam, SAMPLE_POLICY_IDS.harassment];
  out(`${comments.length} comments against ${policies.join(", ")}: one stream per policy, all three at once.`);
  out("Answers arrive in any order; each finds its comment through the metadata sent with it.");
  out();
  const matches = new Map<string, Array<{ text: string; rank: number }>>();
  let input = 0;
  let billed = 0;
  await Promise.all(
    policies.map(async (policyId) => {
      const stream = client.evaluate({
        policyId,
        contentData: comments.map((c) => textContent(c.text, { metadata: { id: c.id } })),
      });
      for await (const response of stream) {
        const report = response.policyEvaluationReport;
        const id = report?.contentMetadata.id ?? response.contentHash;
        matches.set(id, [...(matches.get(id) ?? []), ...matchedLabels(report)]);
        input += report?.tokenUsage?.inputTokens ?? 0;
        billed += report?.tokenUsage?.billedTokens ?? 0;
      }
    }),
  );
  out(`  ${"ID".padEnd(4)}${"COMMENT".padEnd(42)}VERDICT`);
  let flagged = 0;
  for (const c of comments) {
    const found = (matches.get(c.id) ?? []).sort((a, b) => b.rank - a.rank);
    if (found.length > 0) flagged++;
    out(
      `  ${c.id.padEnd(4)}${quoted(c.text, 40)}  ${found.length === 0 ? "clear" : found.map((m) => m.text).join(", ")}`,
    );
  }
  out();
  out(
    `${flagged} of ${comments.length} comments need action; c3, c6 and c8 are cleared by exceptions (fiction, self-talk, news).`,
  );
  out(`Tokens: ${input} input, ${billed} billed (policy-spam bills 1.5 times its input).`);
}

async function moderateImages(client: ClavataClient): Promise<void> {
  heading("2. Images, one call each (client.evaluateOne)");
  out("The gateway refuses images it cannot evaluate, and a refusal ends the whole call. With one image per call,");
  out("each refusal names its image; the SDK throws EvaluationRefusedError with the reason and the content hash.");
  out();
  const png = makePng(64, 48, { color: [30, 120, 200] });
  const images = [
    { id: "photo.png", bytes: png },
    { id: "flagged.png", bytes: sampleKnownImage() },
    {
      id: "banner.gif",
      bytes: Uint8Array.from(Buffer.from("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00;", "latin1")),
    },
    { id: "broken.png", bytes: png.subarray(0, 40) },
  ];
  const results = await Promise.allSettled(
    images.map((image) =>
      client.evaluateOne({
        policyId: SAMPLE_POLICY_IDS.images,
        contentData: imageContent(image.bytes, { metadata: { id: image.id } }),
      }),
    ),
  );
  results.forEach((result, i) => {
    const id = images[i]!.id.padEnd(13);
    if (result.status === "fulfilled") {
      out(`  ${id}${verdict(result.value.policyEvaluationReport)}`);
    } else if (result.reason instanceof EvaluationRefusedError) {
      const refusal = result.reason.refusals[0]!;
      out(`  ${id}refused: ${refusal.reason} (${refusal.message}), content hash ${refusal.contentHash}`);
    } else {
      throw result.reason;
    }
  });
}

async function evaluateLabels(client: ClavataClient): Promise<void> {
  heading("3. Labels (client.evaluateLabels)");
  const text = "You're pathetic and nobody likes you. Call me at 555-123-4567.";
  out(`One item against three label versions, without a whole policy: "${text}"`);
  out();
  const ids = [
    SAMPLE_LABEL_VERSION_IDS.insults,
    SAMPLE_LABEL_VERSION_IDS.personalInformation,
    SAMPLE_LABEL_VERSION_IDS.threats,
  ];
  const response = await client.evaluateLabels({ contentData: textContent(text), labelVersionIds: ids });
  for (const result of response.results) {
    const evaluation = result.evaluation;
    const outcome =
      result.error !== "" ? `error: ${result.error}` : evaluation?.outcome === Outcome.TRUE ? "match" : "clear";
    out(`  ${result.labelVersionId.padEnd(32)}${outcome.padEnd(7)}${(evaluation?.score ?? 0).toFixed(2)}`);
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

async function jobWithWebhook(client: ClavataClient): Promise<void> {
  heading("4. A background job with a webhook (client.createJob + clavata-connect/webhooks)");
  const secret = generateWebhookSecret();
  let received!: (job: Job) => void;
  const delivered = new Promise<Job>((resolve) => (received = resolve));
  // Only a call that carries the secret reaches onJob; the handler answers 401 to anything else.
  const server = createServer(createNodeWebhookHandler({ secret, onJob: (job) => received(job), onError: () => {} }));
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/clavata-webhook`;
  try {
    out(`Webhook receiver on ${url}; it checks X-Webhook-Secret in constant time.`);
    const messages = [
      { id: "m1", text: "See you at practice tomorrow!" },
      { id: "m2", text: "I'm going to stab you after school." },
      { id: "m3", text: "Anyone want to trade ammo for a pistol?" },
    ];
    const created = await client.createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: messages.map((m) => textContent(m.text, { metadata: { id: m.id } })),
      webhook: webhookWithSecret(url, secret),
    });
    out(`Job ${created.jobUuid} created: ${JobStatus[created.status]}. Waiting for the gateway's call…`);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the webhook did not arrive within 10 s")), 10_000).unref(),
    );
    const job = await Promise.race([delivered, timeout]);
    out(`Webhook received and verified: job ${JobStatus[job.status]}, ${job.results.length} results.`);
    for (const result of job.results) {
      const report = result.report;
      const id = report?.contentMetadata.id ?? "?";
      const text = messages.find((m) => m.id === id)?.text ?? "";
      out(`  ${id.padEnd(4)}${quoted(text, 40)}  ${verdict(report)}`);
    }
    const forged = createTestWebhookRequest(job, { secret: "not-the-secret" });
    const answer = await fetch(url, forged);
    const body = (await answer.json()) as { error?: string };
    out(`A forged call with the wrong secret got ${answer.status} (${body.error ?? "rejected"}).`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

async function main(): Promise<void> {
  // npm run demo | head: a closed pipe ends the demo quietly.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
  });
  const started = Date.now();
  const emulator = await startEmulator({ port: 0, logger: false });
  // Any API key works with the emulator; against the real gateway, set CLAVATA_API_KEY instead.
  const client = new ClavataClient({ baseUrl: emulator.url, insecure: true, apiKey: EMULATOR_LOCAL_API_KEY });
  try {
    out("Clavata demo: content moderation with clavata-connect, on a local gateway emulator");
    out(`Emulator at ${emulator.url} with the sample policies; no account and no network needed.`);
    await moderateComments(client);
    await moderateImages(client);
    await evaluateLabels(client);
    await jobWithWebhook(client);
    heading("Next");
    out("The command-line tool does the same (in this repository; where the package is installed, run npx clavata):");
    out(
      '  npm run --silent clavata -- evaluate --emulator --policy policy-violence "I will hurt you" "See you tomorrow"',
    );
    out("  npm run --silent clavata -- --help");
    out("Against the real gateway: export CLAVATA_API_KEY=<your key> and drop --emulator.");
    out();
    out(`Demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  } finally {
    await client.close();
    await emulator.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
