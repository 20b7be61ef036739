// The structural check of a request, derived from the message descriptors: for every field of the generated
// schema it knows the kind (scalar, enum, message, list, map), the scalar type, the oneof it belongs to and its
// presence, so a wrong type, a null, a hole in an array or an unknown key is reported with its field path before
// protobuf-es can coerce it into a valid-looking value or throw a TypeError.

import { type DescEnum, type DescField, type DescMessage, type DescOneof, ScalarType } from "@bufbuild/protobuf";
import { describeType, invalidField, isPlainObject, isWellFormedText } from "./invalid.js";

/**
 * A field path, built only when an error needs it: the happy path allocates one small node per step instead of a
 * string, since formatting "contentData[123].metadata" for every field costs as much as the checks themselves.
 */
class PathNode {
  constructor(
    readonly parent: Path,
    readonly key: string | number,
    readonly mapKey = false,
  ) {}
}

/** A field path: text ("" for the request itself) or a node below one. @private */
export type Path = string | PathNode;

/** The text of a path, such as `contentData[3].metadata["id"]`. */
function text(path: Path): string {
  if (typeof path === "string") return path;
  const parent = text(path.parent);
  if (typeof path.key === "number") return `${parent}[${String(path.key)}]`;
  if (path.mapKey) return `${parent}[${JSON.stringify(path.key)}]`;
  return parent === "" ? path.key : `${parent}.${path.key}`;
}

function whatOf(path: Path): string {
  const t = text(path);
  return t === "" ? "the request" : t;
}

/** A running estimate of the request's encoded size, in bytes. @private */
export interface SizeBudget {
  bytes: number;
}

/** Requests nest a few levels; anything deeper is a cycle or a mistake, not a request. */
const MAX_DEPTH = 16;
/** A generous estimate of a field's tag and length prefix, so the size estimate never undercounts much. */
const FIELD_OVERHEAD = 6;

interface Members {
  fields: Map<string, DescField>;
  oneofs: Map<string, DescOneof>;
  /** Proto and JSON spellings of fields, and oneof members written at the top level, mapped to a hint. */
  hints: Map<string, string>;
  /** Oneof members by every spelling, to recognise an object that sets several of them. */
  oneofMembers: Map<string, DescField & { oneof: DescOneof }>;
}

const membersCache = new WeakMap<DescMessage, Members>();

function membersOf(desc: DescMessage): Members {
  let members = membersCache.get(desc);
  if (members !== undefined) return members;
  members = { fields: new Map(), oneofs: new Map(), hints: new Map(), oneofMembers: new Map() };
  for (const field of desc.fields) {
    if (field.oneof === undefined) members.fields.set(field.localName, field);
    else {
      const hint = `that is the JSON form; write ${field.oneof.localName}: { case: "${field.localName}", value }`;
      for (const name of [field.localName, field.name]) {
        members.hints.set(name, hint);
        members.oneofMembers.set(name, field as DescField & { oneof: DescOneof });
      }
    }
    if (field.name !== field.localName && field.oneof === undefined) {
      members.hints.set(field.name, `the field is spelled ${field.localName}`);
    }
  }
  for (const oneof of desc.oneofs) members.oneofs.set(oneof.localName, oneof);
  membersCache.set(desc, members);
  return members;
}

/**
 * Checks that `value` is a valid init shape of the message `desc` (what `create(desc, value)` accepts without
 * coercing anything), adding its estimated encoded size to `budget`. `path` is the message's field path ("" for
 * the request itself). Throws InvalidRequestError naming the first bad field.
 * @private
 */
export function checkMessageShape(desc: DescMessage, value: unknown, path: Path, budget: SizeBudget, depth = 0): void {
  if (depth > MAX_DEPTH) {
    throw invalidField(`${whatOf(path)} nests deeper than a ${desc.name} can; is the object cyclic?`, text(path));
  }
  if (!isPlainObject(value)) {
    const hint =
      desc.typeName === "google.protobuf.Timestamp"
        ? "; pass a Timestamp, for example timestampFromDate(date) from @bufbuild/protobuf/wkt"
        : "";
    throw invalidField(
      `${whatOf(path)} is ${describeType(value)}; expected a plain object (a ${desc.name})${hint}`,
      text(path),
    );
  }
  const members = membersOf(desc);
  for (const key of Object.keys(value)) {
    if (key === "$typeName") {
      if (value.$typeName !== desc.typeName) {
        throw invalidField(
          `${whatOf(path)} is a ${String(value.$typeName)} message, not a ${desc.typeName}`,
          text(path),
        );
      }
      continue;
    }
    // Unknown fields that a decoded message carries along; protobuf-es writes them back as they came.
    if (key === "$unknown") continue;
    const field = members.fields.get(key);
    const at = new PathNode(path, key);
    if (field !== undefined) {
      const v = value[key];
      if (v === undefined) continue;
      if (v === null) {
        throw invalidField(`${text(at)} is null; leave it out (or set it to undefined) for the default`, text(at));
      }
      checkField(field, v, at, budget, depth);
      continue;
    }
    const oneof = members.oneofs.get(key);
    if (oneof !== undefined) {
      checkOneof(oneof, value[key], path, budget, depth);
      continue;
    }
    const member = members.oneofMembers.get(key);
    if (member !== undefined) {
      const set = (value[member.oneof.localName] as { case?: unknown } | undefined)?.case;
      const kinds = [
        ...(typeof set === "string" ? [set] : []),
        ...Object.keys(value).filter((k) => members.oneofMembers.get(k)?.oneof === member.oneof),
      ];
      if (kinds.length > 1) {
        throw invalidField(
          `${whatOf(path)} has ${String(kinds.length)} kinds of ${member.oneof.localName} (${kinds.join(", ")}); an item holds exactly one, so send each as its own item`,
          text(path),
        );
      }
    }
    const hint = members.hints.get(key);
    throw invalidField(
      `${text(at)} is not a field of ${desc.name}${hint === undefined ? "" : `; ${hint}`}` +
        (hint === undefined
          ? `; its fields are ${[...members.fields.keys(), ...members.oneofs.keys()].join(", ")}`
          : ""),
      text(at),
    );
  }
  if (desc.typeName === "google.protobuf.Timestamp") checkTimestampRange(value, path);
}

