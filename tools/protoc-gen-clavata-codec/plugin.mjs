#!/usr/bin/env node
// protoc-gen-clavata-codec: a protoc plugin that writes a specialised binary decoder and encoder for every message of
// the files it is asked for (option `files=clavata/`, a path prefix), and for every message those reach (Timestamp,
// Value, ...), into one TypeScript file, `<prefix>binary_codec.ts`, plus the shared `<prefix>wire_reader.ts` and
// `<prefix>wire_writer.ts`.
//
// The decoders produce exactly what protobuf-es 2.17.0's fromBinary() produces: the same plain objects (`$typeName`,
// zero values, `{ case }` oneofs, `$unknown`), the same merging, the same errors for the same inputs. The encoders
// produce exactly toBinary()'s bytes, through protobuf-es's own BinaryWriter, and hand anything unusual to toBinary()
// itself. Both are plain functions, one per message (a `switch` on the field number to read, the fields in number
// order to write), so V8 sees monomorphic stores and calls instead of protobuf-es's per-field closures behind one
// shared loop. No eval or new Function, at generation or run time.
//
// Anything this generator does not reproduce exactly (proto2 and editions defaults, closed enums, groups, wrapper
// and Struct fields that protobuf-es unwraps, extensions) stops generation with an error instead of producing a
// codec that would differ. Plain JavaScript, so that `buf generate` runs it with node after nothing but `npm ci`.

import { readFileSync } from "node:fs";
import { ScalarType } from "@bufbuild/protobuf";
import { createEcmaScriptPlugin, runNodeJs } from "@bufbuild/protoplugin";

const EDITION_PROTO3 = 999;
const IMPLICIT = 2;
const wrapperTypes = new Set(
  ["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map(
    (t) => `google.protobuf.${t}Value`,
  ),
);

const version = JSON.parse(
  readFileSync(new URL("../../node_modules/@bufbuild/protobuf/package.json", import.meta.url)),
).version;
const readerSource = readFileSync(new URL("./wire-reader.ts", import.meta.url), "utf8");
const writerSource = readFileSync(new URL("./wire-writer.ts", import.meta.url), "utf8");

/** @param {{key: string, value: string}[]} raw */
function parseOptions(raw) {
  let files = "";
  for (const { key, value } of raw) {
    if (key === "files") files = value;
    else throw new Error(`unknown option "${key}"; the only option is files=<path prefix>`);
  }
  if (files === "") throw new Error('missing option "files", the path prefix of the .proto files to decode (clavata/)');
  return { files };
}

/** A function name for a message's reader: read_ and its full name with _ for dots. */
function readerName(desc) {
  return `read_${desc.typeName.replace(/\./g, "_")}`;
}

function fail(desc, what) {
  throw new Error(`protoc-gen-clavata-codec: ${desc.toString()}: ${what} is not supported; decode it with protobuf-es`);
}

/** The expression that reads one scalar value, as compileScalarReader() of from-binary.js. */
function scalarRead(scalar, utf8Validation, longAsString) {
  const long = (expr) => (longAsString ? `String(${expr})` : expr);
  switch (scalar) {
    case ScalarType.STRING:
      return `r.string(${String(utf8Validation)})`;
    case ScalarType.BOOL:
      return "r.bool()";
    case ScalarType.DOUBLE:
      return "r.double()";
    case ScalarType.FLOAT:
      return "r.float()";
    case ScalarType.INT32:
      return "r.int32()";
    case ScalarType.INT64:
      return long("r.int64()");
    case ScalarType.UINT64:
      return long("r.uint64()");
    case ScalarType.FIXED64:
      return long("r.fixed64()");
    case ScalarType.BYTES:
      return "r.bytes()";
    case ScalarType.FIXED32:
      return "r.fixed32()";
    case ScalarType.SFIXED32:
      return "r.sfixed32()";
    case ScalarType.SFIXED64:
      return long("r.sfixed64()");
    case ScalarType.SINT64:
      return long("r.sint64()");
    case ScalarType.UINT32:
      return "r.uint32()";
    case ScalarType.SINT32:
      return "r.sint32()";
  }
  throw new Error(`unknown scalar type ${String(scalar)}`);
}

/** The zero value of a scalar as source, as scalarZeroValue(). */
function scalarZero(scalar, longAsString) {
  switch (scalar) {
    case ScalarType.STRING:
      return '""';
    case ScalarType.BOOL:
      return "false";
    case ScalarType.BYTES:
      return "new Uint8Array(0)";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return longAsString ? '"0"' : "protoInt64.zero";
    default:
      return "0";
  }
}

