// The content items a command evaluates, from wherever the command line says: text arguments, files (images told
// apart from text by extension or magic bytes), image URLs, standard input, or a batch file of many items (JSON
// Lines or CSV, one item per row with an id, a kind and the content). Every problem is a UsageError that names the
// file and the row.

import { dirname, extname, resolve } from "node:path";
import type { ContentDataInit } from "../content.js";
import { UsageError } from "./args.js";
import { CsvError, parseCsv } from "./csv-reader.js";
import {
  asText,
  checkUrl,
  contentOfFile,
  type ItemContent,
  looksLikeImage,
  readContentFile,
  readStdin,
} from "./item-content.js";

/** One item to evaluate. */
export interface InputItem {
  /** Its position in the input, from 0: the order `--ordered` restores. */
  readonly index: number;
  /** The id shown in results: the row's id, the file's path, "stdin", or the argument's number. */
  readonly id: string;
  /** The content. */
  readonly content: ItemContent;
  /** Metadata from the batch file (the row's metadata object, or a CSV file's extra columns). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Where a command's items come from. */
export interface InputSources {
  /** Text arguments, one item each. */
  texts: readonly string[];
  /** Files, one item each: images by extension or magic bytes, anything else as UTF-8 text. */
  files: readonly string[];
  /** Image URLs, one item each. */
  imageUrls: readonly string[];
  /** A batch file (`-` for standard input). */
  batch?: string | undefined;
  /** The batch file's format; default: from its extension. */
  format?: string | undefined;
  /** Standard input, read when nothing else is given (or for `--input -`). */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** The directory relative paths are read from; default: the process's working directory. */
  cwd?: string | undefined;
  /** Stops reading standard input (Ctrl-C). */
  signal?: AbortSignal | undefined;
}

/** The items of a command, and whether they came from a batch file. */
export interface InputBatch {
  items: InputItem[];
  /** Whether the items came from a batch file (`--input`), which is when a progress bar is worth drawing. */
  fromBatchFile: boolean;
}

/** The kinds a batch row may have. */
export const ITEM_KINDS = ["text", "image", "image_url", "file"] as const;

/**
 * Reads every item the sources name, in this order: text arguments, files, image URLs, then the batch file or
 * standard input. Standard input is read when no other source is given (or for `--input -`); it is one item (an
 * image if its bytes look like one, else text without its final line break) unless it is the batch file.
 *
 * @throws UsageError when there is nothing to evaluate, a file cannot be read or is empty, or a batch row is bad.
 */
export async function readInputItems(sources: InputSources, command: string): Promise<InputBatch> {
  const cwd = sources.cwd ?? process.cwd();
  const items: InputItem[] = [];
  const add = (id: string, content: ItemContent, metadata: Record<string, string> = {}) => {
    items.push({ index: items.length, id, content, metadata });
  };
  sources.texts.forEach((text, i) => {
    if (text === "") throw new UsageError(`text argument ${i + 1} is empty; give some text to evaluate`, command);
    add(String(i + 1), { case: "text", value: text });
  });
  for (const path of sources.files) {
    if (path === "-")
      throw new UsageError("--file - is not supported; pipe the content to standard input without --file", command);
    add(path, contentOfFile(path, await readContentFile(path, cwd, command)));
  }
  for (const url of sources.imageUrls) add(url, { case: "imageUrl", value: checkUrl(url, "--image-url: ", command) });

  const nothingElse = items.length === 0 && sources.batch === undefined;
  if (sources.batch !== undefined) {
    const fromStdin = sources.batch === "-";
    const format = batchFormat(sources.batch, sources.format, command);
    if (fromStdin && sources.stdin.isTTY) {
      throw new UsageError(
        "--input - reads the batch from standard input, but standard input is a terminal; pipe the file in",
        command,
      );
    }
    const text = fromStdin
      ? await readStdinBatchText(sources.stdin, command, sources.signal)
      : await readBatchText(sources.batch, cwd, command);
    const name = fromStdin ? "<stdin>" : sources.batch;
    const baseDir = fromStdin ? cwd : dirname(resolve(cwd, sources.batch));
    const rows = format === "csv" ? csvRows(text, name, command) : jsonlRows(text, name, command);
    if (rows.length === 0) throw new UsageError(`${name} has no items; add one item per row`, command);
    for (const row of rows) {
      const where = `${name}:${row.line}: `;
      add(row.id ?? String(items.length + 1), await rowContent(row, baseDir, where, command), row.metadata);
    }
    return { items, fromBatchFile: true };
  }
  if (nothingElse) {
    if (sources.stdin.isTTY) {
      throw new UsageError(
        "nothing to evaluate: give text arguments, --file, --image-url or --input, or pipe content to standard input",
        command,
      );
    }
    const bytes = await readStdin(sources.stdin, sources.signal);
    if (bytes.byteLength === 0) throw new UsageError("standard input is empty; there is nothing to evaluate", command);
    if (looksLikeImage(bytes)) {
      add("stdin", { case: "image", value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    } else {
      const text = asText(bytes);
      if (text === undefined) {
        add("stdin", { case: "image", value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
      } else {
        const trimmed = text.replace(/\r?\n$/, "");
        if (trimmed === "")
          throw new UsageError("standard input holds only a line break; there is nothing to evaluate", command);
        add("stdin", { case: "text", value: trimmed });
      }
    }
  }
  return { items, fromBatchFile: false };
}

function batchFormat(path: string, format: string | undefined, command: string): "jsonl" | "csv" {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (f === "jsonl" || f === "ndjson") return "jsonl";
    if (f === "csv") return "csv";
    throw new UsageError(`--format must be jsonl or csv; got "${format}"`, command);
  }
  if (path === "-") return "jsonl";
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv") return "csv";
  throw new UsageError(
    `cannot tell the format of ${path} from its extension; name it .jsonl or .csv, or pass --format jsonl|csv`,
    command,
  );
}

async function readBatchText(path: string, cwd: string, command: string): Promise<string> {
  const bytes = await readContentFile(path, cwd, command, "--input: ");
  const text = asText(bytes);
  if (text === undefined)
    throw new UsageError(`--input: ${path} is not UTF-8 text; a batch file is JSON Lines or CSV`, command);
  return text;
}

// Decoded like a batch file: strictly, without a byte order mark, so that a bad byte is an error, not a U+FFFD.
async function readStdinBatchText(
  stdin: NodeJS.ReadableStream,
  command: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const text = asText(await readStdin(stdin, signal));
  if (text === undefined)
    throw new UsageError("--input -: standard input is not UTF-8 text; a batch file is JSON Lines or CSV", command);
  return text;
}

/** One row of a batch file, before its content is read. */
interface BatchRow {
  line: number;
  id: string | undefined;
  kind: string;
  content: string;
  metadata: Record<string, string>;
}

const jsonlKeys = new Set(["id", "kind", "content", "metadata"]);

function jsonlRows(text: string, name: string, command: string): BatchRow[] {
  const rows: BatchRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    const where = `${name}:${line}: `;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new UsageError(
        `${where}not valid JSON (${(error as Error).message}); each line is one JSON object`,
        command,
      );
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new UsageError(
        `${where}each line must be a JSON object such as {"id": "1", "kind": "text", "content": "hello"}`,
        command,
      );
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!jsonlKeys.has(key))
        throw new UsageError(`${where}unknown key "${key}"; a row has id, kind, content and metadata`, command);
    }
    const id = record.id;
    if (id !== undefined && ((typeof id !== "string" && typeof id !== "number") || String(id) === "")) {
      throw new UsageError(`${where}"id" must be a non-empty string or a number`, command);
    }
    const kind = record.kind ?? "text";
    if (typeof kind !== "string")
      throw new UsageError(`${where}"kind" must be one of ${ITEM_KINDS.join(", ")}`, command);
    const content = record.content;
    if (typeof content !== "string") throw new UsageError(`${where}"content" is missing or not a string`, command);
    const metadata = record.metadata ?? {};
    if (
      metadata === null ||
      typeof metadata !== "object" ||
      Array.isArray(metadata) ||
      Object.values(metadata).some((v) => typeof v !== "string")
    ) {
      throw new UsageError(`${where}"metadata" must be an object of string values`, command);
    }
    rows.push({
      line,
      id: id === undefined ? undefined : String(id),
      kind,
      content,
      metadata: metadata as Record<string, string>,
    });
  });
  return rows;
}

