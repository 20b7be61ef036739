// The emulator's content hash: FNV-1a with a 128-bit state, written as the
// gateway writes hashes ("algorithm::value").
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