/** A function name for a message's writer: write_ and its full name with _ for dots. */
function writerName(desc) {
  return `write_${desc.typeName.replace(/\./g, "_")}`;
}

/** The wire type a scalar is written with, as writeTypeOfScalar() of to-binary.js. */
function scalarWireType(scalar) {
  switch (scalar) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return 2;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 1;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return 5;
    default:
      return 0;
  }
}

/** The BinaryWriter method that writes a scalar, as compileScalarWrite() of to-binary.js. */
function scalarMethod(scalar) {
  const name = ScalarType[scalar];
  if (name === undefined) throw new Error(`unknown scalar type ${String(scalar)}`);
  return name.toLowerCase();
}

/** Whether implicit-presence field value `v` is written, as compileSingularField() of to-binary.js decides. */
function isSetExpression(field, v) {
  if (field.fieldKind === "enum") return `${v} !== ${String(field.enum.values[0].number)}`;
  switch (field.scalar) {
    case ScalarType.BOOL:
      return `${v} !== false`;
    case ScalarType.STRING:
      return `${v} !== ""`;
    case ScalarType.BYTES:
      return `!(${v} instanceof Uint8Array) || ${v}.byteLength > 0`;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      // Object.is tells -0 from 0: -0 is written.
      return `!Object.is(${v}, 0)`;
    default:
      // Loose, as protobuf-es: 0, 0n and "0" are all the zero value.
      return `(${v} as unknown) != 0`;
  }
}

/**
 * The statements (one string per line) that write field `field` of `m` with writer `w`, exactly as the compiled
 * writers of protobuf-es's to-binary.js do: the same presence checks, the same order of tags and values, the same
 * BinaryWriter calls. A value those would turn into something else first (an undefined list item or map value
 * becomes an empty message there) makes these throw instead, and the caller falls back to toBinary().
 */
function fieldWrite(field) {
  const name = field.localName;
  const no = String(field.number);
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const scalar = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const put = (v) => `w.tag(${no}, ${String(scalarWireType(scalar))}).${scalarMethod(scalar)}(${v});`;
      if (field.oneof) {
        const o = field.oneof.localName;
        return [`if (m.${o}.case === "${name}") ${put(`m.${o}.value`)}`];
      }
      if (field.presence !== IMPLICIT)
        return [`if (m.${name} !== undefined && hasOwn(m, "${name}")) ${put(`m.${name}`)}`];
      return [`{`, `  const v = m.${name};`, `  if (${isSetExpression(field, "v")}) ${put("v")}`, `}`];
    }
    case "message": {
      const child = (v) => [`w.tag(${no}, 2).fork();`, `${writerName(field.message)}(w, ${v});`, `w.join();`];
      if (field.oneof) {
        const o = field.oneof.localName;
        return [`if (m.${o}.case === "${name}") {`, ...child(`m.${o}.value`).map((l) => `  ${l}`), `}`];
      }
      return [
        `{`,
        `  const v = m.${name};`,
        `  if (v !== undefined && hasOwn(m, "${name}")) {`,
        ...child("v").map((l) => `    ${l}`),
        `  }`,
        `}`,
      ];
    }
    case "list": {
      const list = `const a = m.${name};`;
      if (field.listKind === "message") {
        return [
          `{`,
          `  ${list}`,
          `  for (let i = 0; i < a.length; i++) {`,
          `    w.tag(${no}, 2).fork();`,
          `    ${writerName(field.message)}(w, a[i]!);`,
          `    w.join();`,
          `  }`,
          `}`,
        ];
      }
      const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const method = scalarMethod(scalar);
      if (field.packed) {
        return [
          `{`,
          `  ${list}`,
          `  if (a.length != 0) {`,
          `    w.tag(${no}, 2).fork();`,
          `    for (let i = 0; i < a.length; i++) w.${method}(a[i]!);`,
          `    w.join();`,
          `  }`,
          `}`,
        ];
      }
      return [
        `{`,
        `  ${list}`,
        `  for (let i = 0; i < a.length; i++) w.tag(${no}, ${String(scalarWireType(scalar))}).${method}(a[i]!);`,
        `}`,
      ];
    }
    case "map": {
      // Map keys are strings locally: converted to the key type first, as compileMapKeyConverter() of to-binary.js.
      let key;
      switch (field.mapKey) {
        case ScalarType.STRING:
          key = "k";
          break;
        case ScalarType.BOOL:
          key = "mapKeyBool(k)";
          break;
        case ScalarType.UINT64:
        case ScalarType.FIXED64:
          key = "mapKeyUint64(k)";
          break;
        case ScalarType.INT64:
        case ScalarType.SFIXED64:
        case ScalarType.SINT64:
          key = "mapKeyInt64(k)";
          break;
        default:
          key = "mapKeyInt32(k)";
      }
      const writeKey = `w.tag(1, ${String(scalarWireType(field.mapKey))}).${scalarMethod(field.mapKey)}(${key} as never);`;
      let value;
      switch (field.mapKind) {
        case "scalar":
        case "enum": {
          const scalar = field.mapKind === "enum" ? ScalarType.INT32 : field.scalar;
          value = [`w.tag(2, ${String(scalarWireType(scalar))}).${scalarMethod(scalar)}(r[k]!);`];
          break;
        }
        case "message":
          value = [`w.tag(2, 2).fork();`, `${writerName(field.message)}(w, r[k]!);`, `w.join();`];
          break;
      }
      return [
        `{`,
        `  const r = m.${name};`,
        `  const keys = Object.keys(r);`,
        `  for (let i = 0; i < keys.length; i++) {`,
        `    const k = keys[i]!;`,
        `    w.tag(${no}, 2).fork();`,
        `    ${writeKey}`,
        ...value.map((l) => `    ${l}`),
        `    w.join();`,
        `  }`,
        `}`,
      ];
    }
  }
  throw new Error(`unknown field kind of ${field.toString()}`);
}

