// The structural check of a request, derived from the message descriptors: for every field of the generated
// schema it knows the kind (scalar, enum, message, list, map), the scalar type, the oneof it belongs to and its
// presence, so a wrong type, a null, a hole in an array or an unknown key is reported with its field path before
// protobuf-es can coerce it into a valid-looking value or throw a TypeError.

import { type DescEnum, type DescField, type DescMessage, type DescOneof, ScalarType } from "@bufbuild/protobuf";
import { describeType, fieldPath, invalidField, isPlainObject, isWellFormedText } from "./invalid.js";

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
export function checkMessageShape(
  desc: DescMessage,
  value: unknown,
  path: string,
  budget: SizeBudget,
  depth = 0,
): void {
  const what = path === "" ? "the request" : path;
  if (depth > MAX_DEPTH) {
    throw invalidField(`${what} nests deeper than a ${desc.name} can; is the object cyclic?`, path);
  }
  if (!isPlainObject(value)) {
    const hint =
      desc.typeName === "google.protobuf.Timestamp"
        ? "; pass a Timestamp, for example timestampFromDate(date) from @bufbuild/protobuf/wkt"
        : "";
    throw invalidField(`${what} is ${describeType(value)}; expected a plain object (a ${desc.name})${hint}`, path);
  }
  const members = membersOf(desc);
  for (const key of Object.keys(value)) {
    if (key === "$typeName") {
      if (value.$typeName !== desc.typeName) {
        throw invalidField(`${what} is a ${String(value.$typeName)} message, not a ${desc.typeName}`, path);
      }
      continue;
    }
    const field = members.fields.get(key);
    const at = fieldPath(path, key);
    if (field !== undefined) {
      const v = value[key];
      if (v === undefined) continue;
      if (v === null) {
        throw invalidField(`${at} is null; leave it out (or set it to undefined) for the default`, at);
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
          `${what} has ${String(kinds.length)} kinds of ${member.oneof.localName} (${kinds.join(", ")}); an item holds exactly one, so send each as its own item`,
          path,
        );
      }
    }
    const hint = members.hints.get(key);
    throw invalidField(
      `${at} is not a field of ${desc.name}${hint === undefined ? "" : `; ${hint}`}` +
        (hint === undefined
          ? `; its fields are ${[...members.fields.keys(), ...members.oneofs.keys()].join(", ")}`
          : ""),
      at,
    );
  }
}

/** A oneof's member is named as a field of the message itself (`contentData[3].image`), as in the JSON form. */
function checkOneof(oneof: DescOneof, value: unknown, parent: string, budget: SizeBudget, depth: number): void {
  if (value === undefined) return;
  const path = fieldPath(parent, oneof.localName);
  const cases = oneof.fields.map((f) => f.localName).join(", ");
  if (!isPlainObject(value) || !("case" in value)) {
    throw invalidField(`${path} is ${describeType(value)}; expected { case, value } with case one of ${cases}`, path);
  }
  if (value.case === undefined) return;
  const field = oneof.fields.find((f) => f.localName === value.case);
  if (field === undefined) {
    throw invalidField(`${path}.case is not one of ${cases}`, `${path}.case`);
  }
  const at = fieldPath(parent, field.localName);
  if (value.value === undefined || value.value === null) {
    throw invalidField(`${at} is ${describeType(value.value)}; ${path}.case "${field.localName}" needs a value`, at);
  }
  checkField(field, value.value, at, budget, depth);
}

function checkField(field: DescField, value: unknown, path: string, budget: SizeBudget, depth: number): void {
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
        throw invalidField(`${path} is ${describeType(value)}; expected an array`, path);
      }
      for (let i = 0; i < value.length; i++) {
        const at = `${path}[${String(i)}]`;
        // A hole would be sent as a default value ("undefined" as text, an empty item), so it is an error.
        if (!(i in value)) throw invalidField(`${at} is a hole in a sparse array; every element must be set`, at);
        const element: unknown = value[i];
        if (element === undefined || element === null) {
          throw invalidField(`${at} is ${describeType(element)}; remove it from the array`, at);
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
        throw invalidField(`${path} is ${describeType(value)}; expected a plain object of keys to values`, path);
      }
      for (const key of Object.keys(value)) {
        const at = `${path}[${JSON.stringify(key)}]`;
        checkScalar(field.mapKey, field.mapKey === ScalarType.STRING ? key : mapKeyNumber(key, at), at, budget);
        const entry = value[key];
        if (entry === undefined || entry === null) {
          throw invalidField(`${at} is ${describeType(entry)}; map values must be set (leave the key out instead)`, at);
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

function mapKeyNumber(key: string, path: string): number {
  const n = Number(key);
  if (key.trim() === "" || !Number.isFinite(n)) throw invalidField(`${path}: the map's keys must be numbers`, path);
  return n;
}

function checkEnum(desc: DescEnum, value: unknown, path: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || desc.value[value] === undefined) {
    throw invalidField(
      `${path} is ${typeof value === "number" ? `${String(value)}, which is not a value of` : `${describeType(value)}, not`} ${desc.name}; use the ${desc.name} enum, such as ${desc.name}.${desc.values[1]?.localName ?? desc.values[0]!.localName}`,
      path,
    );
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function checkScalar(type: ScalarType, value: unknown, path: string, budget: SizeBudget): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== "string") {
        throw invalidField(`${path} is ${describeType(value)}; expected a string`, path);
      }
      if (!isWellFormedText(value)) {
        throw invalidField(
          `${path} holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot carry; fix the text's encoding (for example with String.prototype.toWellFormed())`,
          path,
        );
      }
      budget.bytes += Buffer.byteLength(value) + FIELD_OVERHEAD;
      return;
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) {
        throw invalidField(`${path} is ${describeType(value)}; expected bytes as a Uint8Array (a Buffer is one)`, path);
      }
      budget.bytes += value.byteLength + FIELD_OVERHEAD;
      return;
    case ScalarType.BOOL:
      if (typeof value !== "boolean") {
        throw invalidField(`${path} is ${describeType(value)}; expected true or false`, path);
      }
      budget.bytes += 2;
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw invalidField(`${path} is ${describeType(value)}; expected a finite number`, path);
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
          `${path} is ${describeType(value)}; expected a whole number from ${String(min)} to ${String(max)}`,
          path,
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
          `${path} is ${describeType(value)}; expected a ${unsigned ? "non-negative " : ""}64-bit whole number (a bigint, a safe integer or a decimal string)`,
          path,
        );
      }
      budget.bytes += 11;
    }
  }
}
