// What one item's content is, read from a file, a URL or standard input: an image told apart from text by its
// extension or its magic bytes, text that must be UTF-8, an http(s) URL. Every problem is a UsageError naming the
// file.

import { readFile } from "node:fs/promises";
import { extname, resolve } from "node:path";
import { UsageError } from "./args.js";

/** The content of one item, in the shape of ContentData's `content` oneof. */
export type ItemContent =
  | { case: "text"; value: string }
  | { case: "image"; value: Uint8Array }
  | { case: "imageUrl"; value: string };

const imageExtensions = new Set([
  ".png",
  ".jpg",
  ".jpeg",
  ".jpe",
  ".jfif",
  ".webp",
  ".gif",
  ".bmp",
  ".tif",
  ".tiff",
  ".heic",
  ".heif",
  ".avif",
  ".ico",
  ".svg",
  ".psd",
]);
const textExtensions = new Set([".txt", ".text", ".md", ".markdown", ".log", ".html", ".htm", ".json", ".csv", ".xml"]);

/**
 * Whether bytes start like an image file: PNG, JPEG, WebP, GIF, BMP, TIFF, ICO, or an ISO-BMFF image (HEIC, AVIF).
 * Images the gateway does not support (everything but PNG, JPEG and WebP) are still images: they are sent as
 * such, and the gateway refuses them with a reason.
 */
export function looksLikeImage(bytes: Uint8Array): boolean {
  const startsWith = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  const ascii = (from: number, text: string) => [...text].every((ch, i) => bytes[from + i] === ch.charCodeAt(0));
  return (
    startsWith(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a) ||
    startsWith(0xff, 0xd8, 0xff) ||
    (ascii(0, "RIFF") && ascii(8, "WEBP")) ||
    ascii(0, "GIF87a") ||
    ascii(0, "GIF89a") ||
    (ascii(0, "BM") && bytes.length >= 26) ||
    startsWith(0x49, 0x49, 0x2a, 0x00) ||
    startsWith(0x4d, 0x4d, 0x00, 0x2a) ||
    startsWith(0x00, 0x00, 0x01, 0x00) ||
    (ascii(4, "ftyp") && ["heic", "heix", "hevc", "mif1", "msf1", "avif", "avis"].some((brand) => ascii(8, brand)))
  );
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text when they are valid UTF-8 without NUL bytes; undefined otherwise. */
export function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Decides what a file's bytes are: an image by its extension, else by its magic bytes, else text when it is valid
 * UTF-8, else an image (unknown binary data, which the gateway will refuse as an unsupported format).
 */
export function contentOfFile(path: string, bytes: Uint8Array): ItemContent {
  const ext = extname(path).toLowerCase();
  if (imageExtensions.has(ext)) return { case: "image", value: bytes };
  const text = asText(bytes);
  if (textExtensions.has(ext) && text !== undefined) return { case: "text", value: text };
  if (looksLikeImage(bytes)) return { case: "image", value: bytes };
  if (text !== undefined) return { case: "text", value: text };
  return { case: "image", value: bytes };
}

/**
 * Reads a content file (`path` relative to `cwd`). Throws UsageError, prefixed with `where`, when it cannot be read
 * or is empty.
 */
export async function readContentFile(path: string, cwd: string, command: string, where = ""): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    // Messages name the path as the user gave it; it is read relative to the command's directory.
    bytes = await readFile(resolve(cwd, path));
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES"
            ? "permission denied"
            : String(error);
    throw new UsageError(`${where}cannot read ${path}: ${why}`, command);
  }
  if (bytes.byteLength === 0)
    throw new UsageError(`${where}${path} is empty; there is nothing to evaluate in it`, command);
  return bytes;
}

/**
 * Reads a stream (standard input) to its end. Rejects when `signal` fires first (Ctrl-C while waiting for a pipe
 * that never closes), so that the command stops at once instead of on a second Ctrl-C.
 */
export function readStdin(stdin: NodeJS.ReadableStream, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stop = () => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
      stdin.pause();
    };
    const onData = (chunk: Buffer | string) => {
      chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: unknown) => {
      stop();
      reject(error);
    };
    const onAbort = () => onError(new Error("interrupted while reading standard input"));
    if (signal?.aborted) return onAbort();
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.on("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Returns `url` when it is an absolute http(s) URL; throws UsageError, prefixed with `where`, otherwise. */
export function checkUrl(url: string, where: string, command: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${where}"${url}" is not a URL; give an absolute http:// or https:// URL`, command);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`${where}"${url}" is not an http:// or https:// URL`, command);
  }
  return url;
}
