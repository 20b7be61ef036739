// Content items: helpers that build a ContentData for each kind of content,
// and the check that every item a call sends has exactly one valid kind.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { ContentDataSchema } from "../gen/clavata/shared/v1/public_pb.js";
import { InvalidRequestError } from "./errors.js";

/** A content item as a plain object, as every call accepts it (`MessageInitShape` of ContentData). */
export type ContentDataInit = MessageInitShape<typeof ContentDataSchema>;

/** What can go with any content item. */
export interface ContentOptions {
  /**
   * Your own string keys and values, echoed back in the report's `contentMetadata`: use them to match results to
   * inputs, since Evaluate answers in no guaranteed order.
   */
  metadata?: Record<string, string>;
  /** A title for the item (a preview feature of the gateway). */
  title?: string;
}

/**
 * A text content item. Throws InvalidRequestError when `text` is not a non-empty string or the metadata is not
 * string to string.
 */
export function textContent(text: string, options: ContentOptions = {}): ContentDataInit {
  return checkedContent({ content: { case: "text", value: text }, ...withOptions(options) }, "textContent()");
}

/**
 * An image content item from its bytes (PNG, JPEG or WebP; the gateway refuses other formats). Accepts a
 * Uint8Array (a Node.js Buffer is one) or an ArrayBuffer, without copying. Throws InvalidRequestError when there
 * are no bytes.
 */
export function imageContent(image: Uint8Array | ArrayBuffer, options: ContentOptions = {}): ContentDataInit {
  let bytes: unknown = image;
  if (image instanceof ArrayBuffer) bytes = new Uint8Array(image);
  else if (image instanceof Uint8Array && image.constructor !== Uint8Array) {
    // A Buffer is a Uint8Array view; hand protobuf a plain one over the same memory.
    bytes = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
  }
  return checkedContent(
    { content: { case: "image", value: bytes as Uint8Array }, ...withOptions(options) },
    "imageContent()",
  );
}

/**
 * An image content item that the gateway fetches from a URL (http or https). Throws InvalidRequestError when the
 * URL does not parse or has another scheme.
 */
export function imageUrlContent(url: string | URL, options: ContentOptions = {}): ContentDataInit {
  const value = url instanceof URL ? url.href : url;
  return checkedContent({ content: { case: "imageUrl", value }, ...withOptions(options) }, "imageUrlContent()");
}

function withOptions(options: ContentOptions): Pick<ContentDataInit, "metadata" | "title"> {
  const out: Pick<ContentDataInit, "metadata" | "title"> = {};
  if (options.metadata !== undefined) out.metadata = options.metadata;
  if (options.title !== undefined) out.title = options.title;
  return out;
}

function checkedContent(item: ContentDataInit, path: string): ContentDataInit {
  checkContentItem(item, path);
  return item;
}

// Keys of the JSON form of ContentData: a plain object that uses them instead of `content: { case, value }` would
// otherwise be sent as an item without content.
const jsonContentKeys = ["text", "image", "imageUrl", "image_url", "videoUrl", "video_url", "audioUrl", "audio_url"];

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: Code.InvalidArgument, field });
}

/**
 * Checks one content item of a request: exactly one kind of content, a non-empty value of the right type, an
 * http(s) URL for URL content, and string-to-string metadata. `path` names the item in messages, such as
 * "contentData[2]". Throws InvalidRequestError saying what to fix.
 * @internal
 */
export function checkContentItem(item: unknown, path: string): void {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw invalid(
      `${path} must be a content object; build one with textContent(), imageContent() or imageUrlContent()`,
      path,
    );
  }
  const record = item as Record<string, unknown>;
  const content = record.content as { case?: unknown; value?: unknown } | undefined;
  const jsonKinds = jsonContentKeys.filter((k) => record[k] !== undefined);
  const kinds = [...(content?.case !== undefined ? [String(content.case)] : []), ...jsonKinds];
  if (kinds.length > 1) {
    throw invalid(
      `${path} has ${String(kinds.length)} kinds of content (${kinds.join(", ")}); an item holds exactly one, so send each as its own item`,
      path,
    );
  }
  if (jsonKinds.length === 1) {
    throw invalid(
      `${path} sets "${jsonKinds[0]!}" at the top level, which is the JSON form; write content: { case: "${jsonKinds[0]!}", value } or use textContent(), imageContent() or imageUrlContent()`,
      path,
    );
  }
  if (content === undefined || content.case === undefined) {
    throw invalid(
      `${path} has no content; set one of text, image or imageUrl, for example with textContent("…")`,
      `${path}.content`,
    );
  }
  const field = `${path}.content`;
  const value = content.value;
  switch (content.case) {
    case "text":
      if (typeof value !== "string" || value.length === 0) {
        throw invalid(`${path} has empty text; send some text, or leave the item out`, field);
      }
      break;
    case "image":
      if (!(value instanceof Uint8Array) || value.byteLength === 0) {
        throw invalid(
          `${path} has no image bytes; pass the PNG, JPEG or WebP file's bytes as a Uint8Array or Buffer`,
          field,
        );
      }
      break;
    case "imageUrl":
    case "videoUrl":
    case "audioUrl": {
      if (typeof value !== "string" || !isHttpUrl(value)) {
        throw invalid(`${path} has ${content.case} ${JSON.stringify(value)}, which is not an http or https URL`, field);
      }
      break;
    }
    default:
      throw invalid(
        `${path} has unknown content kind "${String(content.case)}"; use text, image, imageUrl, videoUrl or audioUrl`,
        field,
      );
  }
  const metadata = record.metadata;
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw invalid(`${path}.metadata must be an object of string keys and string values`, `${path}.metadata`);
    }
    for (const [key, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw invalid(
          `${path}.metadata["${key}"] is a ${typeof v}; metadata values must be strings (use String(value))`,
          `${path}.metadata`,
        );
      }
    }
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
