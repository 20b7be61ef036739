// Reading a streamed REST answer (NDJSON: one JSON object per line) as it
// arrives, with only web-standard streams and TextDecoder.

/**
 * Yields each non-blank line of a byte stream as soon as its newline arrives (and the last line at the end), reading
 * the next chunk only when the consumer asks for the next line, so a slow reader holds the network back. Ending the
 * iteration early cancels the stream.
 */
export async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let done = false;
  try {
    while (!done) {
      const chunk = await reader.read();
      done = chunk.done;
      buffered += done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== "") yield line;
        newline = buffered.indexOf("\n");
      }
    }
    const last = buffered.trim();
    if (last !== "") yield last;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