/** Checks what the generated reader relies on, so that an unsupported proto fails generation. */
function checkMessage(desc) {
  if (desc.file.edition !== EDITION_PROTO3) fail(desc, "a message outside proto3 (defaults, closed enums)");
  for (const field of desc.fields) {
    if (field.delimitedEncoding) fail(field, "the delimited (group) encoding");
    if (field.enum !== undefined && !field.enum.open) fail(field, "a closed enum");
    if (field.message !== undefined) {
      if (field.fieldKind === "message" && !field.oneof && wrapperTypes.has(field.message.typeName))
        fail(field, "a wrapper field (unwrapped by protobuf-es)");
      if (field.message.typeName === "google.protobuf.Struct" && desc.typeName !== "google.protobuf.Value")
        fail(field, "a Struct field (a JsonObject in protobuf-es)");
    }
    if (field.getDefaultValue?.() !== undefined) fail(field, "a default value");
  }
}

/** Every message the selected files declare, nested ones included, and every message they reach. */
function reachableMessages(files) {
  const seen = new Set();
  const order = [];
  const visit = (desc) => {
    if (seen.has(desc)) return;
    seen.add(desc);
    order.push(desc);
    for (const field of desc.fields) if (field.message !== undefined) visit(field.message);
    for (const nested of desc.nestedMessages) visit(nested);
  };
  for (const file of files) for (const desc of file.messages) visit(desc);
  return order;
}

/** The source of the object literal that create(desc) returns for a proto3 message, members in order. */
function emptyMessage(desc) {
  const props = [`$typeName: ${JSON.stringify(desc.typeName)}`];
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      props.push(`${member.localName}: { case: undefined }`);
      continue;
    }
    switch (member.fieldKind) {
      case "list":
        props.push(`${member.localName}: []`);
        break;
      case "map":
        props.push(`${member.localName}: {}`);
        break;
      case "message":
        break;
      case "enum":
        if (member.presence === IMPLICIT) props.push(`${member.localName}: ${String(member.enum.values[0].number)}`);
        break;
      case "scalar":
        if (member.presence === IMPLICIT)
          props.push(`${member.localName}: ${scalarZero(member.scalar, member.longAsString)}`);
        break;
    }
  }
  return `{ ${props.join(", ")} }`;
}

