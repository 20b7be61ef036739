// A batch job's files (REST only): the input CSV and its upload to the
// presigned URL, and the output file's rows. A presigned URL grants access by
// itself, so it never appears whole in an error or a log line: see
// redactSignedUrl.

import { Code, ConnectError } from "@connectrpc/connect";
import { CsvRecordTooLongError, csvLine, csvRecords } from "./batch-csv.js";
import { checkNumber } from "./client-options.js";
import { MAX_TIMER_MS } from "./deadlines.js";
import {
  ClavataError,
  InvalidRequestError,
  PermissionDeniedError,
  TimeoutError,
  TransportFailure,
  type TransportFailureKind,
  transportFailureOf,
} from "./errors.js";
import { isLoopbackHost } from "./loopback.js";
import { codeForHttpStatus } from "./transport/rest/http-status.js";
import { ndjsonLines } from "./transport/rest/ndjson.js";
import { describeType, invalidField, isWellFormedText } from "./validation/invalid.js";

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

/** How long an upload or download of a batch job's file may move no bytes before it fails, by default: 60 s. */
export const DEFAULT_TRANSFER_IDLE_TIMEOUT_MS = 60_000;

/**
 * The longest line (JSON lines) or record (CSV) of an output file that `readBatchOutput` reads, in bytes, unless
 * told otherwise: 4 MiB, the default of the client's `maxReceiveMessageBytes`.
 */
export const DEFAULT_MAX_OUTPUT_LINE_BYTES = 4 * 1024 * 1024;

/** Options of `uploadBatchInput`. */
export interface UploadBatchInputOptions {
  /** Called as bytes go out, and once with sentBytes === totalBytes when the upload is accepted. */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the upload; the call throws AbortedError. */
  signal?: AbortSignal;
  /**
   * How long the upload may move no bytes (none taken by the network, no answer) before it fails with
   * TimeoutError, in ms. Time spent waiting for your own stream's next chunk does not count. Default 60 000; at
   * most 2 147 483 647, or `Infinity` for no limit.
   */
  idleTimeoutMs?: number;
}

/** Options of `readBatchOutput`. */
export interface ReadBatchOutputOptions {
  /** Aborts the download; the loop throws AbortedError. */
  signal?: AbortSignal;
  /**
   * How long the download may receive no bytes while a row is wanted before it fails with TimeoutError, in ms; the
   * time your loop spends on each row does not count. Default 60 000; at most 2 147 483 647, or `Infinity` for no
   * limit.
   */
  idleTimeoutMs?: number;
}

