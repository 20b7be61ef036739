// Batch jobs (REST only): the request builders, the input CSV and its upload
// to the presigned URL, the output file's rows, and the polling of a batch
// job until it is final. ClavataClient's batch methods are thin wrappers over
// these. A presigned URL grants access by itself, so it never appears whole in
// an error or a log line: see redactSignedUrl.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type BatchJob,
  BatchJobState,
  type CancelBatchJobRequest,
  CancelBatchJobRequestSchema,
  type CreateBatchJobRequest,
  CreateBatchJobRequestSchema,
  type GetBatchJobsRequest,
  GetBatchJobsRequestSchema,
} from "../gen/clavata/gateway/v1/batch_pb.js";
import { csvLine, csvRecords } from "./batch-csv.js";
import { InvalidRequestError } from "./errors.js";
import { isLoopbackHost } from "./loopback.js";
import { codeForHttpStatus } from "./transport/rest/http-status.js";
import { ndjsonLines } from "./transport/rest/ndjson.js";
import { describeType, isPlainObject, isWellFormedText } from "./validation/invalid.js";
import { checkMessageShape } from "./validation/message-shape.js";

/** What CreateBatchJob takes; every field is optional. */
export interface CreateBatchJobInit {
  /** A name for the batch job. */
  name?: string;
  /** The policy to evaluate the items against. */
  policyId?: string;
  /** An https:// URL the gateway calls when the batch job completes. */
  webhookUrl?: string;
}

/** Which batch jobs GetBatchJobs returns; no filter returns all. */
export interface BatchJobFilter {
  /** Only these batch jobs. */
  batchJobIds?: readonly string[];
  /** Only batch jobs in these states. */
  states?: readonly BatchJobState[];
}

/** One row of a batch job's input. */
export interface BatchInputItem {
  /** The row's id, unique in the file; the output file's rows carry it. */
  refId: string;
  /** "text", or "image_url" for a public image URL. */
  type: "text" | "image_url";
  /** The text, or the image URL. */
  content: string;
}

/** An input file already in CSV (columns ref_id,type,content), streamed as it is read. */
export interface BatchInputFile {
  /** The file's bytes. */
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
  /** The file's length in bytes: presigned URLs need a Content-Length, so the length must be known up front. */
  size: number;
}

/** How far an upload is. */
export interface UploadProgress {
  /** Bytes handed to the network so far. */
  sentBytes: number;
  /** The file's length in bytes. */
  totalBytes: number;
}

/** Options of `uploadBatchInput`. */
export interface UploadBatchInputOptions {
  /** Called as bytes go out, and once with sentBytes === totalBytes when the upload is accepted. */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the upload; the call throws AbortedError. */
  signal?: AbortSignal;
}

/** What an upload sent. */
export interface UploadResult {
  /** The bytes uploaded. */
  bytes: number;
  /** The data rows (items), when the client built the CSV. */
  rows: number | undefined;
}

