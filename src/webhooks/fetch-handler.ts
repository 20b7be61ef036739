// Receiving webhooks with WHATWG Request and Response objects: fetch-style servers (Deno.serve, Bun.serve, Hono,
// Next.js route handlers) and edge runtimes.

import {
  handleWebhook,
  RequestAbortedError,
  setUpHandler,
  type WebhookHandlerOptions,
  type WebhookReceiver,
} from "./receiver.js";
import { WebhookVerificationError } from "./verification-error.js";

/**
 * Makes a handler from a WHATWG `Request` to a `Response` that receives Clavata webhook calls: it checks the method,
 * the secret header (in constant time, any of `secret`), the Content-Type and the size (reading at most
 * `maxBodyBytes`, then cancelling the body stream), parses the job, awaits `onJob(job, request)`, and answers:
 * 200 after `onJob` resolved; 401 for a missing or wrong secret; 400 for a wrong Content-Type, bad JSON or a body that
 * is not a job; 413 for a body over the limit; 405 with `Allow: POST` for another method; 500 when `onJob` throws or
 * when the body was already read (`bodyUsed`). Error answers are JSON `{ "error": reason, "message": … }` and never
 * contain a secret or what `onJob` threw.
 *
 * It needs `node:crypto` for the constant-time comparison, so it runs on Node, Deno, Bun, and Cloudflare Workers
 * with the nodejs_compat flag. The promise it returns never rejects.
 *
 * @throws TypeError at creation when the options are invalid (no onJob, no secret, a bad limit).
 */
export function createFetchWebhookHandler(
  options: WebhookHandlerOptions<Request>,
): (request: Request) => Promise<Response> {
  const setup = setUpHandler(options, "createFetchWebhookHandler");
  return async (request) => {
    const answer = await handleWebhook(setup, request, async () => {
      setup.receiver.checkRequest(request.method, request.headers);
      return setup.receiver.parse(await readRequestBody(request, setup.receiver));
    });
    // No answer means the sender went away; a Response must still be returned, and nobody will read it.
    if (answer === undefined) return new Response(null, { status: 400 });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  };
}

async function readRequestBody(request: Request, receiver: WebhookReceiver): Promise<Uint8Array> {
  if (request.bodyUsed) {
    throw new WebhookVerificationError(
      "parsed_body",
      "the Request's body was already read (bodyUsed) before the webhook receiver got it; pass the Request before anything reads its body, or pass request.clone()",
    );
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (cause) {
      throw new RequestAbortedError("the request body could not be read to its end", { cause });
    }
    if (chunk.done) break;
    size += chunk.value.byteLength;
    if (size > receiver.maxBodyBytes) {
      // Cancelling tells the runtime that no more of the body is wanted.
      reader.cancel().catch(() => {});
      receiver.tooLarge();
    }
    chunks.push(chunk.value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}