function csvRows(text: string, name: string, command: string): BatchRow[] {
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvError) throw new UsageError(`${name}: ${error.message}`, command);
    throw error;
  }
  const [header, ...body] = records;
  if (header === undefined) return [];
  const columns = header.fields.map((f) => f.trim());
  const lower = columns.map((c) => c.toLowerCase());
  const col = (name: string) => lower.indexOf(name);
  if (col("content") < 0) {
    throw new UsageError(
      `${name}:1: the header row needs a "content" column (and usually "id" and "kind"), such as: id,kind,content`,
      command,
    );
  }
  const duplicate = lower.find((c, i) => c !== "" && lower.indexOf(c) !== i);
  if (duplicate !== undefined)
    throw new UsageError(`${name}:1: the column "${duplicate}" appears twice in the header`, command);
  const rows: BatchRow[] = [];
  for (const record of body) {
    if (record.fields.length === 1 && record.fields[0] === "") continue;
    const where = `${name}:${record.line}: `;
    if (record.fields.length !== columns.length) {
      throw new UsageError(
        `${where}this row has ${record.fields.length} fields but the header has ${columns.length}; quote fields that contain commas`,
        command,
      );
    }
    const get = (c: string) => (col(c) >= 0 ? record.fields[col(c)]! : undefined);
    const metadata: Record<string, string> = {};
    columns.forEach((c, i) => {
      if (!["id", "kind", "content"].includes(lower[i]!) && c !== "") metadata[c] = record.fields[i]!;
    });
    const id = get("id");
    const kind = get("kind");
    rows.push({
      line: record.line,
      id: id === undefined || id === "" ? undefined : id,
      kind: kind === undefined || kind === "" ? "text" : kind,
      content: get("content")!,
      metadata,
    });
  }
  return rows;
}