/** One row of a batch job's output file, with every column or key the file had. */
export interface BatchOutputRow {
  /** The row's ref_id, as in the input ("" when the row had none). */
  readonly refId: string;
  /** Every column (CSV, as strings) or key (JSON lines, as parsed), unknown ones included, by its name in the file. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Options of `waitForBatchJob`. */
export interface WaitForBatchJobOptions {
  /** How long to wait between polls, in ms. Default 5000; at most 2 147 483 647 (about 24.8 days). */
  pollIntervalMs?: number;
  /** How long to wait in all, in ms, before throwing TimeoutError. Default 3 600 000 (1 hour). */
  timeoutMs?: number;
  /** Stops waiting at once; the call throws AbortedError. */
  signal?: AbortSignal;
  /** Called with the batch job whenever its state changes (for progress display). */
  onStateChange?: (job: BatchJob) => void;
}

/** The states after which a batch job does not change any more. */
export const FINAL_BATCH_JOB_STATES: ReadonlySet<BatchJobState> = new Set([
  BatchJobState.COMPLETED,
  BatchJobState.ERROR,
  BatchJobState.CANCELLED,
]);

/**
 * A presigned URL with its signature removed, safe for errors and logs: the origin and path, and "?[redacted]"
 * when it had a query. Text that is not a URL comes back as "[redacted URL]".
 */
export function redactSignedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search === "" ? "" : "?[redacted]"}`;
  } catch {
    return "[redacted URL]";
  }
}

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field });
}

/**
 * Builds a CreateBatchJobRequest. Throws InvalidRequestError for a request that is not a plain object with only the
 * request's fields, of their types, and for a webhook URL that is not https:// (or loopback).
 */
export function buildCreateBatchJobRequest(init: CreateBatchJobInit = {}): CreateBatchJobRequest {
  if (!isPlainObject(init as unknown)) {
    throw invalid(`the request is ${describeType(init)}; pass a plain object such as { policyId: "…" }`, "request");
  }
  checkMessageShape(CreateBatchJobRequestSchema, init, "", { bytes: 0 });
  if (init.webhookUrl !== undefined) checkTransferUrl(init.webhookUrl, "webhookUrl");
  return create(CreateBatchJobRequestSchema, {
    name: init.name,
    policyId: init.policyId,
    webhookUrl: init.webhookUrl,
  });
}

/**
 * Builds a GetBatchJobsRequest. Throws InvalidRequestError for a filter that is not a plain object with only
 * `batchJobIds` (strings, none empty) and `states` (BatchJobState values).
 */
export function buildGetBatchJobsRequest(filter: BatchJobFilter = {}): GetBatchJobsRequest {
  if (!isPlainObject(filter as unknown)) {
    throw invalid(
      `the filter is ${describeType(filter)}; pass a plain object such as { batchJobIds: ["…"] }`,
      "filter",
    );
  }
  checkMessageShape(GetBatchJobsRequestSchema, filter, "", { bytes: 0 });
  const ids = [...(filter.batchJobIds ?? [])];
  for (const [i, id] of ids.entries()) {
    if (id.trim() === "") throw invalid("a batch job id is empty", `batchJobIds[${i}]`);
  }
  return create(GetBatchJobsRequestSchema, { batchJobIds: ids, states: [...(filter.states ?? [])] });
}

/** Builds a CancelBatchJobRequest. Throws InvalidRequestError for an empty id. */
export function buildCancelBatchJobRequest(batchJobId: string): CancelBatchJobRequest {
  checkBatchJobId(batchJobId);
  return create(CancelBatchJobRequestSchema, { batchJobId });
}

/** Throws InvalidRequestError unless the id is a non-empty string. */
export function checkBatchJobId(batchJobId: unknown): asserts batchJobId is string {
  if (typeof batchJobId !== "string" || batchJobId.trim() === "") {
    throw invalid("batchJobId is empty: pass the batchJobId that createBatchJob returned", "batchJobId");
  }
}

/** Throws InvalidRequestError unless the URL is https://, or http:// to a loopback host (an emulator). */
function checkTransferUrl(url: unknown, field: string): asserts url is string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw invalid(`${field} is not an absolute URL`, field);
  }
  if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopbackHost(u.hostname))) {
    throw invalid(`${field} must be an https:// URL (http:// only to a loopback host)`, field);
  }
}

const utf8 = new TextEncoder();
const CHUNK_BYTES = 64 * 1024;

/**
 * The input CSV of items, header first, as byte chunks of about 64 KiB. Throws InvalidRequestError (naming the
 * item) for an empty or repeated ref_id, an unknown type or empty content.
 */
export function encodeBatchInput(items: Iterable<BatchInputItem>): { chunks: Uint8Array[]; rows: number } {
  const seen = new Set<string>();
  const chunks: Uint8Array[] = [];
  let text = csvLine(["ref_id", "type", "content"]);
  let rows = 0;
  for (const item of items) {
    const where = `items[${rows}]`;
    if (item === null || typeof item !== "object") throw invalid("an item must be { refId, type, content }", where);
    if (typeof item.refId !== "string" || item.refId === "") throw invalid("refId is empty", `${where}.refId`);
    if (seen.has(item.refId))
      throw invalid(`refId "${item.refId}" is used twice; ref_id must be unique`, `${where}.refId`);
    seen.add(item.refId);
    if (item.type !== "text" && item.type !== "image_url") {
      throw invalid(`type "${String(item.type)}" is not "text" or "image_url"`, `${where}.type`);
    }
    if (typeof item.content !== "string" || item.content === "") throw invalid("content is empty", `${where}.content`);
    if (!isWellFormedText(item.content)) {
      throw invalid(
        "content holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot carry; fix the text's encoding",
        `${where}.content`,
      );
    }
    text += csvLine([item.refId, item.type, item.content]);
    rows++;
    if (text.length >= CHUNK_BYTES) {
      chunks.push(utf8.encode(text));
      text = "";
    }
  }
  if (rows === 0) throw invalid("there are no items: a batch job needs at least one", "items");
  if (text !== "") chunks.push(utf8.encode(text));
  return { chunks, rows };
}

