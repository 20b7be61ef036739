import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, inspectImage, makePng } from "../../src/emulator/image.js";

// zlib.crc32 exists only from Node 20.15 / 22.2; where it is missing, our own CRC (checked below against the
// standard check value) stands in.
const zlibCrc32: ((data: Uint8Array) => number) | undefined = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
const independentCrc32 = zlibCrc32 ?? crc32;

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const u32be = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u32le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u16be = (n: number) => [(n >>> 8) & 0xff, n & 0xff];

function chunk(type: string, data: number[] | Uint8Array): number[] {
  const body = Uint8Array.from([...ascii(type), ...data]);
  return [...u32be(data.length), ...body, ...u32be(independentCrc32(body))];
}

/** A PNG built by hand: signature, IHDR, one deflated IDAT, IEND. */
function handPng(width: number, height: number, extra: { skipIdat?: boolean; zeroWidth?: boolean } = {}): Uint8Array {
  const raw = new Uint8Array(height * (1 + width)); // greyscale, filter 0, zero pixels
  const ihdr = [...u32be(extra.zeroWidth ? 0 : width), ...u32be(height), 8, 0, 0, 0, 0];
  return Uint8Array.from([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk("IHDR", ihdr),
    ...(extra.skipIdat ? [] : chunk("IDAT", zlib.deflateSync(raw))),
    ...chunk("tEXt", ascii("Comment\0hand made")),
    ...chunk("IEND", []),
  ]);
}