const base64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

async function rowContent(row: BatchRow, baseDir: string, where: string, command: string): Promise<ItemContent> {
  switch (row.kind.toLowerCase()) {
    case "text":
      if (row.content === "")
        throw new UsageError(`${where}the text is empty; give some text, or leave the row out`, command);
      return { case: "text", value: row.content };
    case "image": {
      const compact = row.content.replace(/\s+/g, "");
      if (compact === "" || !base64.test(compact)) {
        throw new UsageError(
          `${where}an image row's content is the image's bytes in base64; use kind "file" for a path`,
          command,
        );
      }
      return { case: "image", value: new Uint8Array(Buffer.from(compact, "base64")) };
    }
    case "image_url":
    case "imageurl":
    case "url":
      return { case: "imageUrl", value: checkUrl(row.content, where, command) };
    case "file": {
      if (row.content === "") throw new UsageError(`${where}a file row's content is the file's path`, command);
      const path = resolve(baseDir, row.content);
      return contentOfFile(path, await readContentFile(path, baseDir, command, where));
    }
    default:
      throw new UsageError(`${where}unknown kind "${row.kind}"; use one of ${ITEM_KINDS.join(", ")}`, command);
  }
}

/** The key of the metadata entry the tool adds to every item, to match answers to items. */
export const ITEM_INDEX_KEY = "clavata-cli-index";

/**
 * The ContentData of an item as sent: its content, its own metadata, its id under `id`, and (when `withIndex`)
 * its position under {@link ITEM_INDEX_KEY}, so that answers, which arrive in any order, find their item even when
 * ids repeat.
 */
export function contentDataOf(item: InputItem, withIndex: boolean): ContentDataInit {
  const metadata: Record<string, string> = { ...item.metadata, id: item.id };
  if (withIndex) metadata[ITEM_INDEX_KEY] = String(item.index);
  return { content: item.content, metadata };
}

/** The bytes the gateway hashes for an item: the text or URL as UTF-8, or the image's bytes. */
export function hashedBytesOf(item: InputItem): Uint8Array {
  return item.content.case === "image" ? item.content.value : Buffer.from(item.content.value, "utf8");
}

/** Roughly how many bytes an item adds to a request, for splitting batches under the gateway's message limit. */
export function approximateSizeOf(item: InputItem): number {
  const content = item.content.case === "image" ? item.content.value.byteLength : Buffer.byteLength(item.content.value);
  let metadata = item.id.length + 32;
  for (const [k, v] of Object.entries(item.metadata)) metadata += k.length + v.length + 4;
  return content + metadata;
}
