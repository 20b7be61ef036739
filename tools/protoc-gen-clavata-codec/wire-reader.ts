// The reader that the generated decoders share. protoc-gen-clavata-codec copies this file verbatim into gen/ beside
// the decoders it generates, so that gen/ needs nothing but @bufbuild/protobuf.
//
// Every method mirrors a method of protobuf-es's BinaryReader (@bufbuild/protobuf/dist/esm/wire/binary-encoding.js
// and wire/varint.js, version 2.17.0) so that the generated decoders accept, reject and produce exactly what
// `fromBinary` does. Two of its quirks are kept on purpose:
// - bounds are checked against the end of the whole buffer, never against the end of the enclosing message, so a
//   field that runs past its message's declared length is read, and the parent carries on after it;
// - the wire type of a known field is not checked: a field is read the way its declaration says.
// What differs is only how fast: a tag is a number instead of a [fieldNo, wireType] array, short ASCII strings are
// built without an intermediate array, and the DataView for floating-point fields is made only when needed.

import { protoInt64, type UnknownField } from "@bufbuild/protobuf";
import { getTextEncoding, WireType } from "@bufbuild/protobuf/wire";

/** protobuf-es's default recursion limit for `fromBinary`, which `messageCodec` always uses. */
export const RECURSION_LIMIT = 100;

// Up to this many bytes, an ASCII string is built char by char; above, TextDecoder is faster (measured on Node 20).
const SHORT_STRING = 24;

// A message of at least this many bytes keeps the strings it has decoded, so that the same bytes met again in it
// become the same string instead of a new one. Large messages repeat themselves: a job's results each carry their
// policy's section names and assertion messages. Sharing the string saves decoding it and, more, the garbage
// collector's work of copying every copy while the message is alive. Smaller messages skip this: they seldom
// repeat a string, and the table would cost more than it saves. Only this reader sees the table: nothing outlives
// the decoding of one message.
const REPEATS_MIN_MESSAGE_BYTES = 4096;
// Strings shorter than this are cheap to make afresh.
const REPEATS_MIN_STRING_BYTES = 8;
// Slots in the table (a power of two); a slot holds the last string whose bytes hash to it.
const REPEATS_SLOTS = 256;

