// One input item of a bulk evaluation as the engine tracks it, and what the engine adds to it on the wire: a
// correlation key in its metadata, so that answers (which arrive in any order) find their item even when the same
// content appears twice in one stream.

import type { ContentData } from "../../gen/clavata/shared/v1/public_pb.js";
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
  /** The item as a message, made once when it was read and checked. */
  readonly message: ContentData;
  /** The bytes it adds to a request with its correlation key, as the client's request size check counts them. */
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
 * is its position (unique within the stream, which is all an answer needs, and short). A shallow copy of the
 * item's message, so that the message itself never carries a key. @private
 */
export function sentContentOf(item: BatchItem, position: number): ContentData {
  return { ...item.message, metadata: { ...item.message.metadata, [BATCH_KEY_METADATA]: String(position) } };
}

const encoder = new TextEncoder();

/** The bytes the gateway hashes for an item: its text or URL as UTF-8, or its image's bytes. @private */
export function hashedBytesOf(content: ContentDataInit): Uint8Array {
  const value = (content.content as { value?: unknown } | undefined)?.value;
  if (value instanceof Uint8Array) return value;
  return encoder.encode(typeof value === "string" ? value : "");
}

/** What the correlation key adds to an item on the wire: the key, a position of up to 5 digits, and framing. @private */
export const SENT_KEY_BYTES = BATCH_KEY_METADATA.length + 5 + 12;
