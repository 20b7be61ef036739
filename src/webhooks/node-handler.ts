// Receiving webhooks with Node's own http server: `http.createServer(createNodeWebhookHandler({ … }))`.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import {
  handleWebhook,
  RequestAbortedError,
  setUpHandler,
  type WebhookAnswer,
  type WebhookHandlerOptions,
  type WebhookReceiver,
} from "./receiver.js";
import { WebhookVerificationError } from "./verification-error.js";

/**
 * Makes a request handler for `node:http` (or `node:https`) that receives Clavata webhook calls: it checks the
 * method, the secret header (in constant time, any of `secret`), the Content-Type and the size (reading at most
 * `maxBodyBytes`, and no further once over), parses the job, awaits `onJob(job, req)`, and answers:
 * 200 after `onJob` resolved; 401 for a missing or wrong secret; 400 for a wrong Content-Type, bad JSON or a body that
 * is not a job; 413 for a body over the limit (and the connection is closed); 405 with `Allow: POST` for another
 * method; 500 when `onJob` throws (the error goes to `onError`). Error answers are JSON `{ "error": reason,
 * "message": … }`; they never contain a secret or what `onJob` threw.
 *
 * Use it as the whole server (`http.createServer(handler)`) or call it for one path from your own request listener.
 * The promise it returns settles once the answer is sent, and never rejects.
 *
 * @throws TypeError at creation when the options are invalid (no onJob, no secret, a bad limit).
 */
export function createNodeWebhookHandler(
  options: WebhookHandlerOptions<IncomingMessage>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const setup = setUpHandler(options, "createNodeWebhookHandler");
  return async (req, res) => {
    const answer = await handleWebhook(setup, req, async () => {
      setup.receiver.checkRequest(req.method, req.headers);
      return setup.receiver.parse(await readNodeBody(req, setup.receiver));
    });
    sendNodeAnswer(req, res, answer);
  };
}

/**
 * Reads a Node request body to its end, failing as soon as it grows over the limit. Once over, it stops reading: the
 * stream is paused and left, and the answer closes the connection.
 *
 * @throws (rejects) WebhookVerificationError "too_large", or "parsed_body" when something else already read the body;
 *   RequestAbortedError when the sender went away.
 * @internal
 */
export function readNodeBody(stream: Readable, receiver: WebhookReceiver): Promise<Buffer> {
  if (stream.readableDidRead || stream.readableEnded) {
    return Promise.reject(
      new WebhookVerificationError(
        "parsed_body",
        "the request body was already read by something that ran before the webhook receiver; mount the receiver before any body parser, or give it the raw body",
      ),
    );
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onAborted);
      stream.off("close", onAborted);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      size += bytes.byteLength;
      if (size > receiver.maxBodyBytes) {
        stop();
        stream.pause();
        try {
          receiver.tooLarge();
        } catch (error) {
          reject(error);
        }
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onAborted = (cause?: unknown) => {
      stop();
      reject(new RequestAbortedError("the sender closed the connection before the whole body arrived", { cause }));
    };
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onAborted);
    stream.on("close", onAborted);
  });
}

/**
 * What the adapters use of a Node `ServerResponse` (and so of an Express response).
 * @internal
 */
export interface NodeResponseLike {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded?: boolean;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/**
 * Sends an answer on a Node response. After a 413 the rest of the body is never read, so the connection is closed
 * instead of being drained for reuse.
 * @internal
 */
export function sendNodeAnswer(req: Readable, res: NodeResponseLike, answer: WebhookAnswer | undefined): void {
  if (answer === undefined) {
    req.destroy();
    return;
  }
  if (res.headersSent || res.writableEnded === true) return;
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  if (answer.status === 413 && !req.readableEnded) res.setHeader("connection", "close");
  res.end(answer.body);
}