/** The statements (one string per line, indented) that read field `field` into `m`, after its tag `tag`. */
function fieldRead(field) {
  const name = field.localName;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const read =
        field.fieldKind === "enum" ? "r.int32()" : scalarRead(field.scalar, field.utf8Validation, field.longAsString);
      if (field.oneof) return [`m.${field.oneof.localName} = { case: "${name}", value: ${read} };`];
      return [`m.${name} = ${read};`];
    }
    case "message": {
      const read = readerName(field.message);
      if (field.oneof) {
        const o = field.oneof.localName;
        return [
          `{`,
          `  const o = m.${o};`,
          `  m.${o} = { case: "${name}", value: ${read}(r, r.uint32(), o.case === "${name}" ? o.value : undefined) };`,
          `}`,
        ];
      }
      return [`m.${name} = ${read}(r, r.uint32(), m.${name});`];
    }
    case "list": {
      if (field.listKind === "message")
        return [`m.${name}.push(${readerName(field.message)}(r, r.uint32(), undefined));`];
      const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const read = scalarRead(scalar, field.utf8Validation, field.listKind === "scalar" ? field.longAsString : false);
      if (scalar === ScalarType.STRING || scalar === ScalarType.BYTES) return [`m.${name}.push(${read});`];
      // Packed or not, whatever the field's declaration says: as protobuf-es.
      return [
        `if ((tag & 7) === 2) {`,
        `  const end = r.uint32() + r.pos;`,
        `  while (r.pos < end) m.${name}.push(${read});`,
        `} else {`,
        `  m.${name}.push(${read});`,
        `}`,
      ];
    }
    case "map": {
      const key = scalarRead(field.mapKey, field.utf8Validation, false);
      const keyZero = scalarZero(field.mapKey, false);
      let value;
      let valueZero;
      switch (field.mapKind) {
        case "scalar":
          value = scalarRead(field.scalar, field.utf8Validation, false);
          valueZero = scalarZero(field.scalar, false);
          break;
        case "enum":
          value = "r.int32()";
          valueZero = String(field.enum.values[0].number);
          break;
        case "message":
          // A value seen twice in one entry merges, like any singular message field.
          value = `${readerName(field.message)}(r, r.uint32(), v)`;
          valueZero = `${emptyMessage(field.message)}`;
          break;
      }
      return [
        `{`,
        `  const end = r.uint32() + r.pos;`,
        `  let k;`,
        `  let v;`,
        `  while (r.pos < end) {`,
        `    const t = r.tag();`,
        `    switch (t >>> 3) {`,
        `      case 1:`,
        `        k = ${key};`,
        `        break;`,
        `      case 2:`,
        `        v = ${value};`,
        `        break;`,
        `      default:`,
        `        r.skip(t & 7, t >>> 3, RECURSION_LIMIT - r.depth);`,
        `    }`,
        `  }`,
        `  setOwn(m.${name}, k ?? ${keyZero}, v ?? ${valueZero});`,
        `}`,
      ];
    }
  }
  throw new Error(`unknown field kind of ${field.toString()}`);
}

