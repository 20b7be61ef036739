import { constants as h2, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { contentHash } from "../content-hash.js";
import type { EmulatorMethod, FaultState } from "./faults.js";
import type { RateLimiter } from "./rate-limit.js";
import { kCustomerId } from "./service.js";
import { sleep } from "./timers.js";

/** The HTTP/2 stream of the call, so that a fault can reset it. @internal */
export const kHttp2Stream = createContextKey<ServerHttp2Stream | undefined>(undefined, { description: "http2 stream" });

/** Streams the emulator reset itself (the resetStreamAfter fault): not resets by the client. @internal */
export const streamsResetByEmulator = new WeakSet<ServerHttp2Stream>();

/** The API keys the emulator accepts: a fixed list, or any non-empty key ("open mode"). @internal */
export type KeyCheck = { open: true } | { open: false; keys: ReadonlySet<string> };

/**
 * Checks `authorization: Bearer <key>` and records which customer the key belongs to. The key itself never appears
 * in an error message or a log line.
 * @internal
 */
export function requireApiKeyInterceptor(keys: KeyCheck): Interceptor {
  return (next) => async (req) => {
    const header = req.header.get("authorization");
    if (header === null || header.trim() === "") {
      throw new ConnectError(
        "missing API key: send the header 'authorization: Bearer <API key>'",
        Code.Unauthenticated,
      );
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new ConnectError("malformed authorization header: it must be 'Bearer <API key>'", Code.Unauthenticated);
    }
    const key = match[1]!;
    if (!keys.open && !keys.keys.has(key)) {
      throw new ConnectError("API key not accepted by this emulator", Code.Unauthenticated);
    }
    req.contextValues.set(kCustomerId, customerIdOf(key));
    return next(req);
  };
}

/** A stable customer id for an API key that does not reveal the key. @internal */
export function customerIdOf(key: string): string {
  return `customer-${contentHash(new TextEncoder().encode(key)).slice(-12)}`;
}

/**
 * Applies the per-key rate limit, counts calls, and applies the faults armed for the method.
 * Runs after authentication, so unauthenticated calls are neither counted nor limited.
 * @internal
 */
export function faultInterceptor(
  faults: FaultState,
  limiter: () => RateLimiter | undefined,
  calls: Record<EmulatorMethod, number>,
): Interceptor {
  return (next) => async (req) => {
    const method = req.method.name as EmulatorMethod;
    const limit = limiter();
    if (limit) {
      const waitMs = limit.take(req.contextValues.get(kCustomerId));
      if (waitMs !== undefined) {
        throw new ConnectError(`rate limit exceeded: retry in ${waitMs} ms`, Code.ResourceExhausted, undefined, [
          { desc: RetryInfoSchema, value: { retryDelay: durationOf(waitMs) } },
        ]);
      }
    }
    calls[method] = (calls[method] ?? 0) + 1;
    const f = faults.take(method);
    if (f.delayMs !== undefined) await sleep(f.delayMs, req.signal);
    if (f.fail) {
      throw new ConnectError(
        f.fail.message,
        f.fail.code,
        undefined,
        f.fail.retryDelayMs !== undefined
          ? [{ desc: RetryInfoSchema, value: { retryDelay: durationOf(f.fail.retryDelayMs) } }]
          : [],
      );
    }
    const res = await next(req);
    const cut = f.cutStream;
    if (!cut || !res.stream) return res;
    const h2stream = req.contextValues.get(kHttp2Stream);
    return {
      ...res,
      message: (async function* () {
        let sent = 0;
        for await (const m of res.message) {
          if (sent === cut.after) break;
          sent += 1;
          yield m;
        }
        if (cut.how === "reset") {
          // Reset the stream where its trailers would go, once every response before them is on its way. Closing
          // it any earlier races Node's own end of the stream: with writes still queued the session grew without
          // bound, and trailers written on a stream being reset crash Node (Http2Stream::OnTrailers asserts).
          if (h2stream !== undefined && !h2stream.destroyed) {
            h2stream.removeAllListeners("wantTrailers");
            h2stream.once("wantTrailers", () => {
              streamsResetByEmulator.add(h2stream);
              h2stream.close(h2.NGHTTP2_CANCEL);
            });
          }
          throw new ConnectError("injected fault: stream reset", Code.Canceled);
        }
        throw new ConnectError(`injected fault: stream ended with ${Code[cut.how.code]}`, cut.how.code);
      })(),
    };
  };
}

function durationOf(ms: number): { seconds: bigint; nanos: number } {
  const whole = Math.floor(ms);
  return { seconds: BigInt(Math.floor(whole / 1000)), nanos: (whole % 1000) * 1_000_000 };
}
