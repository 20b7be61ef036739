// One input item of a bulk evaluation as the engine tracks it, and what the engine adds to it on the wire: a
// correlation key in its metadata, so that answers (which arrive in any order) find their item even when the same
// content appears twice in one stream.

import type { ContentDataInit } from "../content.js";

/** The metadata key the SDK adds to each item it sends, and removes again from what it returns. */
export const BATCH_KEY_METADATA = "clavata-batch-key";

/** An input item in flight. @private */
export interface BatchItem {
  /** Its position in the input, from 0. */
  readonly index: number;
  /** Its `metadata.id`, when it has one. */
  readonly id: string | undefined;
  /** The item as given. */
  readonly content: ContentDataInit;
  /** Roughly the bytes it adds to a request. */
  readonly bytes: number;
  /** Sends so far that count (see `maxAttempts`). */
  attempts: number;
}

/** The item's `metadata.id`, when it is a string. @private */
export function idOf(content: ContentDataInit): string | undefined {
  const id = (content as { metadata?: Record<string, unknown> }).metadata?.id;
  return typeof id === "string" ? id : undefined;
}

/**
 * The item as sent at `position` in its stream: its own fields, and its metadata plus the correlation key, which
 * is its position (unique within the stream, which is all an answer needs, and short). @private
 */
export function sentContentOf(item: BatchItem, position: number): ContentDataInit {
  return {
    ...item.content,
    metadata: { ...(item.content.metadata ?? {}), [BATCH_KEY_METADATA]: String(position) },
  } as ContentDataInit;
}

const encoder = new TextEncoder();

/** The bytes the gateway hashes for an item: its text or URL as UTF-8, or its image's bytes. @private */
export function hashedBytesOf(content: ContentDataInit): Uint8Array {
  const value = (content.content as { value?: unknown } | undefined)?.value;
  if (value instanceof Uint8Array) return value;
  return encoder.encode(typeof value === "string" ? value : "");
}

/** The UTF-8 length of a string, without encoding it. */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Roughly how many bytes an item adds to a request: its content, its metadata and some framing. @private */
export function approximateSizeOf(content: ContentDataInit): number {
  const value = (content.content as { value?: unknown } | undefined)?.value;
  let size = 16 + BATCH_KEY_METADATA.length + 8;
  if (value instanceof Uint8Array) size += value.byteLength;
  else if (typeof value === "string") size += utf8Length(value);
  for (const [k, v] of Object.entries(content.metadata ?? {})) size += utf8Length(k) + utf8Length(String(v)) + 4;
  return size;
}