/** What the client gives the transfer functions besides the caller's options. @private */
export interface TransferInternals {
  /** The fetch to use: the client's fetch option, else the global one. */
  fetch?: typeof globalThis.fetch;
  /** The longest output line or record to read, in bytes (the client's maxReceiveMessageBytes). */
  maxLineBytes?: number;
  /** Removes the client's secrets from text a storage service sent (a body excerpt in an error). */
  redact?: (text: string) => string;
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

/** Throws InvalidRequestError unless the URL is https://, or http:// to a loopback host (an emulator). */
export function checkTransferUrl(url: unknown, field: string): asserts url is string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw invalidField(`${field} is not an absolute URL`, field);
  }
  if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopbackHost(u.hostname))) {
    throw invalidField(`${field} must be an https:// URL (http:// only to a loopback host)`, field);
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
    if (item === null || typeof item !== "object")
      throw invalidField("an item must be { refId, type, content }", where);
    if (typeof item.refId !== "string" || item.refId === "") throw invalidField("refId is empty", `${where}.refId`);
    if (seen.has(item.refId))
      throw invalidField(`refId "${item.refId}" is used twice; ref_id must be unique`, `${where}.refId`);
    seen.add(item.refId);
    if (item.type !== "text" && item.type !== "image_url") {
      throw invalidField(`type "${String(item.type)}" is not "text" or "image_url"`, `${where}.type`);
    }
    if (typeof item.content !== "string" || item.content === "")
      throw invalidField("content is empty", `${where}.content`);
    if (!isWellFormedText(item.content)) {
      throw invalidField(
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
  if (rows === 0) throw invalidField("there are no items: a batch job needs at least one", "items");
  if (text !== "") chunks.push(utf8.encode(text));
  return { chunks, rows };
}

/** Throws InvalidRequestError unless `idleTimeoutMs` is undefined, a timer's delay in ms, or Infinity. */
function checkIdleTimeout(value: unknown): void {
  checkNumber(value, "idleTimeoutMs", { min: 1, max: MAX_TIMER_MS, infinite: true });
}

/** The abort reason of a transfer that is over; never thrown to the caller. */
const TRANSFER_OVER = new ConnectError("the transfer is over", Code.Canceled);

/**
 * The idle time limit of a transfer, and the signal its fetch runs with. The signal follows the caller's, and aborts
 * with a TimeoutError when the limit, armed whenever the transfer waits on the network, runs out before it is armed
 * again or paused (while the transfer waits on the caller instead).
 */
class IdleWatch {
  readonly #controller = new AbortController();
  readonly #ms: number;
  readonly #caller: AbortSignal | undefined;
  readonly #expired: () => TimeoutError;
  readonly #onCallerAbort = (): void => this.#controller.abort(this.#caller?.reason);
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, caller: AbortSignal | undefined, expired: () => TimeoutError) {
    this.#ms = ms;
    this.#caller = caller;
    this.#expired = expired;
    if (caller?.aborted) this.#controller.abort(caller.reason);
    else caller?.addEventListener("abort", this.#onCallerAbort, { once: true });
  }

  /** The signal to give fetch. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Why the transfer was stopped: the caller's abort reason, or the TimeoutError; undefined while it may go on. */
  get stopped(): unknown {
    return this.#controller.signal.aborted ? this.#controller.signal.reason : undefined;
  }

  /** Starts the limit afresh: the transfer waits on the network now. */
  arm(): void {
    this.pause();
    if (!Number.isFinite(this.#ms) || this.#controller.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#controller.abort(this.#expired());
    }, this.#ms);
    // The transfer's connection keeps a process alive, not its timer. (Edge runtimes return a plain number.)
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops the limit: the transfer waits on the caller now. */
  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Ends the transfer: the timer, the link to the caller's signal, and whatever fetch still has open. */
  dispose(): void {
    this.pause();
    this.#caller?.removeEventListener("abort", this.#onCallerAbort);
    this.#controller.abort(TRANSFER_OVER);
  }
}

/** The TimeoutError of a transfer that moved no bytes for `ms`. */
function idleTimeout(method: string, where: string, ms: number): TimeoutError {
  return new TimeoutError(
    `${method} failed: ${where} moved no bytes for ${String(ms)} ms (idleTimeoutMs): the storage service stopped ` +
      "answering; try again, or raise idleTimeoutMs",
    { code: Code.DeadlineExceeded },
  );
}

/**
 * A stream over byte chunks, in pieces of at most 64 KiB (so that each piece the network takes counts as progress),
 * that reports how many bytes were taken. It fails with an InvalidRequestError, also kept in `inputError`, when the
 * source holds more or fewer bytes than promised (naming `size`), gives something that is not bytes, or fails (naming
 * `stream`). The last promised byte goes out only once the source is known to end there, so that a storage service
 * never receives a complete body of the wrong file. Waiting for the source pauses `watch`.
 */
function countingStream(
  source: AsyncIterable<Uint8Array>,
  totalBytes: number,
  onProgress: ((p: UploadProgress) => void) | undefined,
  watch: IdleWatch,
): { body: ReadableStream<Uint8Array>; inputError: () => InvalidRequestError | undefined } {
  const it = source[Symbol.asyncIterator]();
  let sentBytes = 0;
  let chunk: Uint8Array = new Uint8Array(0);
  let offset = 0;
  let ended = false;
  let inputError: InvalidRequestError | undefined;
  const abandoned = "the upload was abandoned before its end, so nothing was stored";
  /** The source's next non-empty chunk, or undefined at its end; the wait is the caller's, not the network's. */
  const next = async (): Promise<Uint8Array | undefined> => {
    watch.pause();
    try {
      for (;;) {
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          inputError = new InvalidRequestError(`the stream failed while it was read: ${message} (${abandoned})`, {
            code: Code.InvalidArgument,
            field: "stream",
            cause: error,
          });
          throw inputError;
        }
        if (r.done === true) return undefined;
        if (!(r.value instanceof Uint8Array)) {
          inputError = invalidField(
            `the stream gave ${describeType(r.value)}; it must give bytes (Uint8Array or Buffer chunks) (${abandoned})`,
            "stream",
          );
          it.return?.()?.catch(() => {});
          throw inputError;
        }
        if (r.value.byteLength > 0) return r.value;
      }
    } finally {
      watch.arm();
    }
  };
  const tooLong = (atLeast: number): InvalidRequestError => {
    inputError = invalidField(
      `the stream had more than the ${String(totalBytes)} bytes given as size (at least ${String(atLeast)}); pass ` +
        `the file's exact length in bytes (${abandoned})`,
      "size",
    );
    it.return?.()?.catch(() => {});
    return inputError;
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset >= chunk.byteLength) {
        const value = ended ? undefined : await next();
        if (value === undefined) {
          if (sentBytes === totalBytes) {
            controller.close();
          } else {
            inputError = invalidField(
              `the stream had ${String(sentBytes)} bytes, not the ${String(totalBytes)} given as size; pass the ` +
                `file's exact length in bytes (${abandoned})`,
              "size",
            );
            controller.error(inputError);
          }
          return;
        }
        if (sentBytes + value.byteLength > totalBytes) {
          controller.error(tooLong(sentBytes + value.byteLength));
          return;
        }
        chunk = value;
        offset = 0;
      }
      const piece = chunk.subarray(offset, offset + CHUNK_BYTES);
      if (sentBytes + piece.byteLength === totalBytes && !ended) {
        // The last bytes promised: the source must end here.
        const more = await next();
        if (more !== undefined) {
          controller.error(tooLong(totalBytes + more.byteLength));
          return;
        }
        ended = true;
      }
      offset += piece.byteLength;
      sentBytes += piece.byteLength;
      controller.enqueue(piece);
      onProgress?.({ sentBytes, totalBytes });
    },
    async cancel() {
      await it.return?.();
    },
  });
  return { body, inputError: () => inputError };
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

/** The start of a body, as one line of at most 200 characters, for an error message ("" when there is none). */
async function bodyExcerpt(response: Response): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < 1024) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
    }
  } catch {
    // The excerpt only helps; the status says what happened.
  } finally {
    reader.cancel().catch(() => {});
  }
  return oneLine(text);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