/** A baseline JPEG skeleton: SOI, APP0, DQT, SOF0, SOS, a few entropy-coded bytes, EOI. */
function handJpeg(width: number, height: number, opts: { sosFirst?: boolean; fill?: boolean } = {}): Uint8Array {
  const app0 = [0xff, 0xe0, ...u16be(16), ...ascii("JFIF\0"), 1, 1, 0, 0, 1, 0, 1, 0, 0];
  const dqt = [0xff, 0xdb, ...u16be(67), 0, ...new Array<number>(64).fill(1)];
  const sof0 = [0xff, 0xc0, ...u16be(17), 8, ...u16be(height), ...u16be(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
  const sos = [0xff, 0xda, ...u16be(12), 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0];
  const entropy = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56];
  const fill = opts.fill ? [0xff, 0xff] : [];
  const middle = opts.sosFirst ? [...sos, ...sof0] : [...fill, ...sof0, ...sos];
  return Uint8Array.from([0xff, 0xd8, ...app0, ...dqt, ...middle, ...entropy, 0xff, 0xd9]);
}

function riff(chunks: number[][]): Uint8Array {
  const body = [...ascii("WEBP"), ...chunks.flat()];
  return Uint8Array.from([...ascii("RIFF"), ...u32le(body.length), ...body]);
}

function webpChunk(fourcc: string, payload: number[]): number[] {
  return [...ascii(fourcc), ...u32le(payload.length), ...payload, ...(payload.length % 2 ? [0] : [])];
}

const vp8lPayload = (w: number, h: number) => [0x2f, ...u32le((w - 1) | ((h - 1) << 14)), 0];
const vp8Payload = (w: number, h: number) => [
  0x10,
  0x02,
  0x00,
  0x9d,
  0x01,
  0x2a,
  w & 0xff,
  w >>> 8,
  h & 0xff,
  h >>> 8,
  0,
  0,
];
const vp8xPayload = (w: number, h: number) => [0x10, 0, 0, 0, ...u32le(w - 1).slice(0, 3), ...u32le(h - 1).slice(0, 3)];

const webpLossless = (w: number, h: number) => riff([webpChunk("VP8L", vp8lPayload(w, h))]);
const webpLossy = (w: number, h: number) => riff([webpChunk("VP8 ", vp8Payload(w, h))]);
const webpExtended = (w: number, h: number) =>
  riff([webpChunk("VP8X", vp8xPayload(w, h)), webpChunk("VP8L", vp8lPayload(w, h))]);

const GIF = Uint8Array.from([
  ...ascii("GIF89a"),
  1,
  0,
  1,
  0,
  0x80,
  0,
  0,
  0,
  0,
  0,
  0xff,
  0xff,
  0xff,
  ...ascii(",\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;"),
]);
const BMP = Uint8Array.from([
  ...ascii("BM"),
  ...u32le(58),
  0,
  0,
  0,
  0,
  ...u32le(54),
  ...u32le(40),
  ...u32le(1),
  ...u32le(1),
  1,
  0,
  24,
  0,
  ...new Array<number>(28).fill(0),
]);

describe("crc32", () => {
  it("gives the standard check value and agrees with zlib where zlib has it", () => {
    expect(crc32(Uint8Array.from(ascii("123456789")))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    if (zlibCrc32) {
      const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff);
      expect(crc32(data)).toBe(zlibCrc32(data));
    }
  });
});

describe("inspectImage", () => {
  it("reads the dimensions of valid PNG, JPEG and WebP (VP8, VP8L, VP8X) images", () => {
    expect(inspectImage(handPng(3, 2))).toEqual({ format: "png", width: 3, height: 2 });
    expect(inspectImage(handJpeg(640, 480))).toEqual({ format: "jpeg", width: 640, height: 480 });
    expect(inspectImage(handJpeg(7, 5, { fill: true }))).toEqual({ format: "jpeg", width: 7, height: 5 });
    expect(inspectImage(webpLossless(300, 200))).toEqual({ format: "webp", width: 300, height: 200 });
    expect(inspectImage(webpLossy(1024, 768))).toEqual({ format: "webp", width: 1024, height: 768 });
    expect(inspectImage(webpExtended(5000, 4000))).toEqual({ format: "webp", width: 5000, height: 4000 });
  });

  it("calls GIF, BMP, text, RIFF that is not WebP, and empty input unsupported", () => {
    expect(inspectImage(GIF)).toEqual({ error: "unsupported" });
    expect(inspectImage(BMP)).toEqual({ error: "unsupported" });
    expect(inspectImage(new TextEncoder().encode("just some text"))).toEqual({ error: "unsupported" });
    expect(inspectImage(new Uint8Array(0))).toEqual({ error: "unsupported" });
    expect(inspectImage(Uint8Array.from([...ascii("RIFF"), ...u32le(4), ...ascii("WAVE")]))).toEqual({
      error: "unsupported",
    });
  });

  it("calls every truncation of a valid PNG, JPEG or WebP invalid, keeping its format", () => {
    const cases = [
      { bytes: handPng(4, 4), format: "png", from: 4 },
      { bytes: handJpeg(8, 8), format: "jpeg", from: 3 },
      { bytes: webpLossless(9, 9), format: "webp", from: 12 },
      { bytes: webpLossy(9, 9), format: "webp", from: 12 },
      { bytes: webpExtended(9, 9), format: "webp", from: 12 },
    ] as const;
    for (const { bytes, format, from } of cases) {
      for (let n = from; n < bytes.length; n++) {
        const result = inspectImage(bytes.subarray(0, n));
        expect(result, `${format} cut to ${n} of ${bytes.length} bytes`).toMatchObject({ error: "invalid", format });
      }
    }
  });

  it("names the problem of a truncated PNG", () => {
    const png = handPng(4, 4);
    const result = inspectImage(png.subarray(0, png.length - 12));
    expect(result).toEqual({ error: "invalid", format: "png", reason: "no IEND chunk (the file is truncated)" });
    const mid = inspectImage(png.subarray(0, 40));
    expect(mid).toMatchObject({ error: "invalid", reason: expect.stringMatching(/runs past the end|truncated/) });
  });

  it("calls corrupt PNGs invalid: bad CRC, no IDAT, zero width, bad signature", () => {
    const png = handPng(2, 2);
    const badCrc = png.slice();
    badCrc[20] = badCrc[20]! ^ 0x01; // inside IHDR's data
    expect(inspectImage(badCrc)).toMatchObject({
      error: "invalid",
      format: "png",
      reason: expect.stringContaining("bad CRC"),
    });
    expect(inspectImage(handPng(2, 2, { skipIdat: true }))).toMatchObject({
      error: "invalid",
      reason: expect.stringContaining("IDAT"),
    });
    expect(inspectImage(handPng(2, 2, { zeroWidth: true }))).toMatchObject({
      error: "invalid",
      reason: expect.stringContaining("dimensions"),
    });
    const badSig = png.slice();
    badSig[4] = 0x0a; // CR LF turned into LF, as by a text-mode copy
    expect(inspectImage(badSig)).toMatchObject({
      error: "invalid",
      format: "png",
      reason: expect.stringContaining("signature"),
    });
  });

  it("calls corrupt JPEGs and WebPs invalid", () => {
    expect(inspectImage(handJpeg(4, 4, { sosFirst: true }))).toMatchObject({
      error: "invalid",
      format: "jpeg",
      reason: expect.stringContaining("SOS"),
    });
    expect(inspectImage(handJpeg(0, 4))).toMatchObject({ error: "invalid", format: "jpeg" });
    const noEnd = handJpeg(4, 4).slice(0, -2);
    expect(inspectImage(noEnd)).toMatchObject({ error: "invalid", reason: expect.stringContaining("FFD9") });
    const vp8BadStart = riff([
      webpChunk(
        "VP8 ",
        vp8Payload(4, 4).map((b, i) => (i === 3 ? 0 : b)),
      ),
    ]);
    expect(inspectImage(vp8BadStart)).toMatchObject({ error: "invalid", format: "webp", reason: "bad VP8 start code" });
    const vp8xOnly = riff([webpChunk("VP8X", vp8xPayload(4, 4))]);
    expect(inspectImage(vp8xOnly)).toMatchObject({
      error: "invalid",
      format: "webp",
      reason: expect.stringContaining("without image data"),
    });
    const otherFirst = riff([webpChunk("ICCP", [1, 2])]);
    expect(inspectImage(otherFirst)).toMatchObject({
      error: "invalid",
      format: "webp",
      reason: expect.stringContaining('"ICCP"'),
    });
  });

  it("accepts trailing bytes after a WebP's RIFF data", () => {
    const padded = Uint8Array.from([...webpLossless(2, 3), 0, 0, 0, 0]);
    expect(inspectImage(padded)).toEqual({ format: "webp", width: 2, height: 3 });
  });
});

describe("makePng", () => {
  it("makes a valid PNG with the given size, correct CRCs and the given colour", () => {
    const png = makePng(5, 3, { color: [10, 20, 30] });
    expect(inspectImage(png)).toEqual({ format: "png", width: 5, height: 3 });
    // Walk the chunks independently, check each CRC with zlib's, and inflate the image data.
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    let offset = 8;
    const types: string[] = [];
    let idat = new Uint8Array(0);
    while (offset < png.length) {
      const length = view.getUint32(offset);
      const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
      types.push(type);
      expect(view.getUint32(offset + 8 + length)).toBe(independentCrc32(png.subarray(offset + 4, offset + 8 + length)));
      if (type === "IDAT") idat = png.slice(offset + 8, offset + 8 + length);
      offset += 12 + length;
    }
    expect(types).toEqual(["IHDR", "IDAT", "IEND"]);
    const raw = zlib.inflateSync(idat); // also checks the Adler-32 trailer
    expect(raw.length).toBe(3 * (1 + 3 * 5));
    expect([...raw.subarray(0, 7)]).toEqual([0, 10, 20, 30, 10, 20, 30]);
  });

  it("is deterministic, differs by colour and size, and handles images larger than one stored block", () => {
    expect(makePng(2, 2)).toEqual(makePng(2, 2));
    expect(makePng(2, 2)).not.toEqual(makePng(2, 2, { color: [0, 0, 0] }));
    const big = makePng(200, 200); // 120,200 bytes of image data: two stored deflate blocks
    expect(inspectImage(big)).toEqual({ format: "png", width: 200, height: 200 });
    const start = 8 + 25 + 8;
    expect(zlib.inflateSync(big.subarray(start, big.length - 12 - 4)).length).toBe(200 * 601);
  });

  it("rejects sizes and colours it cannot make", () => {
    expect(() => makePng(0, 1)).toThrow(RangeError);
    expect(() => makePng(1.5, 1)).toThrow(/width must be an integer/);
    expect(() => makePng(10000, 10000)).toThrow(/exceed 64 MiB/);
    expect(() => makePng(1, 1, { color: [256, 0, 0] })).toThrow(/color/);
  });
});