/** A stream over byte chunks that reports how many bytes were taken, and fails if the length is not as promised. */
function countingStream(
  source: AsyncIterable<Uint8Array>,
  totalBytes: number,
  onProgress: ((p: UploadProgress) => void) | undefined,
): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  let sentBytes = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done === true) {
        if (sentBytes !== totalBytes) {
          controller.error(new Error(`the file had ${sentBytes} bytes, not the ${totalBytes} given as its size`));
        } else controller.close();
        return;
      }
      sentBytes += next.value.byteLength;
      if (sentBytes > totalBytes) {
        controller.error(new Error(`the file has more than the ${totalBytes} bytes given as its size`));
        return;
      }
      controller.enqueue(next.value);
      onProgress?.({ sentBytes, totalBytes });
    },
    async cancel() {
      await it.return?.();
    },
  });
}

async function* iterate(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (Symbol.asyncIterator in stream) {
    yield* stream as AsyncIterable<Uint8Array>;
    return;
  }
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** An HTTP failure of a presigned URL as the ConnectError the client maps, with the URL redacted. */
async function transferError(what: string, url: string, response: Response): Promise<ConnectError> {
  // Storage services answer XML or text; a short excerpt helps (it never holds the signature, which is in the URL).
  const excerpt = (await response.text().catch(() => "")).replace(/\s+/g, " ").slice(0, 200);
  const hint =
    response.status === 403 ? "; the URL may have expired (it is valid 4 hours): create a new batch job" : "";
  return new ConnectError(
    `${what} ${redactSignedUrl(url)} answered HTTP ${response.status}${hint}${excerpt ? ` (${excerpt})` : ""}`,
    codeForHttpStatus(response.status),
  );
}

function networkError(what: string, url: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(
    `${what} ${redactSignedUrl(url)} failed: ${message}`,
    Code.Unavailable,
    undefined,
    undefined,
    error,
  );
}

/**
 * PUTs the input CSV to a batch job's presigned upload URL: built from `items` (ref_id,type,content, checked), or
 * streamed from a CSV file of known size. Sends only Content-Type and Content-Length: never the API key or the
 * client's headers, which the storage service must not see. Throws InvalidRequestError for bad items or URL, and a
 * ConnectError (the client maps it) when the upload fails; the URL in any message is redacted.
 */
export async function uploadBatchInput(
  uploadUrl: string,
  input: Iterable<BatchInputItem> | BatchInputFile,
  options: UploadBatchInputOptions & { fetch?: typeof globalThis.fetch } = {},
): Promise<UploadResult> {
  checkTransferUrl(uploadUrl, "uploadUrl");
  let source: AsyncIterable<Uint8Array>;
  let totalBytes: number;
  let rows: number | undefined;
  if (input !== null && typeof input === "object" && "stream" in input && "size" in input) {
    if (!Number.isSafeInteger(input.size) || input.size < 0)
      throw invalid("size must be the file's length in bytes", "size");
    source = iterate(input.stream);
    totalBytes = input.size;
  } else {
    if (
      typeof input === "string" ||
      input instanceof Map ||
      typeof (input as Partial<Iterable<BatchInputItem>> | null)?.[Symbol.iterator] !== "function"
    ) {
      throw invalid(
        `input is ${describeType(input)}; pass an array (or other Iterable) of { refId, type, content } items${input instanceof Map ? " (for a Map, map.values())" : ""}, or { stream, size } for a CSV file`,
        "input",
      );
    }
    const encoded = encodeBatchInput(input as Iterable<BatchInputItem>);
    source = (async function* () {
      yield* encoded.chunks;
    })();
    totalBytes = encoded.chunks.reduce((n, c) => n + c.byteLength, 0);
    rows = encoded.rows;
  }
  const fetchFn = options.fetch ?? ((i, init) => globalThis.fetch(i, init));
  let response: Response;
  try {
    response = await fetchFn(uploadUrl, {
      method: "PUT",
      headers: { "content-type": "text/csv", "content-length": String(totalBytes) },
      body: countingStream(source, totalBytes, options.onProgress),
      signal: options.signal,
      // A presigned upload URL never redirects; "manual" keeps the body from going elsewhere (and "error" is not
      // implemented at the edge).
      redirect: "manual",
      // Node.js needs this for a streamed body; other runtimes ignore it.
      duplex: "half",
    } as RequestInit);
  } catch (error) {
    throw networkError("uploading the batch input to", uploadUrl, error, options.signal);
  }
  if (!response.ok) throw await transferError("uploading the batch input: the upload URL", uploadUrl, response);
  await response.body?.cancel();
  options.onProgress?.({ sentBytes: totalBytes, totalBytes });
  return { bytes: totalBytes, rows };
}

/**
 * Downloads a batch job's output file and yields its rows as they arrive. The format is not documented, so both are
 * read: JSON lines (one object per line) and CSV with a header row; which one is decided by the Content-Type, else
 * by the first character. Every column or key is kept, known or not. Sends no API key or client header. Throws a
 * ConnectError (the client maps it) when the download fails, the URL redacted.
 */
export async function* readBatchOutput(
  outputUrl: string,
  options: { signal?: AbortSignal; fetch?: typeof globalThis.fetch } = {},
): AsyncGenerator<BatchOutputRow, void, undefined> {
  checkTransferUrl(outputUrl, "outputFileUrl");
  const fetchFn = options.fetch ?? ((i, init) => globalThis.fetch(i, init));
  let response: Response;
  try {
    response = await fetchFn(outputUrl, { method: "GET", signal: options.signal, redirect: "follow" });
  } catch (error) {
    throw networkError("downloading the output file from", outputUrl, error, options.signal);
  }
  if (!response.ok) throw await transferError("downloading the output file: the output URL", outputUrl, response);
  if (response.body === null) return;
  const type = response.headers.get("content-type") ?? "";
  const text = textChunks(response.body);
  try {
    const firstChunk = await text.next();
    if (firstChunk.done === true) return;
    const rest = (async function* () {
      yield firstChunk.value;
      yield* text;
    })();
    const json =
      /json/i.test(type) ||
      (!/csv/i.test(type) &&
        firstChunk.value
          .replace(/^\uFEFF/, "")
          .trimStart()
          .startsWith("{"));
    if (json) yield* jsonRows(rest);
    else yield* csvRows(rest);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof ConnectError || error instanceof InvalidRequestError) throw error;
    throw new ConnectError(
      `reading the output file from ${redactSignedUrl(outputUrl)} failed: ${error instanceof Error ? error.message : String(error)}`,
      Code.DataLoss,
    );
  }
}