function generateTs(schema) {
  const prefix = schema.options.files;
  const files = schema.files.filter((f) => f.name.startsWith(prefix));
  if (files.length === 0) return;
  const messages = reachableMessages(files);
  for (const desc of messages) checkMessage(desc);

  const rf = schema.generateFile(`${prefix}wire_reader.ts`);
  rf.print(`// @generated by protoc-gen-clavata-codec, copied from tools/protoc-gen-clavata-codec/wire-reader.ts`);
  rf.print(`/* eslint-disable */`);
  rf.print(readerSource.replace(/\n$/, ""));

  const wf = schema.generateFile(`${prefix}wire_writer.ts`);
  wf.print(`// @generated by protoc-gen-clavata-codec, copied from tools/protoc-gen-clavata-codec/wire-writer.ts`);
  wf.print(`/* eslint-disable */`);
  wf.print(writerSource.replace(/\n$/, ""));

  const f = schema.generateFile(`${prefix}binary_codec.ts`);
  f.print(
    `// Specialised binary decoders and encoders for the messages of ${prefix}**, as protobuf-es ${version}'s fromBinary()`,
  );
  f.print(`// decodes and toBinary() encodes.`);
  f.print(`// @generated by protoc-gen-clavata-codec with parameter "files=${prefix}"`);
  f.print(`/* eslint-disable */`);
  f.print();
  // The reader's helpers are used inside plain strings, so they are imported by hand rather than by symbol.
  f.print`import { protoInt64 } from "@bufbuild/protobuf";`;
  f.print`import { RECURSION_LIMIT, setOwn, WireReader } from "./wire_reader.js";`;
  f.print`import { encodeMessage, hasOwn, mapKeyBool, mapKeyInt32, mapKeyInt64, mapKeyUint64 } from "./wire_writer.js";`;
  f.print`import type { BinaryWriter } from "@bufbuild/protobuf/wire";`;
  const DescMessage = f.import("DescMessage", "@bufbuild/protobuf", true);
  const Message = f.import("Message", "@bufbuild/protobuf", true);
  f.print();

  for (const desc of messages) {
    const Shape = f.importShape(desc);
    const fields = [...desc.fields].sort((a, b) => a.number - b.number);
    f.print`/** Reads ${desc.typeName} of \`len\` bytes into \`m\` (merging, as a field seen twice), or into a new message. */`;
    f.print`function ${readerName(desc)}(r: WireReader, len: number, m: ${Shape} | undefined): ${Shape} {`;
    f.print`  if (++r.depth > RECURSION_LIMIT) throw r.tooDeep(${f.string(desc.typeName)});`;
    f.print`  if (m === undefined) m = ${emptyMessage(desc)} as ${Shape};`;
    f.print`  const end = r.pos + len;`;
    f.print`  let unknown = m.$unknown;`;
    f.print`  while (r.pos < end) {`;
    f.print`    const tag = r.tag();`;
    f.print`    switch (tag >>> 3) {`;
    for (const field of fields) {
      f.print`      case ${String(field.number)}:`;
      for (const line of fieldRead(field)) f.print(`        ${line}`);
      f.print`        break;`;
    }
    f.print`      default:`;
    f.print`        unknown = r.unknown(tag, unknown);`;
    f.print`    }`;
    f.print`  }`;
    f.print`  if (unknown !== undefined && unknown.length > 0) m.$unknown = unknown;`;
    f.print`  r.depth--;`;
    f.print`  return m;`;
    f.print`}`;
    f.print();
  }

  for (const desc of messages) {
    const Shape = f.importShape(desc);
    const fields = [...desc.fields].sort((a, b) => a.number - b.number);
    f.print`/** Writes ${desc.typeName} as toBinary() does; throws where toBinary() would do more than write (the caller falls back to it). */`;
    f.print`function ${writerName(desc)}(w: BinaryWriter, m: ${Shape}): void {`;
    // toBinary() refuses a message of another type, where the type has a field to name in its error.
    if (fields.length > 0)
      f.print`  if (m.$typeName !== ${f.string(desc.typeName)}) throw new TypeError("not a " + ${f.string(desc.typeName)});`;
    for (const field of fields) for (const line of fieldWrite(field)) f.print(`  ${line}`);
    f.print`  const u = m.$unknown;`;
    f.print`  if (u !== undefined) {`;
    f.print`    for (let i = 0; i < u.length; i++) {`;
    f.print`      const { no, wireType, data } = u[i]!;`;
    f.print`      w.tag(no, wireType).raw(data);`;
    f.print`    }`;
    f.print`  }`;
    f.print`}`;
    f.print();
  }

  f.print`/** A generated decoder: fromBinary(schema, bytes) for one schema, with protobuf-es's default options. */`;
  f.print`export type GeneratedDecoder = (bytes: Uint8Array) => ${Message};`;
  f.print();
  f.print`/** The generated decoder of every message of ${prefix}**, by its schema. */`;
  f.print`export const generatedDecoders: ReadonlyMap<${DescMessage}, GeneratedDecoder> = /*@__PURE__*/ new Map<${DescMessage}, GeneratedDecoder>([`;
  for (const desc of messages) {
    if (!desc.file.name.startsWith(prefix)) continue;
    const Schema = f.importSchema(desc);
    f.print`  [${Schema}, (bytes) => ${readerName(desc)}(new WireReader(bytes), bytes.length, undefined)],`;
  }
  f.print`]);`;
  f.print();
  f.print`/** A generated encoder: toBinary(schema, message) for one schema, with protobuf-es's default options. */`;
  f.print`export type GeneratedEncoder = (message: ${Message}) => Uint8Array;`;
  f.print();
  f.print`/** The generated encoder of every message of ${prefix}**, by its schema. */`;
  f.print`export const generatedEncoders: ReadonlyMap<${DescMessage}, GeneratedEncoder> = /*@__PURE__*/ new Map<${DescMessage}, GeneratedEncoder>([`;
  for (const desc of messages) {
    if (!desc.file.name.startsWith(prefix)) continue;
    const Schema = f.importSchema(desc);
    const Shape = f.importShape(desc);
    f.print`  [${Schema}, (message) => encodeMessage(${Schema}, message as ${Shape}, ${writerName(desc)})],`;
  }
  f.print`]);`;
}

export const protocGenClavataCodec = createEcmaScriptPlugin({
  name: "protoc-gen-clavata-codec",
  version: `v${version}`,
  parseOptions,
  generateTs,
});

runNodeJs(protocGenClavataCodec);
