// Content items: helpers that build a ContentData for each kind of content,
// and the check that every item a call sends has exactly one valid kind.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContentDataSchema } from "../gen/clavata/shared/v1/public_pb.js";
import { describeType, invalidField, isPlainObject, isWellFormedText } from "./validation/invalid.js";
import { checkMessageShape, type SizeBudget } from "./validation/message-shape.js";

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
 * A text content item. Throws InvalidRequestError (`field` "text" or "options…") when `text` is not a non-empty,
 * well-formed string (a lone surrogate is refused rather than sent as U+FFFD), or the options are not
 * `{ metadata?: Record<string, string>, title?: string }`.
 */
export function textContent(text: string, options: ContentOptions = {}): ContentDataInit {
  if (typeof text !== "string" || text === "") {
    throw invalidField(`text is ${text === "" ? "empty" : describeType(text)}; pass a non-empty string`, "text");
  }
  if (!isWellFormedText(text)) {
    throw invalidField(
      "text holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot carry; fix the text's encoding (for example with String.prototype.toWellFormed())",
      "text",
    );
  }
  return { content: { case: "text", value: text }, ...withOptions(options) };
}

/**
 * An image content item from its bytes (PNG, JPEG or WebP; the gateway refuses other formats). Accepts a
 * Uint8Array (a Node.js Buffer is one) or an ArrayBuffer, without copying. Throws InvalidRequestError (`field`
 * "image" or "options…") when there are no bytes or the options are bad.
 */
export function imageContent(image: Uint8Array | ArrayBuffer, options: ContentOptions = {}): ContentDataInit {
  let bytes: Uint8Array;
  if (image instanceof ArrayBuffer) bytes = new Uint8Array(image);
  else if (image instanceof Uint8Array) {
    // A Buffer is a Uint8Array view; hand protobuf a plain one over the same memory.
    bytes = image.constructor === Uint8Array ? image : new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
  } else {
    throw invalidField(
      `image is ${describeType(image)}; pass the PNG, JPEG or WebP file's bytes as a Uint8Array, Buffer or ArrayBuffer`,
      "image",
    );
  }
  if (bytes.byteLength === 0) {
    throw invalidField("image has no bytes; pass the PNG, JPEG or WebP file's bytes", "image");
  }
  return { content: { case: "image", value: bytes }, ...withOptions(options) };
}

/**
 * An image content item that the gateway fetches from a URL (http or https). Throws InvalidRequestError (`field`
 * "url" or "options…") when the URL is not a string or URL, does not parse, or has another scheme.
 */
export function imageUrlContent(url: string | URL, options: ContentOptions = {}): ContentDataInit {
  const value = url instanceof URL ? url.href : url;
  if (typeof value !== "string" || !isHttpUrl(value)) {
    throw invalidField(
      `url is ${typeof value === "string" ? "not an absolute http or https URL" : describeType(value)}; pass one such as https://example.com/image.png`,
      "url",
    );
  }
  return { content: { case: "imageUrl", value }, ...withOptions(options) };
}

const optionKeys = new Set(["metadata", "title"]);

function withOptions(options: unknown): Pick<ContentDataInit, "metadata" | "title"> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) {
    throw invalidField(
      `options is ${describeType(options)}; pass an object such as { metadata: { id: "42" } }`,
      "options",
    );
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!optionKeys.has(key)) {
      throw invalidField(
        `options.${key} is not a content option; the options are metadata and title`,
        `options.${key}`,
      );
    }
  }
  const out: Pick<ContentDataInit, "metadata" | "title"> = {};
  if (given.metadata !== undefined) out.metadata = given.metadata as Record<string, string>;
  if (given.title !== undefined) out.title = given.title as string;
  // The same descriptor-derived check as a request's items, with paths under "options".
  checkMessageShape(ContentDataSchema, out, "options", { bytes: 0 });
  return out;
}

/**
 * Checks one content item of a request: its shape (per the ContentData descriptor), then exactly one kind of
 * content, a non-empty value, and an http(s) URL for URL content. `path` names the item in messages, such as
 * "contentData[2]". Adds the item's estimated size to `budget`. Throws InvalidRequestError saying what to fix.
 * @private
 */
export function checkContentItem(item: unknown, path: string, budget: SizeBudget = { bytes: 0 }): void {
  checkMessageShape(ContentDataSchema, item, path, budget);
  checkContentRules(item as ContentDataInit, path);
}

/**
 * The contract's rules for an item whose shape is already checked: it holds content (one kind, since `content` is
 * a oneof), text and images are not empty, and URLs are absolute http or https URLs.
 * @internal
 */
export function checkContentRules(item: ContentDataInit, path: string): void {
  const content = item.content;
  if (content === undefined || content.case === undefined) {
    throw invalidField(
      `${path} has no content; set one of text, image or imageUrl, for example with textContent("…")`,
      `${path}.content`,
    );
  }
  const field = `${path}.${content.case}`;
  switch (content.case) {
    case "text":
      if (content.value === "") throw invalidField(`${field} is empty; send some text, or leave the item out`, field);
      return;
    case "image":
      if (content.value.byteLength === 0) {
        throw invalidField(`${field} has no bytes; pass the PNG, JPEG or WebP file's bytes`, field);
      }
      return;
    case "imageUrl":
    case "videoUrl":
    case "audioUrl":
      // The URL is not quoted: it may carry a token in its query string.
      if (!isHttpUrl(content.value)) throw invalidField(`${field} is not an absolute http or https URL`, field);
  }
}

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const protocol = new URL(value).protocol;
  return protocol === "http:" || protocol === "https:";
}
