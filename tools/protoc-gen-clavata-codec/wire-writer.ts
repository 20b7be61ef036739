// The writer side that the generated encoders share. protoc-gen-clavata-codec copies this file verbatim into gen/
// beside the encoders it generates, so that gen/ needs nothing but @bufbuild/protobuf.
//
// A generated encoder walks one message type with direct calls to protobuf-es's own BinaryWriter, in the order and
// with the presence checks of protobuf-es's compiled writers (to-binary.js, version 2.17.0), so its bytes are
// toBinary()'s bytes. Two things make it cheaper than toBinary(): no per-field closures behind one shared loop, and
// one writer kept from message to message, so that its buffer is not allocated afresh for every request. Whatever
// the walk cannot do as toBinary() does (a value toBinary() would convert first, a value its writer rejects, a
// message of another type) throws, and the message is then encoded by toBinary() itself: the same bytes, or the
// same error.

import { type DescMessage, type Message, protoInt64, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, getTextEncoding } from "@bufbuild/protobuf/wire";

// A writer whose last message was larger than this is not kept: its buffer would hold that much memory for good.
const KEEP_WRITER_BYTES = 64 * 1024;

// The writer kept for the next message, with the text encoding it was made with (configureTextEncoding() may
// change that, and toBinary() would follow). Taken while in use, so a nested encode gets a writer of its own.
let kept: { writer: BinaryWriter; encoding: unknown } | undefined;

/** How many messages went to toBinary() because their walk threw (for tests: an ordinary message never does). @internal */
export const encodeFallbacks = { count: 0 };

/** Whether `message` has its own property `key` (protobuf-es asks Object.prototype.hasOwnProperty): how it tells a set field with explicit presence. @internal */
export function hasOwn(message: object, key: string): boolean {
  return Object.hasOwn(message, key);
}

// A map's keys are strings locally; these turn one into the key type as toBinary() does before writing it. A key
// that does not convert is passed on as it is, for the writer to reject.

/** A bool map key. @internal */
export function mapKeyBool(key: string): unknown {
  return key === "true" ? true : key === "false" ? false : key;
}

/** An int32, uint32, sint32, fixed32 or sfixed32 map key. @internal */
export function mapKeyInt32(key: string): unknown {
  // biome-ignore lint/correctness/useParseIntRadix: as protobuf-es, which reads "0x10" as 16.
  const n = Number.parseInt(key);
  return Number.isFinite(n) ? n : key;
}

/** An int64, sint64 or sfixed64 map key. @internal */
export function mapKeyInt64(key: string): unknown {
  try {
    return protoInt64.parse(key);
  } catch {
    return key;
  }
}

/** A uint64 or fixed64 map key. @internal */
export function mapKeyUint64(key: string): unknown {
  try {
    return protoInt64.uParse(key);
  } catch {
    return key;
  }
}

/** toBinary(schema, message) through the generated `write`. @internal */
export function encodeMessage<T extends Message>(
  schema: DescMessage,
  message: T,
  write: (w: BinaryWriter, m: T) => void,
): Uint8Array {
  const encoding = getTextEncoding();
  const reuse = kept !== undefined && kept.encoding === encoding ? kept.writer : undefined;
  kept = undefined;
  const writer = reuse ?? new BinaryWriter();
  try {
    write(writer, message);
  } catch {
    // The writer is left mid-message: it is dropped.
    encodeFallbacks.count++;
    return toBinary(schema, message);
  }
  const bytes = writer.finish();
  if (bytes.byteLength <= KEEP_WRITER_BYTES) kept = { writer, encoding };
  return bytes;
}
