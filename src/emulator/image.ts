// Recognises the image formats the gateway accepts (PNG, JPEG, WebP) from
// their bytes, reads their dimensions, and tells a truncated or corrupt file
// of a supported format apart from a format that is not supported at all.
//
// This is a structural check of the container (signatures, chunk and segment
// lengths, the end marker), not a decoder: pixel data is never decompressed.

/** An image format the gateway accepts. */
export type ImageFormat = "png" | "jpeg" | "webp";

/** The formats the gateway accepts, in the order they are listed in messages. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ["png", "jpeg", "webp"];

/** What {@link inspectImage} found in a byte string. */
export type ImageInspection =
  | { format: ImageFormat; width: number; height: number }
  | { error: "unsupported" }
  | { error: "invalid"; format: ImageFormat; reason: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Identifies an image and reads its dimensions.
 *
 * - PNG: the 8-byte signature, an `IHDR` chunk first (13 bytes, non-zero width and height), every chunk's
 *   length within the data and its CRC-32 correct, at least one `IDAT` chunk, and an `IEND` chunk.
 * - JPEG: starts with `FF D8 FF`, a frame header (a SOFn marker) with non-zero dimensions before the first
 *   scan, every segment's length within the data, and ends with the end-of-image marker `FF D9`.
 * - WebP: `"RIFF"`, a size, `"WEBP"`; the RIFF size must not run past the data; the first chunk is `VP8 `,
 *   `VP8L` or `VP8X` with the dimensions (a `VP8X` file must also hold image data).
 *
 * @returns the format and dimensions; `{ error: "invalid", format, reason }` for data that starts like a
 *   supported format but is truncated or corrupt; `{ error: "unsupported" }` for anything else (GIF, BMP,
 *   text, empty input). Never throws.
 */
export function inspectImage(bytes: Uint8Array): ImageInspection {
  if (bytes.length >= 4 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return inspectPng(bytes);
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return inspectJpeg(bytes);
  }
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") {
    return inspectWebp(bytes);
  }
  return { error: "unsupported" };
}

function invalid(format: ImageFormat, reason: string): ImageInspection {
  return { error: "invalid", format, reason };
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  let s = "";
  for (let i = offset; i < offset + length && i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
}

function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32le(b: Uint8Array, o: number): number {
  return b[o]! + (b[o + 1]! << 8) + (b[o + 2]! << 16) + ((b[o + 3]! << 24) >>> 0);
}

function inspectPng(bytes: Uint8Array): ImageInspection {
  if (bytes.length < 8 || PNG_SIGNATURE.some((v, i) => bytes[i] !== v)) {
    return invalid(
      "png",
      "bad PNG signature (the file is truncated or was changed in transit, e.g. by a text-mode copy)",
    );
  }
  let offset = 8;
  let width = 0;
  let height = 0;
  let sawIdat = false;
  let index = 0;
  for (;;) {
    if (offset + 8 > bytes.length) {
      return invalid(
        "png",
        offset === bytes.length ? "no IEND chunk (the file is truncated)" : `truncated chunk header at byte ${offset}`,
      );
    }
    const length = u32be(bytes, offset);
    const type = ascii(bytes, offset + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type)) return invalid("png", `bad chunk type at byte ${offset + 4}`);
    if (length > 0x7fffffff || offset + 12 + length > bytes.length) {
      return invalid("png", `chunk ${type} at byte ${offset} runs past the end of the data (the file is truncated)`);
    }
    const stored = u32be(bytes, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== stored) {
      return invalid("png", `chunk ${type} at byte ${offset} has a bad CRC`);
    }
    if (index === 0) {
      if (type !== "IHDR" || length !== 13) return invalid("png", "the first chunk is not a 13-byte IHDR");
      width = u32be(bytes, offset + 8);
      height = u32be(bytes, offset + 12);
      if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
        return invalid("png", `bad dimensions ${width}x${height}`);
      }
    } else if (type === "IHDR") {
      return invalid("png", "more than one IHDR chunk");
    }
    if (type === "IDAT") sawIdat = true;
    if (type === "IEND") {
      if (!sawIdat) return invalid("png", "no IDAT chunk (no image data)");
      return { format: "png", width, height };
    }
    offset += 12 + length;
    index++;
  }
}

// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function inspectJpeg(bytes: Uint8Array): ImageInspection {
  const n = bytes.length;
  let offset = 2;
  for (;;) {
    if (offset >= n)
      return invalid("jpeg", "no frame header (SOFn) before the end of the data (the file is truncated)");
    if (bytes[offset] !== 0xff) return invalid("jpeg", `expected a marker at byte ${offset}`);
    // Any number of 0xFF fill bytes may precede a marker.
    while (offset < n && bytes[offset] === 0xff) offset++;
    if (offset >= n) return invalid("jpeg", "the file is truncated inside a marker");
    const marker = bytes[offset]!;
    offset++;
    if (marker === 0xd9) return invalid("jpeg", "end of image before any frame header (SOFn)");
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // standalone markers
    if (marker === 0x00 || marker === 0xd8)
      return invalid("jpeg", `unexpected marker FF${hex2(marker)} at byte ${offset - 2}`);
    if (offset + 2 > n) return invalid("jpeg", `segment FF${hex2(marker)} is truncated`);
    const length = u16be(bytes, offset);
    if (length < 2 || offset + length > n) {
      return invalid(
        "jpeg",
        `segment FF${hex2(marker)} at byte ${offset - 2} runs past the end of the data (the file is truncated)`,
      );
    }
    if (marker === 0xda) return invalid("jpeg", "a scan (SOS) starts before any frame header (SOFn)");
    if (isStartOfFrame(marker)) {
      if (length < 8) return invalid("jpeg", `frame header FF${hex2(marker)} is too short`);
      const height = u16be(bytes, offset + 3);
      const width = u16be(bytes, offset + 5);
      if (width === 0 || height === 0) return invalid("jpeg", `bad dimensions ${width}x${height}`);
      if (n < offset + length + 2 || bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) {
        return invalid("jpeg", "no end-of-image marker FFD9 at the end (the file is truncated)");
      }
      return { format: "jpeg", width, height };
    }
    offset += length;
  }
}

function hex2(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, "0");
}

function inspectWebp(bytes: Uint8Array): ImageInspection {
  const riffSize = u32le(bytes, 4);
  // Trailing bytes after the RIFF data are ignored (as decoders do); missing ones are not.
  const end = 8 + riffSize;
  if (riffSize < 4 || riffSize % 2 !== 0) return invalid("webp", `bad RIFF size ${riffSize}`);
  if (end > bytes.length) {
    return invalid("webp", `the RIFF header says ${end} bytes but there are ${bytes.length} (the file is truncated)`);
  }
  let offset = 12;
  let dims: { width: number; height: number } | undefined;
  let sawImageData = false;
  let first = true;
  while (offset < end) {
    if (offset + 8 > end) return invalid("webp", `truncated chunk header at byte ${offset}`);
    const fourcc = ascii(bytes, offset, 4);
    const size = u32le(bytes, offset + 4);
    const payload = offset + 8;
    if (payload + size > end) {
      return invalid(
        "webp",
        `chunk "${fourcc}" at byte ${offset} runs past the end of the RIFF data (the file is truncated)`,
      );
    }
    if (first) {
      const read = readWebpDimensions(bytes, fourcc, payload, size);
      if ("reason" in read) return invalid("webp", read.reason);
      dims = read;
      first = false;
      if (fourcc !== "VP8X") return { format: "webp", ...dims };
    } else if (fourcc === "VP8 " || fourcc === "VP8L" || fourcc === "ANMF") {
      sawImageData = true;
    }
    offset = payload + size + (size % 2); // chunks are padded to an even size
  }
  if (dims === undefined) return invalid("webp", "no image chunk");
  if (!sawImageData) return invalid("webp", "a VP8X file without image data (VP8, VP8L or ANMF chunk)");
  return { format: "webp", ...dims };
}

