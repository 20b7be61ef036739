// A moderation middleware for an HTTP API on node:http: every comment posted to POST /comments is evaluated against
// a policy before the handler stores it. A comment that matches is refused with 422 and the labels it matched; when
// the gateway cannot be asked, the middleware fails closed with 503, so nothing unchecked gets through.
//
//   CLAVATA_API_KEY=… node dist-examples/moderation-middleware.js            (after npm run build && npm run examples)
//   curl -X POST localhost:3000/comments -H 'content-type: application/json' -d '{"text":"I will hurt you"}'
//
// PORT (default 3000; 0 picks a free port) and POLICY_ID (default policy-violence) configure it. CLAVATA_HOST,
// CLAVATA_PORT and CLAVATA_INSECURE=1 point it at a local gateway or the emulator, as they do for the clavata CLI.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ClavataClient,
  ClavataError,
  EvaluationRefusedError,
  matchedLabels,
  textContent,
  verdictOf,
} from "clavata-connect";

type Handler = (req: IncomingMessage, res: ServerResponse, body: { text: string }) => Promise<void> | void;

const policyId = process.env.POLICY_ID ?? "policy-violence";
const client = new ClavataClient({
  host: process.env.CLAVATA_HOST || undefined,
  port: process.env.CLAVATA_PORT ? Number(process.env.CLAVATA_PORT) : undefined,
  insecure: process.env.CLAVATA_INSECURE === "1",
  timeoutMs: 10_000, // an API request should not wait long for its moderation
});

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/** Wraps a handler: parses the JSON body, evaluates its `text`, and calls the handler only for a clear verdict. */
export function moderate(handler: Handler): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let body: unknown;
    try {
      body = await readJson(req);
    } catch {
      return send(res, 400, { error: "the body must be JSON" });
    }
    const text = (body as { text?: unknown } | null)?.text;
    if (typeof text !== "string" || text.trim() === "") return send(res, 400, { error: 'send {"text": "…"}' });
    try {
      const result = await client.evaluateOne({ policyId, contentData: textContent(text) });
      const verdict = verdictOf(result);
      if (verdict.outcome !== "clear") {
        // "match", and also "failed" or "unknown": content nobody cleared does not pass.
        return send(res, 422, {
          error: "rejected by moderation",
          outcome: verdict.outcome,
          labels: matchedLabels(result),
        });
      }
    } catch (err) {
      if (err instanceof EvaluationRefusedError) return send(res, 422, { error: "refused", reason: err.topReason });
      if (err instanceof ClavataError) {
        console.error(`moderation unavailable: ${err.message}`);
        return send(res, 503, { error: "moderation is unavailable; try again later" });
      }
      throw err;
    }
    await handler(req, res, { text });
  };
}

const comments: string[] = [];

const postComment = moderate((_req, res, { text }) => {
  comments.push(text);
  send(res, 201, { id: comments.length, text });
});

const server = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/comments") {
    postComment(req, res).catch((err: unknown) => {
      console.error(err);
      if (!res.headersSent) send(res, 500, { error: "internal error" });
    });
  } else if (req.method === "GET" && req.url === "/comments") {
    send(res, 200, comments);
  } else {
    send(res, 404, { error: "not found" });
  }
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${String((server.address() as AddressInfo).port)}`);
});

// Ctrl-C or SIGTERM: stop taking requests, then close the client (graceful-shutdown.js shows this in full).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => void client.close()));
}