async function* textChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder();
  for await (const bytes of iterate(body)) {
    const s = decoder.decode(bytes, { stream: true });
    if (s !== "") yield s;
  }
  const last = decoder.decode();
  if (last !== "") yield last;
}

function refIdOf(fields: Record<string, unknown>): string {
  const value = fields.ref_id ?? fields.refId;
  return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
}

async function* jsonRows(text: AsyncIterable<string>): AsyncGenerator<BatchOutputRow> {
  const encoder = new TextEncoder();
  const bytes = new ReadableStream<Uint8Array>({
    async start(controller) {
      for await (const s of text) controller.enqueue(encoder.encode(s));
      controller.close();
    },
  });
  for await (const line of ndjsonLines(bytes)) {
    const parsed = JSON.parse(line) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error(`a line is not a JSON object: ${line.slice(0, 80)}`);
    }
    const fields = parsed as Record<string, unknown>;
    yield { refId: refIdOf(fields), fields };
  }
}

async function* csvRows(text: AsyncIterable<string>): AsyncGenerator<BatchOutputRow> {
  let header: string[] | undefined;
  for await (const record of csvRecords(text)) {
    if (header === undefined) {
      header = record.map((h) => h.trim());
      continue;
    }
    const fields: Record<string, string> = {};
    for (const [i, name] of header.entries()) fields[name] = record[i] ?? "";
    // Extra cells beyond the header are kept too, by position.
    for (let i = header.length; i < record.length; i++) fields[`column_${i + 1}`] = record[i]!;
    yield { refId: refIdOf(fields), fields };
  }
}

/**
 * Polls a batch job until it is COMPLETED, ERROR or CANCELLED, and returns it. `poll` fetches the job (undefined
 * when the gateway does not know it); `sleep` waits between polls. Throws TimeoutError-coded ConnectError when it
 * does not finish in time, NOT_FOUND when the job is unknown.
 */
export async function pollBatchJob(
  batchJobId: string,
  options: WaitForBatchJobOptions,
  poll: () => Promise<BatchJob | undefined>,
  sleep: (ms: number) => Promise<void>,
): Promise<BatchJob> {
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 3_600_000;
  const deadlineAt = Date.now() + timeoutMs;
  let lastState: BatchJobState | undefined;
  for (;;) {
    const job = await poll();
    if (job === undefined) {
      throw new ConnectError(`batch job ${batchJobId} not found; check the batchJobId`, Code.NotFound);
    }
    if (job.state !== lastState) {
      lastState = job.state;
      options.onStateChange?.(job);
    }
    if (FINAL_BATCH_JOB_STATES.has(job.state)) return job;
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) {
      throw new ConnectError(
        `batch job ${batchJobId} was still ${BatchJobState[job.state]} after ${timeoutMs} ms; raise timeoutMs, or pass a webhookUrl to createBatchJob`,
        Code.DeadlineExceeded,
      );
    }
    await sleep(Math.min(pollIntervalMs, remaining));
  }
}