/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/**
 * A Timestamp that its type declares invalid (nanos outside 0 to 999 999 999, seconds outside years 1 to 9999) is
 * refused here; the gateway would reject it anyway. Its fields' types were checked before.
 */
function checkTimestampRange(value: Record<string, unknown>, path: Path): void {
  const nanos = value.nanos;
  if (typeof nanos === "number" && (nanos < 0 || nanos > 999_999_999)) {
    throw invalidField(
      `${text(new PathNode(path, "nanos"))} is ${String(nanos)}; a Timestamp's nanos are 0 to 999 999 999 (carry whole seconds into seconds)`,
      text(new PathNode(path, "nanos")),
    );
  }
  const seconds = value.seconds;
  if (seconds !== undefined && seconds !== null) {
    const s = BigInt(seconds as bigint | number | string);
    if (s < MIN_TIMESTAMP_SECONDS || s > MAX_TIMESTAMP_SECONDS) {
      throw invalidField(
        `${text(new PathNode(path, "seconds"))} is outside what a Timestamp can hold (years 1 to 9999)`,
        text(new PathNode(path, "seconds")),
      );
    }
  }
}

const oneofCases = new WeakMap<DescOneof, Map<string, DescField>>();

function oneofCase(oneof: DescOneof, name: string): DescField | undefined {
  let cases = oneofCases.get(oneof);
  if (cases === undefined) {
    cases = new Map(oneof.fields.map((f) => [f.localName, f]));
    oneofCases.set(oneof, cases);
  }
  return cases.get(name);
}

/** A oneof's member is named as a field of the message itself (`contentData[3].image`), as in the JSON form. */
function checkOneof(oneof: DescOneof, value: unknown, parent: Path, budget: SizeBudget, depth: number): void {
  if (value === undefined) return;
  const path = new PathNode(parent, oneof.localName);
  const cases = () => oneof.fields.map((f) => f.localName).join(", ");
  if (!isPlainObject(value) || !("case" in value)) {
    throw invalidField(
      `${text(path)} is ${describeType(value)}; expected { case, value } with case one of ${cases()}`,
      text(path),
    );
  }
  if (value.case === undefined) return;
  const field = typeof value.case === "string" ? oneofCase(oneof, value.case) : undefined;
  if (field === undefined) {
    throw invalidField(`${text(path)}.case is not one of ${cases()}`, `${text(path)}.case`);
  }
  const at = new PathNode(parent, field.localName);
  if (value.value === undefined || value.value === null) {
    throw invalidField(
      `${text(at)} is ${describeType(value.value)}; ${text(path)}.case "${field.localName}" needs a value`,
      text(at),
    );
  }
  checkField(field, value.value, at, budget, depth);
}