/**
 * Text a storage service sent, without the signed URL's query values (an S3 SignatureDoesNotMatch error quotes the
 * signature) and, through `redact`, the client's secrets.
 */
function cleaned(text: string, url: string, redact: ((text: string) => string) | undefined): string {
  let clean = text;
  try {
    for (const value of new URL(url).searchParams.values()) {
      if (value.length < 8) continue;
      clean = clean.replaceAll(value, "[redacted]").replaceAll(encodeURIComponent(value), "[redacted]");
    }
  } catch {
    // A URL that does not parse was refused before anything was sent.
  }
  return redact === undefined ? clean : redact(clean);
}

/**
 * The error of a presigned URL that answered an HTTP error, with the URL redacted: for 401 and 403 a
 * PermissionDeniedError that says the signed URL was refused (no API key goes to it, so the key is not the
 * problem); otherwise the ConnectError the client maps by the status.
 */
async function transferError(
  method: "uploadBatchInput" | "readBatchOutput",
  url: string,
  response: Response,
  redact: ((text: string) => string) | undefined,
): Promise<Error> {
  // Storage services answer XML or text; a short excerpt helps.
  const excerpt = cleaned(await bodyExcerpt(response), url, redact);
  const upload = method === "uploadBatchInput";
  const where = `the ${upload ? "upload" : "output"} URL ${redactSignedUrl(url)}`;
  const said = excerpt === "" ? "" : ` (${excerpt})`;
  if (response.status === 401 || response.status === 403) {
    const fix = upload
      ? "an upload URL is valid 4 hours: create a new batch job and upload to its inputFileUploadUrl"
      : "read the batch job again (getBatchJobs) and use the outputFileUrl it has now";
    // Thrown as it is (the client's error mapping would blame the API key), so the excerpt is shown only when the
    // client's redaction has been applied to it.
    const shown = redact === undefined ? "" : excerpt;
    return new PermissionDeniedError(
      `${method} failed: ${where} was refused (HTTP ${String(response.status)}): the signed URL has expired or is ` +
        `not the one the gateway gave (no API key is sent to it); ${fix}${shown === "" ? "" : ` (${shown})`}`,
      { code: Code.PermissionDenied, rawMessage: shown },
    );
  }
  return new ConnectError(
    `${upload ? "uploading the batch input" : "downloading the output file"}: ${where} answered HTTP ` +
      `${String(response.status)}${said}`,
    codeForHttpStatus(response.status),
  );
}

