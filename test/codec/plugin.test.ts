// protoc-gen-clavata-codec on protos of the test's own: every field kind that proto/clavata does not use yet
// (packed and unpacked repeated scalars, every integer encoding, int64 as string, maps with integer and bool keys and
// message values, optional bytes, a recursive oneof), decoded and encoded differentially like the gateway's messages;
// and generation that stops on what the codecs cannot reproduce exactly.

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { type DescMessage, equals, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arbitraryEncoding, arbitraryMessage, arbitraryMutation, seedOf } from "./message-arbitrary.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const plugin = join(root, "tools", "protoc-gen-clavata-codec", "plugin.mjs");

const template = `version: v2
plugins:
  - local: ${JSON.stringify(bin("protoc-gen-es"))}
    out: gen
    opt: [target=ts, import_extension=js]
  - local: ["node", ${JSON.stringify(plugin)}]
    strategy: all
    out: gen
    opt: [target=ts, import_extension=js, files=t/]
`;

const allKinds = `syntax = "proto3";
package t.v1;
import "google/protobuf/timestamp.proto";
enum E {
  E_ZERO = 0;
  E_ONE = 1;
}
message All {
  repeated int32 i32 = 1;
  repeated int32 i32_unpacked = 2 [packed = false];
  repeated sint64 s64 = 3;
  repeated fixed32 f32 = 4;
  repeated double d = 5;
  repeated bool b = 6;
  repeated E e = 7;
  repeated bytes by = 8;
  int64 i64 = 9;
  uint64 u64 = 10;
  sint32 s32 = 11;
  fixed64 f64 = 12;
  sfixed32 sf32 = 13;
  sfixed64 sf64 = 14;
  uint32 u32 = 15;
  float f = 16;
  int64 i64_string = 17 [jstype = JS_STRING];
  map<int32, string> by_int = 18;
  map<bool, All> by_bool = 19;
  map<uint64, E> by_u64 = 20;
  optional bytes ob = 21;
  oneof o {
    All child = 22;
    sint32 z = 23;
  }
  google.protobuf.Timestamp at = 24;
  repeated uint64 u64_unpacked = 25 [packed = false];
  repeated sfixed64 sf64s = 26;
}
`;