function readWebpDimensions(
  b: Uint8Array,
  fourcc: string,
  p: number,
  size: number,
): { width: number; height: number } | { reason: string } {
  if (fourcc === "VP8 ") {
    if (size < 10) return { reason: "VP8 chunk too short" };
    if ((b[p]! & 1) !== 0) return { reason: "VP8 data does not start with a key frame" };
    if (b[p + 3] !== 0x9d || b[p + 4] !== 0x01 || b[p + 5] !== 0x2a) return { reason: "bad VP8 start code" };
    const width = (b[p + 6]! | (b[p + 7]! << 8)) & 0x3fff;
    const height = (b[p + 8]! | (b[p + 9]! << 8)) & 0x3fff;
    if (width === 0 || height === 0) return { reason: `bad dimensions ${width}x${height}` };
    return { width, height };
  }
  if (fourcc === "VP8L") {
    if (size < 5) return { reason: "VP8L chunk too short" };
    if (b[p] !== 0x2f) return { reason: "bad VP8L signature" };
    const bits = u32le(b, p + 1);
    if (bits >>> 29 !== 0) return { reason: "unknown VP8L version" };
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (fourcc === "VP8X") {
    if (size < 10) return { reason: "VP8X chunk too short" };
    const width = 1 + (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16));
    const height = 1 + (b[p + 7]! | (b[p + 8]! << 8) | (b[p + 9]! << 16));
    return { width, height };
  }
  return { reason: `the first chunk is "${fourcc}"; expected "VP8 ", "VP8L" or "VP8X"` };
}

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 (ISO-HDLC, the one PNG and zlib use) of bytes.
 *
 * Computed here rather than with `zlib.crc32`, which only exists from Node 20.15 and 22.2.
 */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  const table = crcTable;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Options for {@link makePng}. */
export interface MakePngOptions {
  /** The colour of every pixel, as [red, green, blue] from 0 to 255. Default [128, 128, 128]. */
  color?: readonly [number, number, number];
}

/**
 * Makes a valid PNG of one solid colour (8-bit RGB, no compression), for demos and tests.
 *
 * The output depends only on the arguments (the image data is stored, not deflated, so no zlib version can
 * change it), which makes its content hash stable. Its size is about `height × (3 × width + 1)` bytes.
 *
 * @throws RangeError when width or height is not an integer from 1 to 10000, the image would exceed
 *   64 MiB, or a colour channel is not an integer from 0 to 255.
 */
export function makePng(width: number, height: number, options: MakePngOptions = {}): Uint8Array {
  for (const [name, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 10000) {
      throw new RangeError(`makePng: ${name} must be an integer from 1 to 10000; got ${v}`);
    }
  }
  if (height * (1 + 3 * width) > 64 * 1024 * 1024) {
    throw new RangeError(`makePng: a ${width}x${height} image would exceed 64 MiB; make it smaller`);
  }
  const color = options.color ?? [128, 128, 128];
  if (color.length !== 3 || color.some((c) => !Number.isInteger(c) || c < 0 || c > 255)) {
    throw new RangeError(
      `makePng: color must be [red, green, blue] with integers from 0 to 255; got ${JSON.stringify(color)}`,
    );
  }
  const stride = 1 + 3 * width;
  const raw = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    // Filter byte 0 (None) then the pixels.
    for (let x = 0; x < width; x++) raw.set(color, y * stride + 1 + 3 * x);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return concat([
    Uint8Array.from(PNG_SIGNATURE),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", zlibStored(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** Wraps data in a PNG chunk: length, type, data, CRC-32 of type and data. */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A zlib stream of stored (uncompressed) deflate blocks, with its Adler-32 trailer. */
function zlibStored(data: Uint8Array): Uint8Array {
  const blocks: Uint8Array[] = [Uint8Array.of(0x78, 0x01)];
  let offset = 0;
  do {
    const len = Math.min(0xffff, data.length - offset);
    const last = offset + len >= data.length;
    const header = Uint8Array.of(last ? 1 : 0, len & 0xff, len >>> 8, ~len & 0xff, (~len >>> 8) & 0xff);
    blocks.push(header, data.subarray(offset, offset + len));
    offset += len;
  } while (offset < data.length);
  let a = 1;
  let b = 0;
  // 5552 is the longest run that cannot overflow before the modulo (as zlib does it).
  for (let start = 0; start < data.length; start += 5552) {
    const stop = Math.min(start + 5552, data.length);
    for (let i = start; i < stop; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, ((b << 16) | a) >>> 0);
  blocks.push(trailer);
  return concat(blocks);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