function networkError(what: string, url: string, error: unknown): ConnectError {
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
 * client's headers, which the storage service must not see. Throws InvalidRequestError for bad items, URL or
 * options, and when the stream's length is not `size`; TimeoutError when the transfer moves no bytes for
 * `idleTimeoutMs`; PermissionDeniedError when the URL is refused; and a ConnectError (the client maps it) when the
 * upload fails otherwise. The URL in any message is redacted.
 */
export async function uploadBatchInput(
  uploadUrl: string,
  input: Iterable<BatchInputItem> | BatchInputFile,
  options: UploadBatchInputOptions & TransferInternals = {},
): Promise<UploadResult> {
  checkTransferUrl(uploadUrl, "uploadUrl");
  checkIdleTimeout(options.idleTimeoutMs);
  let source: AsyncIterable<Uint8Array>;
  let totalBytes: number;
  let rows: number | undefined;
  if (input !== null && typeof input === "object" && "stream" in input && "size" in input) {
    if (!Number.isSafeInteger(input.size) || input.size < 0)
      throw invalidField("size must be the file's length in bytes", "size");
    const stream = input.stream as unknown;
    if (
      stream === null ||
      typeof stream !== "object" ||
      !(Symbol.asyncIterator in stream || typeof (stream as Partial<ReadableStream>).getReader === "function")
    ) {
      throw invalidField(
        `stream is ${describeType(stream)}; pass a ReadableStream or an AsyncIterable of Uint8Array chunks (such as fs.createReadStream(path))`,
        "stream",
      );
    }
    source = iterate(input.stream);
    totalBytes = input.size;
  } else {
    if (
      typeof input === "string" ||
      input instanceof Map ||
      typeof (input as Partial<Iterable<BatchInputItem>> | null)?.[Symbol.iterator] !== "function"
    ) {
      throw invalidField(
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
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_TRANSFER_IDLE_TIMEOUT_MS;
  const watch = new IdleWatch(idleTimeoutMs, options.signal, () =>
    idleTimeout("uploadBatchInput", `the upload to ${redactSignedUrl(uploadUrl)}`, idleTimeoutMs),
  );
  const counted = countingStream(source, totalBytes, options.onProgress, watch);
  try {
    let response: Response;
    try {
      watch.arm();
      response = await fetchFn(uploadUrl, {
        method: "PUT",
        headers: { "content-type": "text/csv", "content-length": String(totalBytes) },
        body: counted.body,
        signal: watch.signal,
        // A presigned upload URL never redirects; "manual" keeps the body from going elsewhere (and "error" is not
        // implemented at the edge).
        redirect: "manual",
        // Node.js needs this for a streamed body; other runtimes ignore it.
        duplex: "half",
      } as RequestInit);
    } catch (error) {
      // The caller's stream (a wrong size, a failure), the caller's abort or the idle limit, before the network's
      // symptom of it.
      throw counted.inputError() ?? watch.stopped ?? networkError("uploading the batch input to", uploadUrl, error);
    }
    // The answer's body is read (an excerpt of an error) under the same idle limit.
    watch.arm();
    if (!response.ok) throw await transferError("uploadBatchInput", uploadUrl, response, options.redact);
    await response.body?.cancel();
  } finally {
    watch.dispose();
  }
  // A server that answered before the stream ended must not make a short, long or broken file pass.
  const inputError = counted.inputError();
  if (inputError !== undefined) throw inputError;
  options.onProgress?.({ sentBytes: totalBytes, totalBytes });
  return { bytes: totalBytes, rows };
}

/**
 * The failure of an output file that is not what it should be, raised as a transport failure so that the client
 * makes it a ServerError (never retried) with this message, through its redaction.
 */
function outputFailure(
  kind: Extract<TransportFailureKind, "malformed-response" | "message-too-large">,
  message: string,
) {
  return new ConnectError(
    message,
    kind === "message-too-large" ? Code.ResourceExhausted : Code.DataLoss,
    undefined,
    undefined,
    new TransportFailure(kind, message),
  );
}

/** The failure of a line or record longer than the read limit. */
function lineTooLong(where: string, row: string, limit: number): ConnectError {
  return outputFailure(
    "message-too-large",
    `${row} of ${where} is longer than ${String(limit)} bytes (the client's maxReceiveMessageBytes); reading ` +
      "stopped there. Raise maxReceiveMessageBytes if the output is expected to hold such rows",
  );
}

const BLANK = new Set([0x20, 0x09, 0x0a, 0x0d]);
const BOM = [0xef, 0xbb, 0xbf];
/** How much blank space an output file may begin with before its first character decides its format. */
const MAX_LEADING_BLANK_BYTES = 64 * 1024;

/**
 * An output file's body, read only when a consumer asks for more: each read from the network runs under the idle
 * limit, and what was read to tell the format is given again first.
 */
class OutputBody {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #watch: IdleWatch;
  readonly #head: Uint8Array[] = [];
  #done = false;

  constructor(body: ReadableStream<Uint8Array>, watch: IdleWatch) {
    this.#reader = body.getReader();
    this.#watch = watch;
  }

  /** The next chunk, or undefined at the end. */
  async read(): Promise<Uint8Array | undefined> {
    const head = this.#head.shift();
    if (head !== undefined) return head;
    return this.#fromNetwork();
  }

  async #fromNetwork(): Promise<Uint8Array | undefined> {
    if (this.#done) return undefined;
    this.#watch.arm();
    try {
      const r = await this.#reader.read();
      if (r.done) {
        this.#done = true;
        return undefined;
      }
      return r.value;
    } finally {
      this.#watch.pause();
    }
  }

  /**
   * Reads on to the first byte that is not a byte order mark or blank space and returns it (undefined for a body
   * with none), keeping what it read for `read`. Throws for a body that begins with more than 64 KiB of blank space.
   */
  async firstCharacter(where: string): Promise<number | undefined> {
    let seen = 0;
    for (;;) {
      const chunk = await this.#fromNetwork();
      if (chunk === undefined) return undefined;
      this.#head.push(chunk);
      for (const byte of chunk) {
        const bom = seen < 3 && byte === BOM[seen];
        seen++;
        if (!bom && !BLANK.has(byte)) return byte;
      }
      if (seen > MAX_LEADING_BLANK_BYTES) {
        throw outputFailure(
          "malformed-response",
          `${where} begins with more than ${String(MAX_LEADING_BLANK_BYTES)} bytes of blank space; it is not CSV or JSON lines`,
        );
      }
    }
  }

  /** What `firstCharacter` read, as one line of at most 200 characters without markup, for an error message. */
  headText(): string {
    const decoder = new TextDecoder();
    let text = "";
    for (const chunk of this.#head) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length >= 4096) break;
    }
    return oneLine(text.slice(0, 4096).replace(/<[^>]*>/g, " "));
  }

  /** The body as a byte stream that reads a chunk only when its reader asks for one. */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const bytes = await this.read();
          if (bytes === undefined) controller.close();
          else controller.enqueue(bytes);
        },
        cancel: () => this.cancel(),
      },
      // Nothing is read ahead of the reader.
      { highWaterMark: 0 },
    );
  }

  /** The body as text, decoded as UTF-8. */
  async *text(): AsyncGenerator<string, void, undefined> {
    const decoder = new TextDecoder();
    for (;;) {
      const bytes = await this.read();
      if (bytes === undefined) break;
      const s = decoder.decode(bytes, { stream: true });
      if (s !== "") yield s;
    }
    const last = decoder.decode();
    if (last !== "") yield last;
  }

  /** Stops the download, unless it ended. */
  async cancel(): Promise<void> {
    this.#head.length = 0;
    if (this.#done) return;
    this.#done = true;
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * Downloads a batch job's output file and yields its rows as they are read: the download goes on only as the loop
 * asks for rows, and stops when the loop is left. The format is not documented, so both are read: JSON lines (one
 * object per line) and CSV with a header row; which one is decided by the Content-Type, else by the first character.
 * Every column or key is kept, known or not. Sends no API key or client header. Throws InvalidRequestError for a bad
 * URL or options; TimeoutError when no bytes arrive for `idleTimeoutMs` while a row is wanted; PermissionDeniedError
 * when the URL is refused; and a ConnectError (the client maps it: a ServerError for a file that is not CSV or JSON
 * lines, is cut short, or has a line longer than `maxLineBytes`) otherwise. The URL in any message is redacted.
 */
export async function* readBatchOutput(
  outputUrl: string,
  options: ReadBatchOutputOptions & TransferInternals = {},
): AsyncGenerator<BatchOutputRow, void, undefined> {
  checkTransferUrl(outputUrl, "outputFileUrl");
  checkIdleTimeout(options.idleTimeoutMs);
  const fetchFn = options.fetch ?? ((i, init) => globalThis.fetch(i, init));
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_TRANSFER_IDLE_TIMEOUT_MS;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_OUTPUT_LINE_BYTES;
  const where = `the output file ${redactSignedUrl(outputUrl)}`;
  const watch = new IdleWatch(idleTimeoutMs, options.signal, () =>
    idleTimeout("readBatchOutput", `the download of ${where}`, idleTimeoutMs),
  );
  let body: OutputBody | undefined;
  try {
    let response: Response;
    try {
      watch.arm();
      response = await fetchFn(outputUrl, { method: "GET", signal: watch.signal, redirect: "follow" });
    } catch (error) {
      throw watch.stopped ?? networkError("downloading the output file from", outputUrl, error);
    }
    if (!response.ok) throw await transferError("readBatchOutput", outputUrl, response, options.redact);
    watch.pause();
    if (response.body === null) return;
    body = new OutputBody(response.body, watch);
    const type = (response.headers.get("content-type") ?? "").toLowerCase();
    const first = await body.firstCharacter(where);
    if (first === undefined) return;
    // An error page that came with 200 (a proxy's "Access Denied") must not pass for a file without rows.
    if (/html|xml/.test(type) || first === 0x3c) {
      const page = cleaned(body.headText(), outputUrl, options.redact);
      throw outputFailure(
        "malformed-response",
        `${where} is ${/html|xml/.test(type) ? type.split(";")[0]!.trim() : "an HTML or XML page"}, not CSV ` +
          `or JSON lines${page === "" ? "" : ` (${page})`}; check that the URL is the batch job's outputFileUrl`,
      );
    }
    const json = /json/.test(type) || (!/csv/.test(type) && first === 0x7b);
    if (json) yield* jsonRows(body, where, maxLineBytes);
    else yield* csvRows(body, where, maxLineBytes);
  } catch (error) {
    const stopped = watch.stopped;
    if (stopped !== undefined) throw stopped;
    if (error instanceof ConnectError || error instanceof ClavataError) throw error;
    throw outputFailure(
      "malformed-response",
      `reading ${where} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    // Left early or failed: the rest of the file is not downloaded.
    await body?.cancel();
    watch.dispose();
  }
}

function refIdOf(fields: Record<string, unknown>): string {
  const value = fields.ref_id ?? fields.refId;
  return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
}

async function* jsonRows(body: OutputBody, where: string, maxLineBytes: number): AsyncGenerator<BatchOutputRow> {
  let row = 0;
  try {
    for await (const line of ndjsonLines(body.stream(), maxLineBytes)) {
      row++;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        throw outputFailure(
          "malformed-response",
          `row ${String(row)} of ${where} is not JSON (${(error as Error).message}); the file may be cut short`,
        );
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw outputFailure(
          "malformed-response",
          `row ${String(row)} of ${where} is not a JSON object: ${line.slice(0, 80)}`,
        );
      }
      const fields = parsed as Record<string, unknown>;
      yield { refId: refIdOf(fields), fields };
    }
  } catch (error) {
    // ndjsonLines's own message speaks of the gateway; this one names the file and the row.
    if (transportFailureOf(error)?.kind === "message-too-large") {
      throw lineTooLong(where, `row ${String(row + 1)}`, maxLineBytes);
    }
    throw error;
  }
}

async function* csvRows(body: OutputBody, where: string, maxLineBytes: number): AsyncGenerator<BatchOutputRow> {
  let header: string[] | undefined;
  let row = 0;
  try {
    for await (const record of csvRecords(body.text(), { maxRecordBytes: maxLineBytes })) {
      if (header === undefined) {
        header = record.map((h) => h.trim());
        continue;
      }
      row++;
      const fields: Record<string, string> = {};
      for (const [i, name] of header.entries()) fields[name] = record[i] ?? "";
      if (record.length < header.length) {
        const refId = refIdOf(fields);
        throw outputFailure(
          "malformed-response",
          `row ${String(row)} of ${where}${refId === "" ? "" : ` (ref_id ${JSON.stringify(refId.slice(0, 80))})`} ` +
            `has ${String(record.length)} cells, but the header has ${String(header.length)} columns; the file may ` +
            "be cut short",
        );
      }
      // Extra cells beyond the header are kept too, by position.
      for (let i = header.length; i < record.length; i++) fields[`column_${i + 1}`] = record[i]!;
      yield { refId: refIdOf(fields), fields };
    }
  } catch (error) {
    if (error instanceof CsvRecordTooLongError) {
      throw lineTooLong(where, error.record === 1 ? "the header" : `row ${String(error.record - 1)}`, maxLineBytes);
    }
    throw error;
  }
}
