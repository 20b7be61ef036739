// Receiving webhooks inside Express or Fastify (or Connect, or a bare node:http listener) without depending on any
// of them: the middleware works with whatever body the framework left on the request, and answers through whichever
// response API it is given.

import type { Readable } from "node:stream";
import { type NodeResponseLike, readNodeBody, sendNodeAnswer } from "./node-handler.js";
import {
  handleWebhook,
  parsedBodyError,
  setUpHandler,
  type WebhookAnswer,
  type WebhookHandlerOptions,
  type WebhookHeaders,
  type WebhookReceiver,
} from "./receiver.js";

/**
 * What the middleware reads from a request: an Express request, a Fastify request, or a Node `IncomingMessage`.
 * The raw body is taken from, in order: `rawBody` (fastify-raw-body, or a body parser's `verify` hook), `body` when
 * it is a Buffer or a string (`express.raw()`, or a Fastify content type parser with `parseAs: "buffer"`), else the
 * unread request stream (`raw` for Fastify, the request itself for Express and Node).
 */
export interface WebhookMiddlewareRequest {
  method?: string;
  headers: WebhookHeaders;
  body?: unknown;
  rawBody?: unknown;
  /** Fastify: the Node request underneath. */
  raw?: unknown;
}

/** A Fastify reply, as far as the middleware uses it. */
export interface FastifyReplyLike {
  readonly sent: boolean;
  code(statusCode: number): unknown;
  header(name: string, value: string): unknown;
  send(payload?: string): unknown;
}

/** What the middleware answers through: an Express or Node response, or a Fastify reply. */
export type WebhookMiddlewareResponse = NodeResponseLike | FastifyReplyLike;

const EXPRESS_FIX =
  "register this route before app.use(express.json()) so that its body reaches the receiver unread (the receiver needs no body " +
  'parser; if the route must have one, use express.raw({ type: "application/json" }))';
const FASTIFY_FIX =
  'register the route in a plugin that parses JSON as a buffer, instance.addContentTypeParser("application/json", { parseAs: "buffer" }, ' +
  "(req, body, done) => done(null, body)), or register the fastify-raw-body plugin, whose request.rawBody the receiver uses";

/**
 * Makes a middleware that receives Clavata webhook calls in Express, Fastify, Connect or a bare `node:http` server,
 * with no dependency on any of them: `app.post("/hooks/clavata", express.raw({ type: "application/json" }), mw)` in
 * Express, `fastify.post("/hooks/clavata", mw)` in Fastify (with a buffer content type parser or fastify-raw-body).
 * It checks the method, the secret header (in constant time, any of `secret`), the Content-Type and the size, parses
 * the job from the raw body, awaits `onJob(job, req)`, and answers itself (it never calls `next`): 200 after `onJob`
 * resolved; 401 for a missing or wrong secret; 400 for a wrong Content-Type, bad JSON or a body that is not a job; 413
 * for a body over the limit; 405 with `Allow: POST` for another method; 500 when `onJob` throws, and 500 (reason
 * "parsed_body", with how to fix it in the message and in `onError`) when a body parser already turned the body into
 * an object. Error answers are JSON `{ "error": reason, "message": … }` and never contain a secret or what `onJob`
 * threw.
 *
 * The returned promise never rejects; with a Fastify reply it resolves to the reply, as Fastify expects of an async
 * handler that sends.
 *
 * @throws TypeError at creation when the options are invalid (no onJob, no secret, a bad limit).
 */
export function createWebhookMiddleware<Req extends WebhookMiddlewareRequest = WebhookMiddlewareRequest>(
  options: WebhookHandlerOptions<Req>,
): (req: Req, res: WebhookMiddlewareResponse) => Promise<unknown> {
  const setup = setUpHandler(options, "createWebhookMiddleware");
  return async (req, res) => {
    const fastify = isFastifyReply(res);
    const stream = requestStream(req);
    const answer = await handleWebhook(setup, req, async () => {
      setup.receiver.checkRequest(req.method, req.headers);
      return setup.receiver.parse(await rawBodyOf(req, stream, setup.receiver, fastify ? FASTIFY_FIX : EXPRESS_FIX));
    });
    if (fastify) return sendFastifyAnswer(res, answer, stream);
    if (stream !== undefined) sendNodeAnswer(stream, res, answer);
    else sendWithoutStream(res, answer);
    return undefined;
  };
}

async function rawBodyOf(
  req: WebhookMiddlewareRequest,
  stream: Readable | undefined,
  receiver: WebhookReceiver,
  fix: string,
): Promise<Uint8Array | string> {
  if (req.rawBody !== undefined && req.rawBody !== null) return receiver.rawBody(req.rawBody, fix);
  const { body } = req;
  if (typeof body === "string" || body instanceof ArrayBuffer || ArrayBuffer.isView(body))
    return receiver.rawBody(body, fix);
  // An unread stream wins over a parsed-looking body: Express 4's body parsers set `req.body = {}` even when they
  // skip a request, and then the bytes are all still there.
  if (stream !== undefined && !stream.readableDidRead && !stream.readableEnded) return readNodeBody(stream, receiver);
  throw parsedBodyError(body, fix);
}

function requestStream(req: WebhookMiddlewareRequest): Readable | undefined {
  if (isReadable(req.raw)) return req.raw;
  if (isReadable(req)) return req;
  return undefined;
}

function isReadable(value: unknown): value is Readable {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Readable).on === "function" &&
    typeof (value as Readable).pause === "function" &&
    typeof (value as Readable).readableEnded === "boolean"
  );
}

function isFastifyReply(res: WebhookMiddlewareResponse): res is FastifyReplyLike {
  // A Node or Express response has setHeader; a Fastify reply has code() and header() instead.
  return (
    typeof (res as NodeResponseLike).setHeader !== "function" && typeof (res as FastifyReplyLike).code === "function"
  );
}

function sendFastifyAnswer(
  reply: FastifyReplyLike,
  answer: WebhookAnswer | undefined,
  stream: Readable | undefined,
): unknown {
  if (reply.sent) return reply;
  const { status, headers, body } = answer ?? { status: 400, headers: {}, body: "" };
  reply.code(status);
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  if (status === 413 && stream !== undefined && !stream.readableEnded) reply.header("connection", "close");
  reply.send(body);
  return reply;
}

function sendWithoutStream(res: NodeResponseLike, answer: WebhookAnswer | undefined): void {
  if (res.headersSent || res.writableEnded === true) return;
  const { status, headers, body } = answer ?? { status: 400, headers: {}, body: "" };
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(body);
}
