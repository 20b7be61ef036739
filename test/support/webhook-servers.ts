// Loopback servers for the webhook tests: each receiver adapter behind a real node:http server on 127.0.0.1:0,
// the middleware behind small stand-ins for what Express and Fastify do to a request before a route sees it.

import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import { type Job, JobSchema, JobStatus, Outcome } from "../../src/index.js";
import {
  createFetchWebhookHandler,
  createNodeWebhookHandler,
  createWebhookMiddleware,
  type WebhookHandlerOptions,
  WebhookVerificationError,
} from "../../src/webhooks/index.js";
import type { FastifyReplyLike } from "../../src/webhooks/middleware.js";

export interface Loopback {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1 with an ephemeral port; close() ends it and every connection. */
export async function listen(listener: RequestListener): Promise<Loopback> {
  const server = createServer(listener);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/clavata`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads a whole Node request body (what a body parser does). */
function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** How a framework stand-in treats the body before the route: left unread, read raw, parsed as JSON, or raw + parsed. */
export type BodyMode = "unread" | "raw" | "json" | "rawBody" | "express4-skipped";

/**
 * What a body parser of `mode` reads before the route: the raw bytes and, when they are JSON, the parsed value;
 * undefined for the modes that leave the body unread. Each stand-in then places them as its framework does.
 */
async function readBody(
  req: IncomingMessage,
  mode: BodyMode,
): Promise<{ raw: Buffer; parsed: boolean; json?: unknown } | undefined> {
  if (mode !== "raw" && mode !== "json" && mode !== "rawBody") return undefined;
  const raw = await readAll(req);
  try {
    return { raw, parsed: true, json: JSON.parse(raw.toString("utf8")) };
  } catch {
    return { raw, parsed: false };
  }
}

/**
 * An Express stand-in: the request and response are Node's own (as in Express, which extends them), and a body
 * parser may run first: express.raw() leaves a Buffer in req.body, express.json() an object, a `verify` hook a
 * rawBody beside it; Express 4's parsers leave `{}` when they skip a request.
 */
export function expressLike(middleware: ReturnType<typeof createWebhookMiddleware>, mode: BodyMode): RequestListener {
  return async (req, res) => {
    const r = req as IncomingMessage & { body?: unknown; rawBody?: unknown };
    if (mode === "express4-skipped") r.body = {};
    const body = await readBody(req, mode);
    if (body !== undefined) {
      r.body = mode === "raw" ? body.raw : body.parsed ? body.json : {};
      if (mode === "rawBody") r.rawBody = body.raw;
    }
    await middleware(r, res);
  };
}

/**
 * A Fastify stand-in: the route gets a request object with `raw` (the Node request), `headers`, `method` and `body`,
 * and a reply with code()/header()/send() that answers through the Node response. With the default JSON parser the
 * body is an object; with a `parseAs: "buffer"` content type parser a Buffer; fastify-raw-body adds `rawBody`.
 * `replies` records what the handler's promise resolved to.
 */
export function fastifyLike(
  middleware: ReturnType<typeof createWebhookMiddleware>,
  mode: BodyMode,
  resolved: unknown[] = [],
): RequestListener {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const request: {
      method: string;
      headers: IncomingMessage["headers"];
      raw: IncomingMessage;
      body?: unknown;
      rawBody?: unknown;
    } = {
      method: req.method ?? "GET",
      headers: req.headers,
      raw: req,
    };
    const body = await readBody(req, mode);
    if (body !== undefined) {
      request.body = mode === "raw" ? body.raw : body.parsed ? body.json : null;
      if (mode === "rawBody") request.rawBody = body.raw.toString("utf8");
    }
    let status = 200;
    const reply: FastifyReplyLike & { raw: ServerResponse } = {
      raw: res,
      get sent() {
        return res.writableEnded;
      },
      code(statusCode: number) {
        status = statusCode;
        return reply;
      },
      header(name: string, value: string) {
        res.setHeader(name, value);
        return reply;
      },
      send(payload?: string) {
        res.statusCode = status;
        res.end(payload ?? "");
        return reply;
      },
    };
    resolved.push(await middleware(request, reply));
  };
}

/**
 * Serves a fetch-style handler from node:http: converts the Node request to a WHATWG Request (its body streamed, and
 * a cancel of the stream pauses the socket, as a fetch server does) and writes the Response back.
 */
export function fetchLike(handler: (request: Request) => Promise<Response>): RequestListener {
  return async (req, res) => {
    let canceled = false;
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const body = hasBody
      ? new ReadableStream<Uint8Array>({
          start(controller) {
            req.on("data", (chunk: Buffer) => {
              if (!canceled) controller.enqueue(new Uint8Array(chunk));
            });
            req.on("end", () => {
              if (!canceled) controller.close();
            });
            req.on("error", (error) => {
              if (!canceled) controller.error(error);
            });
          },
          cancel() {
            canceled = true;
            req.pause();
          },
        })
      : null;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body,
      ...(body ? { duplex: "half" } : {}),
    } as ConstructorParameters<typeof Request>[1]);
    const response = await handler(request);
    res.statusCode = response.status;
    response.headers.forEach((value, name) => {
      res.setHeader(name, value);
    });
    if (canceled) res.setHeader("connection", "close");
    res.end(Buffer.from(await response.arrayBuffer()));
  };
}

/** The four receivers under test, each made from the same options. */
export const ADAPTERS = {
  "node handler": (options: WebhookHandlerOptions<unknown>) => createNodeWebhookHandler(options),
  "fetch handler": (options: WebhookHandlerOptions<unknown>) => fetchLike(createFetchWebhookHandler(options)),
  "Express middleware": (options: WebhookHandlerOptions<unknown>) =>
    expressLike(createWebhookMiddleware(options), "unread"),
  "Fastify route": (options: WebhookHandlerOptions<unknown>) => fastifyLike(createWebhookMiddleware(options), "raw"),
} satisfies Record<string, (options: WebhookHandlerOptions<unknown>) => RequestListener>;

export type AdapterName = keyof typeof ADAPTERS;

/** A completed job with a result, a report, timestamps and metadata, as a receiver gets it. */
export function sampleJob(jobUuid = "5f0c6d3e-8a51-4c36-9e1b-2f7c1d9a0b44"): Job {
  return create(JobSchema, {
    jobUuid,
    customerId: "customer-1",
    status: JobStatus.COMPLETED,
    policyId: "policy-violence",
    policyVersionId: "policy-violence-v1",
    threshold: 0.5,
    created: timestampFromDate(new Date("2025-01-02T03:04:05.678Z")),
    completed: timestampFromDate(new Date("2025-01-02T03:04:06Z")),
    results: [
      {
        jobUuid,
        report: {
          policyId: "policy-violence",
          contentHash: "fnv1a128::0123456789abcdef",
          contentMetadata: { id: "post-1" },
          reviewResult: { outcome: Outcome.TRUE, score: 0.93 },
          // 32-bit floats: 0.75 is exact, so the job survives the JSON trip unchanged.
          labelMatches: { threats: 0.75 },
          tokenUsage: { inputTokens: 12, billedTokens: 12, multiplier: 1.5 },
        },
      },
    ],
  });
}

/** The WebhookVerificationError a check threw; fails the test if it threw nothing or something else. */
export function rejection(fn: () => unknown): WebhookVerificationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return error as WebhookVerificationError;
  }
  throw new Error("expected a WebhookVerificationError, but nothing was thrown");
}