/** A cursor over one buffer being decoded. @internal */
export class WireReader {
  readonly buf: Uint8Array;
  readonly len: number;
  pos = 0;
  /** How many messages deep the decoder is, as protobuf-es's `ctx.depth`. */
  depth = 0;
  private view: DataView | undefined;
  /** For large messages: per slot, where the bytes of `repeatValues[slot]` start in `buf` and how many there are. */
  private repeatSpans: Int32Array | undefined;
  private repeatValues: string[] | undefined;
  private readonly decodeUtf8: (bytes: Uint8Array, strict?: boolean) => string;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.len = buf.length;
    // Read per reader, as BinaryReader does, so that configureTextEncoding() applies here too.
    this.decodeUtf8 = getTextEncoding().decodeUtf8;
  }

  /** Throws protobuf-es's error for a message nested deeper than the recursion limit. */
  tooDeep(typeName: string): Error {
    return new Error(
      `cannot decode message ${typeName} from binary: maximum recursion depth of ${String(RECURSION_LIMIT)} reached`,
    );
  }

  private assertBounds(): void {
    if (this.pos > this.len) throw new RangeError("premature EOF");
  }

  /** A tag as one number (field number << 3 | wire type), checked as BinaryReader.tag() checks it. */
  tag(): number {
    const b = this.buf[this.pos]!;
    // One-byte tags (field numbers up to 15) are nearly all of them.
    if (b < 0x80) {
      this.pos++;
      if (b < 8 || (b & 7) > 5) throw new Error(`illegal tag: field no ${String(b >>> 3)} wire type ${String(b & 7)}`);
      return b;
    }
    const start = this.pos;
    const tag = this.uint32();
    const bytesRead = this.pos - start;
    if (bytesRead > 5 || (bytesRead === 5 && this.buf[this.pos - 1]! > 0x0f)) {
      throw new Error("illegal tag: varint overflows uint32");
    }
    const fieldNo = tag >>> 3;
    const wireType = tag & 7;
    if (fieldNo <= 0 || wireType > 5) {
      throw new Error(`illegal tag: field no ${String(fieldNo)} wire type ${String(wireType)}`);
    }
    return tag;
  }

  /** varint32read: at most 10 bytes, the bits above 32 dropped. */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return b;
    }
    let result = b & 0x7f;
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 7;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 14;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 21;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x0f) << 28;
    for (let readBytes = 5; (b & 0x80) !== 0 && readBytes < 10; readBytes++) b = buf[this.pos++]!;
    if ((b & 0x80) !== 0) throw new Error("invalid varint");
    this.assertBounds();
    return result >>> 0;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  sint32(): number {
    const zze = this.uint32();
    return (zze >>> 1) ^ -(zze & 1);
  }

  // varint64read, leaving the two halves in lo/hi.
  private lo = 0;
  private hi = 0;
  private varint64(): void {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        this.pos = pos;
        this.assertBounds();
        this.lo = lo;
        this.hi = hi;
        return;
      }
    }
    const middleByte = buf[pos++]!;
    lo |= (middleByte & 0x0f) << 28;
    hi = (middleByte & 0x70) >> 4;
    if ((middleByte & 0x80) === 0) {
      this.pos = pos;
      this.assertBounds();
      this.lo = lo;
      this.hi = hi;
      return;
    }
    for (let shift = 3; shift <= 31; shift += 7) {
      const b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        this.pos = pos;
        this.assertBounds();
        this.lo = lo;
        this.hi = hi;
        return;
      }
    }
    throw new Error("invalid varint");
  }

  int64(): bigint {
    this.varint64();
    return protoInt64.dec(this.lo, this.hi) as bigint;
  }

  uint64(): bigint {
    this.varint64();
    return protoInt64.uDec(this.lo, this.hi) as bigint;
  }

  sint64(): bigint {
    this.varint64();
    const s = -(this.lo & 1);
    const lo = ((this.lo >>> 1) | ((this.hi & 1) << 31)) ^ s;
    const hi = (this.hi >>> 1) ^ s;
    return protoInt64.dec(lo, hi) as bigint;
  }

  bool(): boolean {
    const b = this.buf[this.pos]!;
    if (b < 0x80) {
      this.pos++;
      return b !== 0;
    }
    this.varint64();
    return this.lo !== 0 || this.hi !== 0;
  }

  private dataView(): DataView {
    if (this.view === undefined) this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  fixed32(): number {
    // biome-ignore lint/suspicious/noAssignInExpressions: as BinaryReader: the view throws past the end
    return this.dataView().getUint32((this.pos += 4) - 4, true);
  }

  sfixed32(): number {
    // biome-ignore lint/suspicious/noAssignInExpressions: as BinaryReader: the view throws past the end
    return this.dataView().getInt32((this.pos += 4) - 4, true);
  }

  fixed64(): bigint {
    return protoInt64.uDec(this.sfixed32(), this.sfixed32()) as bigint;
  }

  sfixed64(): bigint {
    return protoInt64.dec(this.sfixed32(), this.sfixed32()) as bigint;
  }

  float(): number {
    // biome-ignore lint/suspicious/noAssignInExpressions: as BinaryReader: the view throws past the end
    return this.dataView().getFloat32((this.pos += 4) - 4, true);
  }

  double(): number {
    // biome-ignore lint/suspicious/noAssignInExpressions: as BinaryReader: the view throws past the end
    return this.dataView().getFloat64((this.pos += 8) - 8, true);
  }

  /** Length-delimited bytes, as a view into the input (BinaryReader.bytes() does not copy either). */
  bytes(): Uint8Array {
    const len = this.uint32();
    const start = this.pos;
    this.pos += len;
    this.assertBounds();
    return this.buf.subarray(start, start + len);
  }

  /** A length-delimited string; `strict` rejects invalid UTF-8 (proto3's default), else it becomes U+FFFD. */
  string(strict: boolean): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    this.assertBounds();
    if (len >= REPEATS_MIN_STRING_BYTES && this.len >= REPEATS_MIN_MESSAGE_BYTES)
      return this.repeated(start, len, strict);
    return this.decode(start, end, strict);
  }

  /** The string of the `len` bytes at `start`: the one made before from the same bytes of this buffer, if any. */
  private repeated(start: number, len: number, strict: boolean): string {
    const buf = this.buf;
    const end = start + len;
    // Hash the length and three of the bytes; a slot is only ever trusted after comparing every byte.
    const slot =
      (Math.imul(len, 0x9e3779b1) ^
        Math.imul(buf[start]!, 0x85ebca6b) ^
        (buf[start + (len >>> 1)]! << 8) ^
        buf[end - 1]!) &
      (REPEATS_SLOTS - 1);
    let spans = this.repeatSpans;
    let values = this.repeatValues;
    if (spans === undefined || values === undefined) {
      spans = this.repeatSpans = new Int32Array(REPEATS_SLOTS * 2);
      values = this.repeatValues = new Array<string>(REPEATS_SLOTS);
    } else if (spans[slot * 2 + 1] === len) {
      const at = spans[slot * 2]!;
      let i = 0;
      while (i < len && buf[at + i] === buf[start + i]) i++;
      // Same bytes: the same string. A string made non-strictly (invalid UTF-8 replaced) is never stored, so a
      // strict read of those bytes still throws as it should.
      if (i === len) return values[slot]!;
    }
    const value = this.decode(start, end, strict);
    if (strict) {
      spans[slot * 2] = start;
      spans[slot * 2 + 1] = len;
      values[slot] = value;
    }
    return value;
  }

  private decode(start: number, end: number, strict: boolean): string {
    const buf = this.buf;
    if (end - start <= SHORT_STRING) {
      let s = "";
      for (let i = start; i < end; i++) {
        const c = buf[i]!;
        if (c > 0x7f) return this.decodeUtf8(buf.subarray(start, end), strict);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.decodeUtf8(buf.subarray(start, end), strict);
  }

  /** BinaryReader.skip(): skips one field's value and returns its bytes. */
  skip(wireType: number, fieldNo: number, recursionLimit: number): Uint8Array {
    const start = this.pos;
    switch (wireType) {
      case WireType.Varint:
        while (this.buf[this.pos++]! & 0x80) {
          // ignore
        }
        break;
      case WireType.Bit64:
        this.pos += 8;
        break;
      case WireType.Bit32:
        this.pos += 4;
        break;
      case WireType.LengthDelimited: {
        const len = this.uint32();
        this.pos += len;
        break;
      }
      case WireType.StartGroup:
        if (recursionLimit <= 0) throw new Error("maximum recursion depth reached");
        for (;;) {
          const tag = this.tag();
          const wt = tag & 7;
          const fn = tag >>> 3;
          if (wt === WireType.EndGroup) {
            if (fn !== fieldNo) throw new Error("invalid end group tag");
            break;
          }
          this.skip(wt, fn, recursionLimit - 1);
        }
        break;
      default:
        throw new Error(`cant skip wire type ${String(wireType)}`);
    }
    this.assertBounds();
    return this.buf.subarray(start, this.pos);
  }

  /** Skips a field that the message does not declare and keeps it, as protobuf-es keeps it in `$unknown`. */
  unknown(tag: number, fields: UnknownField[] | undefined): UnknownField[] {
    const no = tag >>> 3;
    const wireType = (tag & 7) as WireType;
    const data = this.skip(wireType, no, RECURSION_LIMIT - this.depth);
    const list = fields ?? [];
    list.push({ no, wireType, data });
    return list;
  }
}

/** setOwn() of protobuf-es: a map key "__proto__" must become an own property, not the prototype. @internal */
export function setOwn(record: Record<string, unknown>, key: unknown, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(record, "__proto__", { value, writable: true, enumerable: true, configurable: true });
  } else {
    record[key as string] = value;
  }
}
