// Fetching an image URL on a loopback host, within a time and size limit and never following a redirect: the only
// network access the emulator makes on behalf of content (any other URL is never fetched).

import { isLoopbackHost, loopbackConnectAddress } from "../loopback.js";
import type { ImageFormat } from "./image.js";

/** How long a loopback image URL fetch may take, by default, in milliseconds. */
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;
/** The largest image a loopback image URL may return, by default, in bytes (20 MiB). */
export const DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/**
 * Whether an image URL points at this machine, so that the emulator fetches it: the host is `localhost`,
 * an IPv4 address in 127.0.0.0/8 or `[::1]` (after the WHATWG URL parser's normalization, so `127.1` counts).
 */
export function isLoopbackUrl(url: URL): boolean {
  // The same rule as for webhooks: the emulator contacts nothing beyond these hosts.
  return isLoopbackHost(url.hostname);
}

/**
 * The format an image URL's path names by its extension (`.png`, `.jpg`/`.jpeg`, `.webp`, any case), or
 * undefined for any other path.
 */
export function formatFromUrlPath(url: URL): ImageFormat | undefined {
  const match = /\.(png|jpe?g|webp)$/i.exec(url.pathname);
  if (!match) return undefined;
  const ext = match[1]!.toLowerCase();
  return ext === "png" ? "png" : ext === "webp" ? "webp" : "jpeg";
}

/**
 * Fetches a loopback image URL within the limits, never following a redirect. A kept-alive connection that
 * the server closed just before it was reused fails at once; the GET is retried once in that case only.
 * @internal
 */
export async function fetchImage(
  url: URL,
  timeoutMs: number,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { reason: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const first = await fetchImageOnce(url, signal, timeoutMs, maxBytes);
  if ("socketClosed" in first && !signal.aborted) return fetchImageOnce(url, signal, timeoutMs, maxBytes);
  return first;
}

async function fetchImageOnce(
  url: URL,
  signal: AbortSignal,
  timeoutMs: number,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { reason: string; socketClosed?: true }> {
  try {
    // Connect to the literal address (see src/loopback.ts), so no resolver decides where a loopback name goes.
    const target = new URL(url);
    const address = loopbackConnectAddress(url.hostname);
    target.hostname = address.includes(":") ? `[${address}]` : address;
    const response = await fetch(target, {
      redirect: "manual",
      signal,
      headers: { accept: "image/png, image/jpeg, image/webp" },
    });
    if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
      await response.body?.cancel();
      return {
        reason: `the server answered with a redirect (HTTP ${response.status}), which the emulator does not follow`,
      };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { reason: `the server answered HTTP ${response.status}` };
    }
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > maxBytes) {
      await response.body?.cancel();
      return { reason: `the image is larger than the limit of ${maxBytes} bytes` };
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > maxBytes) {
          await reader.cancel();
          return { reason: `the image is larger than the limit of ${maxBytes} bytes` };
        }
        chunks.push(value);
      }
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return { bytes };
  } catch (err) {
    if (signal.aborted) return { reason: `no complete answer within ${timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = `the fetch failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
    return cause?.code === "UND_ERR_SOCKET" || cause?.code === "ECONNRESET"
      ? { reason, socketClosed: true }
      : { reason };
  }
}
