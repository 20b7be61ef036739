// gRPC's length-prefixed messages: each message on the HTTP/2 stream is a 1-byte flag (bit 0: compressed), a 4-byte
// big-endian length and the message bytes. HTTP/2 DATA frames cut through these at any point, so the reader keeps
// the part of a message that has arrived until the rest does.

import { TransportFailure } from "../errors.js";

/** Bytes before each message: the compressed flag and the length. @internal */
export const PREFIX_BYTES = 5;

/** Messages up to this size are copied behind their prefix into one buffer; larger ones are written as two. */
const COPY_LIMIT = 64 * 1024;

/**
 * The bytes to write for one message: one buffer (prefix and message) for a small message, or the prefix and the
 * caller's bytes as they are for a large one, so that an 8 MiB image is never copied. @internal
 */
export function encodeFrame(message: Uint8Array): Buffer | [Buffer, Uint8Array] {
  if (message.length > COPY_LIMIT) {
    const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
    prefix[0] = 0;
    prefix.writeUInt32BE(message.length, 1);
    return [prefix, message];
  }
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, PREFIX_BYTES);
  return frame;
}

/**
 * Cuts the response body into messages. `push` hands every complete message to `onMessage` (a view of the chunk
 * when the message lies within one chunk, else one buffer of exactly its size) and returns a TransportFailure for
 * a frame the client must not accept: a compressed one (the client never offers compression), or one whose length
 * is above `maxMessageBytes`, rejected from its prefix before any of it is buffered. @internal
 */
export class FrameReader {
  readonly #max: number;
  readonly #onMessage: (bytes: Uint8Array) => void;
  /** The prefix being assembled when it spans chunks. */
  readonly #prefix = Buffer.alloc(PREFIX_BYTES);
  #prefixFill = 0;
  /** The message being assembled when it spans chunks. */
  #body: Buffer | undefined;
  #bodyFill = 0;

  constructor(maxMessageBytes: number, onMessage: (bytes: Uint8Array) => void) {
    this.#max = maxMessageBytes;
    this.#onMessage = onMessage;
  }

  /** Whether part of a message has arrived and the rest has not (at the end of the body: a truncated frame). */
  get partial(): boolean {
    return this.#prefixFill > 0 || this.#body !== undefined;
  }

  /** Reads one chunk of the body; returns the failure that must end the call, if any. */
  push(chunk: Buffer): TransportFailure | undefined {
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      const body = this.#body;
      if (body !== undefined) {
        const take = Math.min(body.length - this.#bodyFill, end - offset);
        chunk.copy(body, this.#bodyFill, offset, offset + take);
        this.#bodyFill += take;
        offset += take;
        if (this.#bodyFill === body.length) {
          this.#body = undefined;
          this.#onMessage(body);
        }
        continue;
      }
      let flags: number;
      let length: number;
      if (this.#prefixFill === 0 && end - offset >= PREFIX_BYTES) {
        flags = chunk[offset]!;
        length = chunk.readUInt32BE(offset + 1);
        offset += PREFIX_BYTES;
      } else {
        const take = Math.min(PREFIX_BYTES - this.#prefixFill, end - offset);
        chunk.copy(this.#prefix, this.#prefixFill, offset, offset + take);
        this.#prefixFill += take;
        offset += take;
        if (this.#prefixFill < PREFIX_BYTES) return undefined;
        this.#prefixFill = 0;
        flags = this.#prefix[0]!;
        length = this.#prefix.readUInt32BE(1);
      }
      const failure = this.#check(flags, length);
      if (failure !== undefined) return failure;
      if (end - offset >= length) {
        this.#onMessage(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      }
    }
    return undefined;
  }

  #check(flags: number, length: number): TransportFailure | undefined {
    if ((flags & 1) !== 0) {
      return new TransportFailure(
        "malformed-response",
        "the server sent a compressed message, which the client did not ask for (it sends no grpc-accept-encoding)",
      );
    }
    if (flags !== 0) {
      return new TransportFailure(
        "malformed-response",
        `the server sent a message prefix with unknown flags 0x${flags.toString(16)}; it does not speak gRPC`,
      );
    }
    if (length > this.#max) {
      return new TransportFailure(
        "message-too-large",
        `the server sent a message of ${String(length)} bytes, more than maxReceiveMessageBytes ` +
          `(${String(this.#max)}); raise that option if the message is expected`,
      );
    }
    return undefined;
  }
}
