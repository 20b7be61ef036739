// fast-check arbitraries for any message, built from its descriptor: random init objects that create() turns into
// messages (every field kind, unknown enum numbers, unknown fields, nested and recursive messages), and random
// edits of their encodings. The generated-codec tests and `npm run fuzz` share them.

import { create, type DescField, type DescMessage, type Message, ScalarType, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";

// How deep messages nest before every message field is left unset; Value, Struct and ListValue are recursive.
const MAX_DEPTH = 4;

const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

// Strings that reach every path of the string readers: empty, short and long ASCII (both sides of the 24- and
// 32-byte thresholds), and any Unicode text (multi-byte UTF-8, a leading U+FEFF).
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ minLength: 20, maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => `\ufeff${s}`),
);

function scalar(type: ScalarType, noNaN: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 40 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return fc.double({ noNaN });
    case ScalarType.FLOAT:
      return fc.float({ noNaN });
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  }
}

// Known enum numbers most of the time, any int32 (an open enum keeps unknown numbers) otherwise.
function enumNumber(field: DescField): fc.Arbitrary<number> {
  const known = field.enum!.values.map((v) => v.number);
  return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, { arbitrary: int32, weight: 1 });
}

// A field's value as init: its element for lists and maps.
function element(field: DescField, depth: number, noNaN: boolean): fc.Arbitrary<unknown> {
  if (field.message !== undefined) return messageInit(field.message, depth + 1, noNaN);
  if (field.enum !== undefined) return enumNumber(field);
  return scalar(field.scalar!, noNaN);
}

// Map keys as protobuf-es holds them: object keys, so integers and booleans as their decimal or "true"/"false" text.
function mapKey(type: ScalarType): fc.Arbitrary<string> {
  if (type === ScalarType.STRING) return fc.string({ maxLength: 6 });
  if (type === ScalarType.BOOL) return fc.constantFrom("true", "false");
  return (scalar(type, true) as fc.Arbitrary<number | bigint>).map(String);
}

// Unknown fields of every wire type, with numbers no message here declares.
const unknownField = fc.oneof(
  fc.record({ no: fc.integer({ min: 1000, max: 536870911 }), v: uint32 }).map(({ no, v }) => ({
    no,
    wireType: WireType.Varint,
    data: new BinaryWriter().uint32(v).finish(),
  })),
  fc.record({ no: fc.integer({ min: 1000, max: 2000 }), v: fc.uint8Array({ maxLength: 12 }) }).map(({ no, v }) => ({
    no,
    wireType: WireType.LengthDelimited,
    data: new BinaryWriter().bytes(v).finish(),
  })),
  fc
    .record({ no: fc.integer({ min: 1000, max: 2000 }), v: fc.uint8Array({ minLength: 4, maxLength: 4 }) })
    .map(({ no, v }) => ({ no, wireType: WireType.Bit32, data: v })),
  fc
    .record({ no: fc.integer({ min: 1000, max: 2000 }), v: fc.uint8Array({ minLength: 8, maxLength: 8 }) })
    .map(({ no, v }) => ({ no, wireType: WireType.Bit64, data: v })),
);

/** An init object for `desc` (a partial one: any field may be left out). */
function messageInit(desc: DescMessage, depth: number, noNaN: boolean): fc.Arbitrary<Record<string, unknown>> {
  if (depth > MAX_DEPTH) return fc.constant({});
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      parts[member.localName] = fc.oneof(
        fc.constant({ case: undefined }),
        ...member.fields.map((f) =>
          element(f, depth, noNaN).map((value) => ({ case: f.localName, value }) as Record<string, unknown>),
        ),
      );
      continue;
    }
    switch (member.fieldKind) {
      case "list":
        parts[member.localName] = fc.array(element(member, depth, noNaN), { maxLength: depth === 0 ? 4 : 2 });
        break;
      case "map":
        parts[member.localName] = fc.dictionary(mapKey(member.mapKey), element(member, depth, noNaN), { maxKeys: 3 });
        break;
      default:
        parts[member.localName] = element(member, depth, noNaN);
    }
  }
  // fc.option per field and one tuple: several times cheaper to generate than fc.record with optional keys.
  const names = Object.keys(parts);
  const values = names.map((n) => fc.option(parts[n]!, { nil: undefined, freq: 3 }));
  return fc
    .tuple(fc.option(fc.array(unknownField, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 6 }), ...values)
    .map(([unknown, ...vs]) => {
      const init: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) if (vs[i] !== undefined) init[names[i]!] = vs[i];
      if (unknown !== undefined) init.$unknown = unknown;
      return init;
    });
}

/** Random messages of `desc`, made by create(). NaN is left out with `noNaN`, as equals() says NaN ≠ NaN. */
export function arbitraryMessage(desc: DescMessage, { noNaN = false } = {}): fc.Arbitrary<Message> {
  return messageInit(desc, 0, noNaN).map((init) => create(desc, init as never) as Message);
}

/** Valid encodings of `desc`: toBinary() of random messages. */
export function arbitraryEncoding(desc: DescMessage): fc.Arbitrary<Uint8Array> {
  return arbitraryMessage(desc).map((m) => toBinary(desc, m));
}

/**
 * Encodings of `desc` edited at random: bytes flipped, inserted, deleted or truncated, a range repeated (fields seen
 * twice), two encodings joined (merging), or random bytes put in. `valid` gives the encodings to edit; a pool of
 * pre-made ones (fc.constantFrom) makes long runs affordable, since making a message costs far more than editing it.
 */
export function arbitraryMutation(desc: DescMessage, valid = arbitraryEncoding(desc)): fc.Arbitrary<Uint8Array> {
  const at = fc.nat();
  const edit = fc.oneof(
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(([i, b]) => (u: Uint8Array) => {
      if (u.length === 0) return u;
      const c = u.slice();
      c[i % c.length] = b;
      return c;
    }),
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(([i, b]) => (u: Uint8Array) => {
      const p = i % (u.length + 1);
      return concat(u.subarray(0, p), Uint8Array.of(b), u.subarray(p));
    }),
    at.map((i) => (u: Uint8Array) => {
      if (u.length === 0) return u;
      const p = i % u.length;
      return concat(u.subarray(0, p), u.subarray(p + 1));
    }),
    at.map((i) => (u: Uint8Array) => u.subarray(0, i % (u.length + 1))),
    fc.tuple(at, at).map(([i, j]) => (u: Uint8Array) => {
      const a = i % (u.length + 1);
      const b = j % (u.length + 1);
      const [s, e] = a < b ? [a, b] : [b, a];
      return concat(u, u.subarray(s, e));
    }),
    fc.tuple(at, fc.uint8Array({ maxLength: 8 })).map(([i, bytes]) => (u: Uint8Array) => {
      const p = i % (u.length + 1);
      return concat(u.subarray(0, p), bytes, u.subarray(p));
    }),
  );
  return fc.oneof(
    fc
      .tuple(valid, fc.array(edit, { minLength: 1, maxLength: 3 }))
      .map(([u, edits]) => edits.reduce((b, e) => e(b), u)),
    fc.tuple(valid, valid).map(([a, b]) => concat(a, b)),
    fc.uint8Array({ maxLength: 64 }),
  );
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A seed of its own for each message type, so that a failure names a type and a seed that reproduce it. */
export function seedOf(typeName: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < typeName.length; i++) h = Math.imul(h ^ typeName.charCodeAt(i), 0x01000193);
  return h | 0;
}
