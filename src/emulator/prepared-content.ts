// Content made ready to evaluate: checked (can it be evaluated at all?), its bytes resolved (fetching a loopback image
// URL), hashed and, for an image, inspected. Done once per item, however many policies or labels it meets.

import { Code, ConnectError } from "@connectrpc/connect";
import type { ContentData } from "../../gen/clavata/shared/v1/public_pb.js";
import { contentHash } from "../content-hash.js";
import { type ImageFormat, type ImageInspection, inspectImage } from "./image.js";
import { fetchImage, formatFromUrlPath, isLoopbackUrl } from "./image-fetch.js";

/**
 * A content item with its bytes resolved, hashed and inspected, ready to be evaluated against any number of
 * policies or labels. Made by `PolicyEngine.prepare`; pass it to `evaluate` or `evaluateLabel` instead of
 * the item so that an image URL is fetched once per request rather than once per policy or label.
 */
export type PreparedContent = {
  /** The item as received. */
  readonly item: ContentData;
  /** The item's content hash ("fnv1a128::…"). */
  readonly contentHash: string;
} & (
  | { readonly kind: "text"; readonly text: string; readonly normalized: string; readonly byteLength: number }
  | { readonly kind: "image"; readonly bytes: Uint8Array; readonly image: ImageInspection }
  | { readonly kind: "url"; readonly url: string; readonly format: ImageFormat | undefined }
  | { readonly kind: "fetchFailed"; readonly url: string; readonly reason: string }
);

/** Whether `item` is already prepared content rather than a ContentData message. @internal */
export function isPrepared(item: ContentData | PreparedContent): item is PreparedContent {
  return !("$typeName" in item) && "kind" in item && "item" in item;
}

/** A URL for an error message: quoted, without its query (which may hold a signature) and shortened. */
function quoteUrl(text: string): string {
  const shown = text.split(/[?#]/, 1)[0]!;
  return JSON.stringify(shown.length > 100 ? `${shown.slice(0, 97)}...` : shown);
}

/**
 * Checks that an item can be evaluated at all (refusals are not this method's business).
 *
 * @param where the item's place in the request for the message, e.g. "content_data[2]".
 * @throws ConnectError with Code.InvalidArgument naming `where` when the item has no content, empty text,
 *   empty image bytes, an empty or unparsable image_url or one that is not http(s), or a video_url or
 *   audio_url (which the emulator does not support).
 * @internal
 */
export function checkContent(item: ContentData, where: string): void {
  const bad = (problem: string) => new ConnectError(`${where}: ${problem}`, Code.InvalidArgument);
  const content = item.content;
  switch (content.case) {
    case undefined:
      throw bad("no content; set one of text, image or image_url");
    case "text":
      if (content.value === "") throw bad("text is empty; give the text to evaluate");
      return;
    case "image":
      if (content.value.length === 0) throw bad("image is empty; give the image bytes (PNG, JPEG or WebP)");
      return;
    case "imageUrl": {
      if (content.value.trim() === "") throw bad("image_url is empty; give an absolute http or https URL");
      const url = URL.canParse(content.value) ? new URL(content.value) : undefined;
      if (url === undefined)
        throw bad(`image_url ${quoteUrl(content.value)} is not a valid URL; give an absolute http or https URL`);
      if (url!.protocol !== "http:" && url!.protocol !== "https:") {
        throw bad(`image_url must be an http or https URL; got the scheme ${JSON.stringify(url!.protocol)}`);
      }
      return;
    }
    case "videoUrl":
      throw bad("video_url is not supported by the emulator; send text, image or image_url");
    case "audioUrl":
      throw bad("audio_url is not supported by the emulator; send text, image or image_url");
  }
}

/**
 * Resolves an item's content once: its bytes (fetching a loopback image URL), hash and image facts.
 * Fetch failures do not throw; they give a prepared item that evaluates to OUTCOME_FAILED.
 *
 * @param where the item's place in the request for error messages, e.g. "content_data[2]".
 * @param limits the time and size limits of fetching a loopback image URL.
 * @throws ConnectError with Code.InvalidArgument as {@link checkContent} does.
 * @internal
 */
export async function prepareContent(
  item: ContentData,
  where: string,
  limits: { fetchTimeoutMs: number; maxImageBytes: number },
): Promise<PreparedContent> {
  checkContent(item, where);
  const content = item.content;
  switch (content.case) {
    case "text": {
      const bytes = new TextEncoder().encode(content.value);
      return {
        item,
        kind: "text",
        contentHash: contentHash(bytes),
        text: content.value,
        normalized: content.value.normalize("NFKC"),
        byteLength: bytes.length,
      };
    }
    case "image":
      return {
        item,
        kind: "image",
        contentHash: contentHash(content.value),
        bytes: content.value,
        image: inspectImage(content.value),
      };
    case "imageUrl": {
      const urlText = content.value;
      const url = new URL(urlText);
      if (!isLoopbackUrl(url)) {
        return { item, kind: "url", contentHash: contentHash(urlText), url: urlText, format: formatFromUrlPath(url) };
      }
      const fetched = await fetchImage(url, limits.fetchTimeoutMs, limits.maxImageBytes);
      if ("reason" in fetched) {
        return { item, kind: "fetchFailed", contentHash: contentHash(urlText), url: urlText, reason: fetched.reason };
      }
      return {
        item,
        kind: "image",
        contentHash: contentHash(fetched.bytes),
        bytes: fetched.bytes,
        image: inspectImage(fetched.bytes),
      };
    }
    default:
      // checkContent has already refused every other case.
      throw new ConnectError("content: unsupported content", Code.InvalidArgument);
  }
}
