import { describe, expect, it } from "vitest";
import { contentHash, fnv1a128, isContentHash } from "../src/content-hash.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

/** The textbook definition, one BigInt step per byte: a cross-check for the limb arithmetic on other inputs. */
function referenceFnv1a128(bytes: Uint8Array): string {
  const prime = 0x0000000001000000000000000000013bn;
  const mask = (1n << 128n) - 1n;
  let h = 0x6c62272e07bb014262b821756295c58dn;
  for (const b of bytes) h = ((h ^ BigInt(b)) * prime) & mask;
  return h.toString(16).padStart(32, "0");
}

describe("fnv1a128", () => {
  it("gives the published FNV-1a 128-bit test values", () => {
    expect(fnv1a128(utf8(""))).toBe("6c62272e07bb014262b821756295c58d");
    expect(fnv1a128(utf8("a"))).toBe("d228cb696f1a8caf78912b704e4a8964");
    expect(fnv1a128(utf8("foobar"))).toBe("343e1662793c64bf6f0d3597ba446f18");
  });

  it("agrees with the BigInt definition on every byte value and on longer inputs", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (let i = 0; i < 256; i++)
      expect(fnv1a128(all.subarray(i, i + 1))).toBe(referenceFnv1a128(all.subarray(i, i + 1)));
    expect(fnv1a128(all)).toBe(referenceFnv1a128(all));
    const pseudoRandom = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
    expect(fnv1a128(pseudoRandom)).toBe(referenceFnv1a128(pseudoRandom));
    const ff = new Uint8Array(1000).fill(0xff);
    expect(fnv1a128(ff)).toBe(referenceFnv1a128(ff));
  });

  it("always gives 32 lowercase hex digits", () => {
    for (const s of ["", "x", "hello world", "\u{1F600}"]) expect(fnv1a128(utf8(s))).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("contentHash", () => {
  it('prefixes "fnv1a128::" and hashes text as UTF-8', () => {
    expect(contentHash(utf8("a"))).toBe("fnv1a128::d228cb696f1a8caf78912b704e4a8964");
    expect(contentHash("foobar")).toBe("fnv1a128::343e1662793c64bf6f0d3597ba446f18");
    expect(contentHash("é")).toBe(contentHash(Uint8Array.of(0xc3, 0xa9)));
  });

  it("isContentHash accepts only the emulator's form", () => {
    expect(isContentHash(contentHash("x"))).toBe(true);
    expect(isContentHash("fnv1a128::aa")).toBe(false);
    expect(isContentHash("6c62272e07bb014262b821756295c58d")).toBe(false);
    expect(isContentHash("fnv1a128::6C62272E07BB014262B821756295C58D")).toBe(false);
    expect(isContentHash("md5::6c62272e07bb014262b821756295c58d")).toBe(false);
  });
});

describe("md5 and digestOf", () => {
  it("agree with node:crypto for MD5 and the SHA digests, on texts and bytes of every length class", async () => {
    const { createHash } = await import("node:crypto");
    const { digestOf, md5 } = await import("../src/content-hash.js");
    const samples = [
      "",
      "a",
      "hello",
      "x".repeat(55),
      "x".repeat(56),
      "x".repeat(64),
      "ünïcödé ✓ 😀",
      "y".repeat(1000),
    ].map(utf8);
    samples.push(Uint8Array.from({ length: 300 }, (_, i) => (i * 131) & 0xff));
    for (const bytes of samples) {
      expect(md5(bytes)).toBe(createHash("md5").update(bytes).digest("hex"));
      for (const algo of ["md5", "sha1", "sha256", "sha512"]) {
        expect(await digestOf(bytes, algo.toUpperCase())).toBe(createHash(algo).update(bytes).digest("hex"));
      }
      expect(await digestOf(bytes, "fnv1a128")).toBe(fnv1a128(bytes));
    }
    expect(await digestOf(utf8("a"), "xxh3")).toBeUndefined();
  });
});
