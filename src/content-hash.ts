// Content hashes as the gateway writes them ("algorithm::value"), in one place for the SDK (which attributes
// refusals to items by hash) and the emulator (which makes them). FNV-1a with a 128-bit state is the emulator's
// algorithm; MD5 and the SHA family are what a gateway may send. Pure TypeScript plus WebCrypto: no `node:` import,
// so that the SDK side works over any transport and runtime.
//
// The 128-bit state is kept in eight 16-bit limbs held in plain numbers, so
// that hashing an 8 MiB image allocates nothing per byte (a BigInt loop is
// several times slower). The FNV prime is 2^88 + 0x13b, so multiplying by it
// is "times 0x13b" plus "shift left by 88 bits", both cheap on limbs.

/** The prefix of every content hash the emulator makes. */
export const CONTENT_HASH_ALGORITHM = "fnv1a128";

const CONTENT_HASH_PATTERN = /^fnv1a128::[0-9a-f]{32}$/;

/**
 * Hashes bytes with 128-bit FNV-1a (offset basis 0x6c62272e07bb014262b821756295c58d,
 * prime 2^88 + 0x13b, arithmetic modulo 2^128).
 *
 * @returns the hash as 32 lowercase hex digits, most significant first.
 */
export function fnv1a128(bytes: Uint8Array): string {
  // Offset basis, least significant limb first.
  let h0 = 0xc58d;
  let h1 = 0x6295;
  let h2 = 0x2175;
  let h3 = 0x62b8;
  let h4 = 0x0142;
  let h5 = 0x07bb;
  let h6 = 0x272e;
  let h7 = 0x6c62;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    h0 ^= bytes[i]!;
    // Every intermediate stays below 2^26, so this is exact small-integer arithmetic.
    const t0 = h0 * 0x13b;
    const t1 = h1 * 0x13b + (t0 >>> 16);
    const t2 = h2 * 0x13b + (t1 >>> 16);
    const t3 = h3 * 0x13b + (t2 >>> 16);
    const t4 = h4 * 0x13b + (t3 >>> 16);
    // h << 88 lands the low 40 bits of h (limbs 0..2, shifted by 8) in limbs 5..7.
    const t5 = h5 * 0x13b + (t4 >>> 16) + ((h0 << 8) & 0xffff);
    const t6 = h6 * 0x13b + (t5 >>> 16) + (((h1 << 8) | (h0 >>> 8)) & 0xffff);
    const t7 = h7 * 0x13b + (t6 >>> 16) + (((h2 << 8) | (h1 >>> 8)) & 0xffff);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
    h4 = t4 & 0xffff;
    h5 = t5 & 0xffff;
    h6 = t6 & 0xffff;
    h7 = t7 & 0xffff;
  }
  let out = "";
  for (const limb of [h7, h6, h5, h4, h3, h2, h1, h0]) out += limb.toString(16).padStart(4, "0");
  return out;
}

/**
 * The gateway-style content hash of bytes: `"fnv1a128::"` followed by the FNV-1a 128 hash of them in hex.
 * Text is hashed as its UTF-8 bytes.
 */
export function contentHash(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return `${CONTENT_HASH_ALGORITHM}::${fnv1a128(data)}`;
}

/**
 * Whether a string is a content hash as the emulator writes it: `"fnv1a128::"` and 32 lowercase hex digits.
 */
export function isContentHash(value: string): boolean {
  return CONTENT_HASH_PATTERN.test(value);
}

// Per-round shift amounts and sine-derived constants of MD5 (RFC 1321).
const MD5_SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

/**
 * Hashes bytes with MD5 (RFC 1321), for gateways that write `"md5::…"` content hashes.
 *
 * @returns the digest as 32 lowercase hex digits.
 */
export function md5(bytes: Uint8Array): string {
  const n = bytes.length;
  const padded = new Uint8Array((((n + 8) >>> 6) + 1) * 64);
  padded.set(bytes);
  padded[n] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, (n * 8) >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(n / 0x20000000), true);
  let a0 = 0x67452301;
  let b0 = 0xefcdab89;
  let c0 = 0x98badcfe;
  let d0 = 0x10325476;
  const m = new Uint32Array(16);
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let j = 0; j < 16; j++) m[j] = view.getUint32(offset + j * 4, true);
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) % 16;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) % 16;
      }
      const sum = (a + f + MD5_K[i]! + m[g]!) | 0;
      const s = MD5_SHIFTS[(i >>> 4) * 4 + (i % 4)]!;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  let out = "";
  for (const word of [a0, b0, c0, d0]) {
    for (let k = 0; k < 4; k++) out += ((word >>> (8 * k)) & 0xff).toString(16).padStart(2, "0");
  }
  return out;
}

/** The part of WebCrypto's SubtleCrypto used here (the SDK's types do not include the DOM library). */
interface WebDigest {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}

// WebCrypto's names for the SHA digests a gateway may use.
const WEB_DIGESTS: Readonly<Record<string, string>> = {
  sha1: "SHA-1",
  sha256: "SHA-256",
  sha384: "SHA-384",
  sha512: "SHA-512",
};

/**
 * The digest of bytes in "fnv1a128" or "md5" (case and dashes ignored), computed at once; undefined for any other
 * algorithm (see {@link digestOf} for the SHA digests).
 */
export function digestNowOf(bytes: Uint8Array, algorithm: string): string | undefined {
  const algo = algorithm.toLowerCase().replace(/-/g, "");
  if (algo === CONTENT_HASH_ALGORITHM) return fnv1a128(bytes);
  if (algo === "md5") return md5(bytes);
  return undefined;
}

/**
 * The digest of bytes in a content-hash algorithm, as lowercase hex: "fnv1a128" and "md5" at once, "sha1",
 * "sha256", "sha384" and "sha512" through WebCrypto. Case and dashes in the name are ignored ("SHA-256").
 *
 * @returns undefined for an algorithm this SDK cannot compute (or SHA without WebCrypto); never throws.
 */
export async function digestOf(bytes: Uint8Array, algorithm: string): Promise<string | undefined> {
  const now = digestNowOf(bytes, algorithm);
  if (now !== undefined) return now;
  const web = WEB_DIGESTS[algorithm.toLowerCase().replace(/-/g, "")];
  const subtle = (globalThis as { crypto?: { subtle?: WebDigest } }).crypto?.subtle;
  if (web === undefined || subtle === undefined) return undefined;
  const digest = new Uint8Array(await subtle.digest(web, bytes));
  let out = "";
  for (const byte of digest) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * Splits a gateway content hash ("algorithm::value") into its algorithm and lowercase value; undefined when it has
 * no "::".
 */
export function parseContentHash(hash: string): { algorithm: string; value: string } | undefined {
  const separator = hash.indexOf("::");
  if (separator <= 0) return undefined;
  return { algorithm: hash.slice(0, separator), value: hash.slice(separator + 2).toLowerCase() };
}