/** Runs buf generate on `files` (path → source) in a fresh directory; resolves with the directory and buf's result. */
function generate(files: Record<string, string>): Promise<{ dir: string; code: number; stderr: string }> {
  mkdirSync(join(root, "dist-test"), { recursive: true });
  const dir = mkdtempSync(join(root, "dist-test", "codec-plugin-"));
  writeFileSync(join(dir, "buf.gen.yaml"), template);
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, "proto", path)), { recursive: true });
    writeFileSync(join(dir, "proto", path), source);
  }
  return new Promise((resolve) => {
    execFile(bin("buf"), ["generate", "proto", "--template", "buf.gen.yaml"], { cwd: dir }, (error, _out, stderr) => {
      resolve({ dir, code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stderr });
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("codecs generated for every field kind", () => {
  let schema: DescMessage;
  let decode: (bytes: Uint8Array) => Message;
  let encode: (message: Message) => Uint8Array;

  beforeAll(async () => {
    const { dir, code, stderr } = await generate({ "t/v1/all.proto": allKinds });
    dirs.push(dir);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const pb = (await import(pathToFileURL(join(dir, "gen", "t", "v1", "all_pb.ts")).href)) as {
      AllSchema: DescMessage;
    };
    const codecs = (await import(pathToFileURL(join(dir, "gen", "t", "binary_codec.ts")).href)) as {
      generatedDecoders: ReadonlyMap<DescMessage, (bytes: Uint8Array) => Message>;
      generatedEncoders: ReadonlyMap<DescMessage, (message: Message) => Uint8Array>;
    };
    schema = pb.AllSchema;
    decode = codecs.generatedDecoders.get(schema)!;
    encode = codecs.generatedEncoders.get(schema)!;
    expect(decode).toBeTypeOf("function");
    expect(encode).toBeTypeOf("function");
  }, 60_000);

  it("decode random messages as create() made them and as fromBinary() decodes them", () => {
    fc.assert(
      fc.property(arbitraryMessage(schema, { noNaN: true }), (message) => {
        const bytes = toBinary(schema, message);
        const decoded = decode(bytes);
        if (!equals(schema, decoded, message)) expect(decoded).toStrictEqual(message);
        const theirs = fromBinary(schema, bytes);
        if (!isDeepStrictEqual(decoded, theirs)) expect(decoded).toStrictEqual(theirs);
      }),
      { seed: seedOf("t.v1.All"), numRuns: 1_000 },
    );
  }, 180_000);

  it("decode or reject random and edited encodings as fromBinary() does", () => {
    const pool = fc.constantFrom(...fc.sample(arbitraryEncoding(schema), { seed: 7, numRuns: 300 }));
    fc.assert(
      fc.property(arbitraryMutation(schema, pool), (bytes) => {
        let ours: Message | Error;
        let theirs: Message | Error;
        try {
          ours = decode(bytes);
        } catch (e) {
          ours = e as Error;
        }
        try {
          theirs = fromBinary(schema, bytes);
        } catch (e) {
          theirs = e as Error;
        }
        if (theirs instanceof Error || ours instanceof Error) expect(String(ours)).toBe(String(theirs));
        else if (!isDeepStrictEqual(ours, theirs)) expect(ours).toStrictEqual(theirs);
      }),
      { seed: seedOf("t.v1.All") ^ 1, numRuns: 1_000 },
    );
  }, 180_000);

  it("encode random messages to toBinary()'s bytes", () => {
    fc.assert(
      fc.property(arbitraryMessage(schema), (message) => {
        const ours = encode(message);
        const theirs = toBinary(schema, message);
        if (Buffer.compare(ours, theirs) !== 0) {
          expect(Buffer.from(ours).toString("hex")).toBe(Buffer.from(theirs).toString("hex"));
        }
      }),
      { seed: seedOf("t.v1.All") ^ 2, numRuns: 1_000 },
    );
  }, 180_000);

  it("encode map keys that do not convert to their type as toBinary() does", () => {
    for (const key of ["x", "", "1.5", "0x10", "99999999999999999999", "-1", "true", "TRUE", " 7"]) {
      for (const field of ["byInt", "byBool", "byU64"]) {
        const message = {
          ...fromBinary(schema, new Uint8Array(0)),
          [field]: { [key]: field === "byBool" ? undefined : 1 },
        };
        let ours: string;
        let theirs: string;
        try {
          ours = Buffer.from(encode(message as Message)).toString("hex");
        } catch (e) {
          ours = String(e);
        }
        try {
          theirs = Buffer.from(toBinary(schema, message as Message)).toString("hex");
        } catch (e) {
          theirs = String(e);
        }
        expect(ours).toBe(theirs);
      }
    }
  });

  it("read a packed field sent unpacked and an unpacked one sent packed", () => {
    // i32 (packed) as two single varints, i32_unpacked as one packed run of 1, 2.
    const bytes = Uint8Array.from([0x08, 0x01, 0x08, 0x02, 0x12, 0x02, 0x01, 0x02]);
    expect(decode(bytes)).toStrictEqual(fromBinary(schema, bytes));
    expect((decode(bytes) as unknown as { i32: number[]; i32Unpacked: number[] }).i32Unpacked).toEqual([1, 2]);
  });
});

describe("generation", () => {
  it.each([
    [
      "proto2 (defaults and closed enums)",
      'syntax = "proto2";\npackage t.v1;\nmessage M { optional int32 x = 1 [default = 5]; }\n',
    ],
    [
      "a Struct field (a JsonObject in protobuf-es)",
      'syntax = "proto3";\npackage t.v1;\nimport "google/protobuf/struct.proto";\nmessage M { google.protobuf.Struct s = 1; }\n',
    ],
    [
      "a wrapper field (unwrapped by protobuf-es)",
      'syntax = "proto3";\npackage t.v1;\nimport "google/protobuf/wrappers.proto";\nmessage M { google.protobuf.Int32Value w = 1; }\n',
    ],
  ])(
    "stops on %s",
    async (_what, source) => {
      const { dir, code, stderr } = await generate({ "t/v1/m.proto": source });
      dirs.push(dir);
      expect(code).not.toBe(0);
      expect(stderr).toContain("is not supported; decode it with protobuf-es");
    },
    60_000,
  );
});
