// What the emulator does to a request before Connect reads it: a deadline longer than a timer can take is clamped,
// and a message larger than the emulator reads is refused with INVALID_ARGUMENT. Connect's own limit (readMaxBytes)
// answers RESOURCE_EXHAUSTED, which the wire contract keeps for rate limiting (REST 429) and which clients retry;
// an oversize request is the caller's mistake, to be fixed rather than retried, as the emulator's content check
// says for requests under the limit.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { MAX_TIMER_MS } from "../deadlines.js";

/** gRPC's `grpc-timeout` (also gRPC-Web's): at most 8 digits and a unit. */
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_TIMEOUT_UNIT_MS = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 } as const;
/** The longest `grpc-timeout` that a timer can take, in whole seconds (2147483 s, about 24.8 days). */
const MAX_GRPC_TIMEOUT = `${Math.floor(MAX_TIMER_MS / 1000)}S`;

/**
 * A `grpc-timeout` value in ms, or undefined when it is not one (Connect answers a malformed one itself).
 * @internal
 */
export function grpcTimeoutMs(value: string | null | undefined): number | undefined {
  const m = GRPC_TIMEOUT.exec(value ?? "");
  if (!m) return undefined;
  return Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2] as keyof typeof GRPC_TIMEOUT_UNIT_MS];
}

/**
 * Clamps a deadline longer than a timer can take (`grpc-timeout` up to 99999999H, `connect-timeout-ms` up to 10
 * digits) to the longest one, about 24.8 days, which is as good as none. Connect arms a plain setTimeout for the
 * deadline, and Node.js fires one with a longer delay after 1 ms: every such call failed at once.
 * @internal
 */
export function clampDeadlineHeaders(header: Headers): void {
  const grpc = grpcTimeoutMs(header.get("grpc-timeout"));
  if (grpc !== undefined && grpc > MAX_TIMER_MS) header.set("grpc-timeout", MAX_GRPC_TIMEOUT);
  const connect = header.get("connect-timeout-ms");
  if (connect !== null && /^\d{1,10}$/.test(connect) && Number(connect) > MAX_TIMER_MS) {
    header.set("connect-timeout-ms", String(MAX_TIMER_MS));
  }
}

/** The error for a request message over the limit; `bytes` undefined when only "more than the limit" is known. */
function tooLarge(bytes: number | undefined, maxBytes: number, maxMessageBytes: number): ConnectError {
  return new ConnectError(
    `the request message${bytes === undefined ? ", once decompressed, is" : ` is ${bytes} bytes,`} over the emulator's limit of ${maxBytes} bytes per message (twice maxMessageBytes, which is ${maxMessageBytes}, plus 1 MiB): send fewer or smaller items per call`,
    Code.InvalidArgument,
  );
}

/** Content types whose body is a sequence of messages, each after a 5-byte prefix (flags, 32-bit length). */
const ENVELOPED = /^application\/(?:grpc(?:-web)?(?:\+[^;]*)?|connect\+[^;]*)(?:;.*)?$/i;
/** The Connect protocol's unary content types: the body is the message itself. */
const UNARY = /^application\/(?:proto|json)(?:;.*)?$/i;

/**
 * Refuses, with INVALID_ARGUMENT, a request message larger than `maxBytes`: an enveloped one (gRPC, gRPC-Web,
 * Connect streaming) by the length in its prefix, before its bytes are read or any room is made for them; a Connect
 * unary one by its Content-Length (which is then left out, so that Connect reads the body and meets the error
 * there) or by the bytes read. Give Connect's readMaxBytes the same `maxBytes`: it stays the backstop, and this
 * check sees every byte first. Changes the request in place.
 * @internal
 */
export function limitRequestBody(req: UniversalServerRequest, maxBytes: number, maxMessageBytes: number): void {
  const contentType = req.header.get("content-type") ?? "";
  const body = req.body;
  if (typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return;
  const chunks = body as AsyncIterable<Uint8Array>;
  if (ENVELOPED.test(contentType)) {
    req.body = envelopesAtMost(chunks, maxBytes, (n) => tooLarge(n, maxBytes, maxMessageBytes));
  } else if (UNARY.test(contentType)) {
    const declared = Number(req.header.get("content-length") ?? Number.NaN);
    if (declared > maxBytes) req.header.delete("content-length");
    req.body = bytesAtMost(chunks, declared > maxBytes ? declared : undefined, maxBytes, (n) =>
      tooLarge(n, maxBytes, maxMessageBytes),
    );
  }
}

async function* envelopesAtMost(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  error: (bytes: number) => ConnectError,
): AsyncGenerator<Uint8Array> {
  const prefix = new Uint8Array(5);
  let prefixBytes = 0;
  // Payload bytes of the current message still to come before the next prefix.
  let payloadLeft = 0;
  for await (const chunk of body) {
    let i = 0;
    while (i < chunk.byteLength) {
      if (payloadLeft > 0) {
        const n = Math.min(payloadLeft, chunk.byteLength - i);
        payloadLeft -= n;
        i += n;
        continue;
      }
      prefix[prefixBytes++] = chunk[i++]!;
      if (prefixBytes === 5) {
        prefixBytes = 0;
        payloadLeft = new DataView(prefix.buffer).getUint32(1);
        if (payloadLeft > maxBytes) throw error(payloadLeft);
      }
    }
    yield chunk;
  }
}

async function* bytesAtMost(
  body: AsyncIterable<Uint8Array>,
  declared: number | undefined,
  maxBytes: number,
  error: (bytes: number) => ConnectError,
): AsyncGenerator<Uint8Array> {
  if (declared !== undefined) throw error(declared);
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw error(total);
    yield chunk;
  }
}

/**
 * A compression whose decompress refuses a message larger than readMaxBytes once decompressed with
 * INVALID_ARGUMENT rather than Connect's RESOURCE_EXHAUSTED.
 * @internal
 */
export function limitDecompressedSize(compression: Compression, maxMessageBytes: number): Compression {
  return {
    name: compression.name,
    compress: (bytes) => compression.compress(bytes),
    async decompress(bytes, readMaxBytes) {
      try {
        return await compression.decompress(bytes, readMaxBytes);
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.ResourceExhausted) {
          throw tooLarge(undefined, readMaxBytes, maxMessageBytes);
        }
        throw error;
      }
    },
  };
}
