// Reading a streamed REST answer (NDJSON: one JSON object per line) as it
// arrives, with only web-standard streams and TextDecoder.

import { tooLargeFailure } from "./rest-failure.js";

const NEWLINE = 0x0a;

/** The bytes of `parts`, joined. */
function joined(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/**
 * Yields each non-blank line of a byte stream as soon as its newline arrives (and the last line at the end), reading
 * the next chunk only when the consumer asks for the next line, so a slow reader holds the network back. Ending the
 * iteration early cancels the stream. A line of more than `maxLineBytes` bytes (its newline not counted) fails with
 * a "message-too-large" ConnectError as soon as it is known to be longer, without buffering more of it than that, and
 * cancels the stream.
 */
export async function* ndjsonLines(
  body: ReadableStream<Uint8Array>,
  maxLineBytes = Number.POSITIVE_INFINITY,
): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  // The bytes of the line that has no newline yet. A newline byte never occurs inside a multi-byte UTF-8 character,
  // so lines are split on bytes and each decoded whole.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let done = false;
  const lineOf = (tail: Uint8Array): string => {
    pending.push(tail);
    const text = decoder.decode(joined(pending, pendingBytes + tail.length)).trim();
    pending = [];
    pendingBytes = 0;
    return text;
  };
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        done = true;
        break;
      }
      const bytes = chunk.value;
      let start = 0;
      let newline = bytes.indexOf(NEWLINE);
      while (newline >= 0) {
        if (pendingBytes + (newline - start) > maxLineBytes) throw tooLargeFailure("a stream line", maxLineBytes);
        const line = lineOf(bytes.subarray(start, newline));
        start = newline + 1;
        if (line !== "") yield line;
        newline = bytes.indexOf(NEWLINE, start);
      }
      const rest = bytes.length - start;
      if (pendingBytes + rest > maxLineBytes) throw tooLargeFailure("a stream line", maxLineBytes);
      if (rest > 0) {
        // A copy: the part kept must not pin (or share) the whole chunk.
        pending.push(bytes.slice(start));
        pendingBytes += rest;
      }
    }
    const last = lineOf(new Uint8Array(0));
    if (last !== "") yield last;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