function checkField(field: DescField, value: unknown, path: Path, budget: SizeBudget, depth: number): void {
  switch (field.fieldKind) {
    case "scalar":
      checkScalar(field.scalar, value, path, budget);
      return;
    case "enum":
      checkEnum(field.enum, value, path);
      budget.bytes += FIELD_OVERHEAD;
      return;
    case "message":
      budget.bytes += FIELD_OVERHEAD;
      checkMessageShape(field.message, value, path, budget, depth + 1);
      return;
    case "list": {
      if (!Array.isArray(value)) {
        throw invalidField(`${text(path)} is ${describeType(value)}; expected an array`, text(path));
      }
      for (let i = 0; i < value.length; i++) {
        const at = new PathNode(path, i);
        // A hole would be sent as a default value ("undefined" as text, an empty item), so it is an error.
        if (!(i in value))
          throw invalidField(`${text(at)} is a hole in a sparse array; every element must be set`, text(at));
        const element: unknown = value[i];
        if (element === undefined || element === null) {
          throw invalidField(`${text(at)} is ${describeType(element)}; remove it from the array`, text(at));
        }
        if (field.listKind === "scalar") checkScalar(field.scalar, element, at, budget);
        else if (field.listKind === "enum") {
          checkEnum(field.enum, element, at);
          budget.bytes += FIELD_OVERHEAD;
        } else {
          budget.bytes += FIELD_OVERHEAD;
          checkMessageShape(field.message, element, at, budget, depth + 1);
        }
      }
      return;
    }
    case "map": {
      if (!isPlainObject(value)) {
        throw invalidField(
          `${text(path)} is ${describeType(value)}; expected a plain object of keys to values`,
          text(path),
        );
      }
      for (const key of Object.keys(value)) {
        const at = new PathNode(path, key, true);
        checkScalar(field.mapKey, field.mapKey === ScalarType.STRING ? key : mapKeyNumber(key, text(at)), at, budget);
        const entry = value[key];
        if (entry === undefined || entry === null) {
          throw invalidField(
            `${text(at)} is ${describeType(entry)}; map values must be set (leave the key out instead)`,
            text(at),
          );
        }
        if (field.mapKind === "scalar") checkScalar(field.scalar, entry, at, budget);
        else if (field.mapKind === "enum") checkEnum(field.enum, entry, at);
        else checkMessageShape(field.message, entry, at, budget, depth + 1);
        budget.bytes += FIELD_OVERHEAD;
      }
      return;
    }
  }
}

function mapKeyNumber(key: string, path: Path): number {
  const n = Number(key);
  if (key.trim() === "" || !Number.isFinite(n))
    throw invalidField(`${text(path)}: the map's keys must be numbers`, text(path));
  return n;
}

function checkEnum(desc: DescEnum, value: unknown, path: Path): void {
  if (typeof value !== "number" || !Number.isInteger(value) || desc.value[value] === undefined) {
    throw invalidField(
      `${text(path)} is ${typeof value === "number" ? `${String(value)}, which is not a value of` : `${describeType(value)}, not`} ${desc.name}; use the ${desc.name} enum, such as ${desc.name}.${desc.values[1]?.localName ?? desc.values[0]!.localName}`,
      text(path),
    );
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function checkScalar(type: ScalarType, value: unknown, path: Path, budget: SizeBudget): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== "string") {
        throw invalidField(`${text(path)} is ${describeType(value)}; expected a string`, text(path));
      }
      if (!isWellFormedText(value)) {
        throw invalidField(
          `${text(path)} holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot carry; fix the text's encoding (for example with String.prototype.toWellFormed())`,
          text(path),
        );
      }
      budget.bytes += utf8Length(value) + FIELD_OVERHEAD;
      return;
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) {
        throw invalidField(
          `${text(path)} is ${describeType(value)}; expected bytes as a Uint8Array (a Buffer is one)`,
          text(path),
        );
      }
      budget.bytes += value.byteLength + FIELD_OVERHEAD;
      return;
    case ScalarType.BOOL:
      if (typeof value !== "boolean") {
        throw invalidField(`${text(path)} is ${describeType(value)}; expected true or false`, text(path));
      }
      budget.bytes += 2;
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw invalidField(`${text(path)} is ${describeType(value)}; expected a finite number`, text(path));
      }
      budget.bytes += 9;
      return;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
    case ScalarType.UINT32:
    case ScalarType.FIXED32: {
      const unsigned = type === ScalarType.UINT32 || type === ScalarType.FIXED32;
      const min = unsigned ? 0 : INT32_MIN;
      const max = unsigned ? UINT32_MAX : INT32_MAX;
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        throw invalidField(
          `${text(path)} is ${describeType(value)}; expected a whole number from ${String(min)} to ${String(max)}`,
          text(path),
        );
      }
      budget.bytes += 11;
      return;
    }
    default: {
      // The 64-bit kinds: a bigint, a safe whole number, or a decimal string, within range.
      const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
      let n: bigint | undefined;
      if (typeof value === "bigint") n = value;
      else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
      else if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) n = BigInt(value);
      if (n === undefined || n < (unsigned ? 0n : INT64_MIN) || n > (unsigned ? UINT64_MAX : INT64_MAX)) {
        throw invalidField(
          `${text(path)} is ${describeType(value)}; expected a ${unsigned ? "non-negative " : ""}64-bit whole number (a bigint, a safe integer or a decimal string)`,
          text(path),
        );
      }
      budget.bytes += 11;
    }
  }
}

/**
 * The UTF-8 length of well-formed text, without Node's Buffer (edge runtimes have none) and without encoding it.
 * A surrogate pair counts 4 bytes (2 for each half); lone surrogates are refused before sizes are added up.
 */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) bytes += unit < 0x800 ? 1 : unit >= 0xd800 && unit <= 0xdfff ? 1 : 2;
  }
  return bytes;
}
