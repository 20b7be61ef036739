// Counts the streams a client resets on a connection the way nghttp2's rapid-reset protection (CVE-2023-44487)
// does, so that the emulator can say why Node's HTTP/2 server ended a connection. Past its limit nghttp2 sends
// GOAWAY with INTERNAL_ERROR and Node reports a bare "Protocol error", which reads as if the client had broken the
// protocol, when it only cancelled many calls (each a legal RST_STREAM) in a short time.

import { constants as h2, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";

/** nghttp2's default burst of the rapid-reset protection: this many resets at once. */
export const STREAM_RESET_BURST = 1000;
/** nghttp2's default rate of the rapid-reset protection: this many more resets a second. */
export const STREAM_RESET_RATE = 33;

/**
 * Whole seconds of the wall clock: what nghttp2 reads as Node.js builds it (time(NULL); a monotonic clock's seconds
 * turn at other instants, and a count by them went past the limit at other resets than nghttp2's, or not at all).
 */
function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Calls `onFlood` once, when the client of `session` resets more streams than nghttp2 allows: a token bucket of
 * STREAM_RESET_BURST tokens, refilled by STREAM_RESET_RATE a second in whole seconds, one token per reset
 * (nghttp2_ratelim). A reset is counted as nghttp2 handles it: at the stream's "aborted" event, which Node emits while
 * nghttp2 reads the RST_STREAM frame, or else at its "close". It sees the streams the client reset while they were
 * open, with an error code (such as CANCEL); not a reset with NO_ERROR or of a stream already closed, which nghttp2
 * also counts. So it may count a few resets fewer than nghttp2, never more. Streams that `resetByServer` says the
 * emulator reset are not counted, nor streams closed once the session is being destroyed.
 * @internal
 */
export function watchStreamResets(
  session: ServerHttp2Session,
  resetByServer: (stream: ServerHttp2Stream) => boolean,
  onFlood: (resets: number) => void,
  limits: { burst: number; rate: number } = { burst: STREAM_RESET_BURST, rate: STREAM_RESET_RATE },
): void {
  let tokens = limits.burst;
  let refilledAt = nowSeconds();
  let resets = 0;
  let flooded = false;
  session.on("stream", (stream: ServerHttp2Stream) => {
    let seen = false;
    const onEnd = () => {
      if (seen) return;
      seen = true;
      if (flooded || session.destroyed || stream.rstCode === h2.NGHTTP2_NO_ERROR || resetByServer(stream)) return;
      const now = nowSeconds();
      resets++;
      if (now !== refilledAt) {
        tokens = Math.min(limits.burst, tokens + limits.rate * (now > refilledAt ? now - refilledAt : 1));
        refilledAt = now;
      }
      if (tokens >= 1) {
        tokens--;
        return;
      }
      flooded = true;
      onFlood(resets);
    };
    stream.once("aborted", onEnd);
    stream.once("close", onEnd);
  });
}

/** The log line for a flood of resets: what happened, why, and what the client can do. @internal */
export function streamResetFloodMessage(resets: number): string {
  return (
    `closed a connection whose client reset ${resets} streams (RST_STREAM, such as cancelled calls) faster than ` +
    `Node's HTTP/2 server allows (${STREAM_RESET_BURST} at once, then ${STREAM_RESET_RATE} a second): it takes that ` +
    "for a rapid-reset attack (CVE-2023-44487) and ends the connection with GOAWAY INTERNAL_ERROR, and the calls " +
    "still open on it fail. Each reset was legal; a client that cancels this many calls this fast should spread them " +
    "over more connections"
  );
}
