// Transcoding by the methods' google.api.http rules, read from the generated
// descriptors: a message becomes a verb, a path, query parameters and a JSON
// body (the client's side), and a request on the wire becomes a message again
// (the emulator's side). The rules are the protos' own, never a copy.

import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromJson,
  getOption,
  hasOption,
  isMessage,
  type JsonObject,
  type JsonValue,
  type Message,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { http } from "../../../gen/google/api/annotations_pb.js";

/** One method's REST binding: the HTTP verb, the path template and which part of the message is the body. */
export interface HttpBinding {
  /** The method it binds. */
  readonly method: DescMethod;
  /** "GET", "POST", … */
  readonly verb: string;
  /** The path template, such as "/v1/jobs/{job_uuid}". */
  readonly template: string;
  /** The template split into literal segments and variables (field paths in proto names). */
  readonly segments: readonly ({ literal: string } | { field: string })[];
  /** "*" (the whole message but the path fields), a field name, or "" (no body: everything in the query). */
  readonly body: string;
}

const bindings = new WeakMap<DescMethod, HttpBinding | null>();

/**
 * The REST binding of a method from its `google.api.http` option, or undefined when it has none. Only the primary
 * binding is used (additional_bindings are not needed by this API).
 */
export function httpBindingOf(method: DescMethod): HttpBinding | undefined {
  const known = bindings.get(method);
  if (known !== undefined) return known ?? undefined;
  let binding: HttpBinding | null = null;
  if (hasOption(method, http)) {
    const rule = getOption(method, http);
    const pattern = rule.pattern;
    if (pattern.case !== undefined) {
      const verb = pattern.case === "custom" ? pattern.value.kind.toUpperCase() : pattern.case.toUpperCase();
      const template = pattern.case === "custom" ? pattern.value.path : pattern.value;
      binding = { method, verb, template, segments: parseTemplate(template), body: rule.body };
    }
  }
  bindings.set(method, binding);
  return binding ?? undefined;
}

function parseTemplate(template: string): HttpBinding["segments"] {
  const segments: ({ literal: string } | { field: string })[] = [];
  // "{field}" or "{field=pattern}": the pattern is only a constraint on the value, so the field path is what counts.
  const re = /\{([^}=]+)(?:=[^}]*)?\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) segments.push({ literal: template.slice(last, m.index) });
    segments.push({ field: m[1]!.trim() });
    last = m.index + m[0].length;
  }
  if (last < template.length) segments.push({ literal: template.slice(last) });
  return segments;
}

/** Finds a field by proto name or JSON name. */
function fieldByName(schema: DescMessage, name: string): DescField | undefined {
  return schema.fields.find((f) => f.name === name || f.jsonName === name);
}

/** Resolves a dotted field path to the fields along it; undefined when any step is not a message field. */
function fieldPath(schema: DescMessage, path: string): DescField[] | undefined {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = schema;
  for (const part of path.split(".")) {
    if (current === undefined) return undefined;
    const field = fieldByName(current, part);
    if (field === undefined) return undefined;
    fields.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/** Removes the value at a JSON path (of JSON names) and returns it. */
function takeJson(json: JsonObject, fields: readonly DescField[]): JsonValue | undefined {
  let node: JsonValue | undefined = json;
  for (let i = 0; i < fields.length - 1; i++) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = (node as JsonObject)[fields[i]!.jsonName];
  }
  if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
  const key = fields[fields.length - 1]!.jsonName;
  const value = (node as JsonObject)[key];
  delete (node as JsonObject)[key];
  return value;
}

/** A request as it goes on the wire. */
export interface HttpRequestParts {
  readonly verb: string;
  /** The path and query, to append to the base URL. */
  readonly pathAndQuery: string;
  /** The JSON body, or undefined for none. */
  readonly body: JsonValue | undefined;
}

/**
 * Transcodes a request message by its method's binding: path variables filled in from the message (URL-encoded),
 * the body per the rule, and every other set field as query parameters flattened as grpc-gateway reads them
 * (`query.createdTimeRange.start=<RFC 3339>`, repeated fields as repeated parameters). Throws TypeError when a path
 * variable is empty, since the URL would then name a different resource.
 */
export function transcodeRequest<I extends DescMessage>(
  binding: HttpBinding,
  schema: I,
  input: Message | Record<string, unknown>,
): HttpRequestParts {
  const message = isMessage(input, schema) ? input : create(schema, input as never);
  // The whole message as proto3 JSON, with lowerCamelCase names and defaults left out; parts are taken from it.
  const json = toJson(schema, message) as JsonObject;
  let path = "";
  for (const segment of binding.segments) {
    if ("literal" in segment) {
      path += segment.literal;
      continue;
    }
    const fields = fieldPath(schema, segment.field);
    const value = fields === undefined ? undefined : takeJson(json, fields);
    if (value === undefined || value === null || value === "") {
      throw new TypeError(`${binding.method.name}: the path needs ${segment.field}, which is empty`);
    }
    path += encodeURIComponent(String(value));
  }
  let body: JsonValue | undefined;
  const query = new URLSearchParams();
  if (binding.body === "*") {
    body = json;
  } else {
    if (binding.body !== "") {
      const fields = fieldPath(schema, binding.body);
      body = (fields === undefined ? undefined : takeJson(json, fields)) ?? {};
    }
    flattenQuery(json, "", query);
  }
  const search = query.toString();
  return { verb: binding.verb, pathAndQuery: search === "" ? path : `${path}?${search}`, body };
}

function flattenQuery(value: JsonValue, prefix: string, query: URLSearchParams): void {
  if (Array.isArray(value)) {
    for (const item of value) flattenQuery(item, prefix, query);
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value))
      flattenQuery(item, prefix === "" ? key : `${prefix}.${key}`, query);
  } else if (value !== null) {
    query.append(prefix, String(value));
  }
}

/** A method of a service, matched from an HTTP request, with the path variables it bound. */
export interface RouteMatch {
  readonly binding: HttpBinding;
  readonly pathParams: ReadonlyMap<string, string>;
}

/**
 * The route table of services, by their google.api.http rules: matches a verb and a path (without query) to a
 * method. A literal path wins over one with variables ("/v1/jobs/stream" over "/v1/jobs/{job_uuid}").
 */
export function createRouteTable(
  services: readonly DescService[],
): (verb: string, path: string) => RouteMatch | undefined {
  const all = services
    .flatMap((s) => s.methods)
    .map(httpBindingOf)
    .filter((b): b is HttpBinding => b !== undefined)
    .sort((a, b) => variableCount(a) - variableCount(b));
  const compiled = all.map((binding) => {
    const names: string[] = [];
    const source = binding.segments
      .map((s) => {
        if ("literal" in s) return s.literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(s.field);
        return "([^/]+)";
      })
      .join("");
    return { binding, names, re: new RegExp(`^${source}$`) };
  });
  return (verb, path) => {
    for (const { binding, names, re } of compiled) {
      if (binding.verb !== verb) continue;
      const m = re.exec(path);
      if (!m) continue;
      const pathParams = new Map(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      return { binding, pathParams };
    }
    return undefined;
  };
}

function variableCount(b: HttpBinding): number {
  return b.segments.filter((s) => "field" in s).length;
}

/**
 * Builds the request message of a matched route from the path variables, the query parameters and the JSON body,
 * as grpc-gateway does: the body by the rule, query parameters by dotted field path (JSON or proto names; enum
 * names or numbers; repeated parameters for repeated fields), unknown fields ignored. Throws Error (for a 400)
 * when a value does not fit its field.
 */
export function requestFromHttp<I extends DescMessage>(
  binding: HttpBinding,
  schema: I,
  pathParams: ReadonlyMap<string, string>,
  query: URLSearchParams,
  body: JsonValue | undefined,
): ReturnType<typeof create<I>> {
  let json: JsonObject = {};
  if (binding.body === "*") {
    if (body !== undefined && (typeof body !== "object" || body === null || Array.isArray(body))) {
      throw new Error("the request body must be a JSON object");
    }
    json = { ...(body as JsonObject | undefined) };
  } else {
    if (binding.body !== "" && body !== undefined) setPath(schema, json, binding.body, body, false);
    for (const key of new Set(query.keys())) {
      for (const value of query.getAll(key)) setPath(schema, json, key, value, true);
    }
  }
  for (const [field, value] of pathParams) setPath(schema, json, field, value, true);
  return fromJson(schema, json, { ignoreUnknownFields: true });
}

/** Puts a value at a dotted field path of a JSON object, converting query strings to the field's JSON type. */
function setPath(schema: DescMessage, json: JsonObject, path: string, value: JsonValue, fromString: boolean): void {
  const fields = fieldPath(schema, path);
  if (fields === undefined) return; // unknown parameters are ignored, as grpc-gateway does
  let node = json;
  for (const field of fields.slice(0, -1)) {
    const next = node[field.jsonName];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[field.jsonName] = {};
    node = node[field.jsonName] as JsonObject;
  }
  const field = fields[fields.length - 1]!;
  const converted = fromString && typeof value === "string" ? scalarFromString(field, value) : value;
  if (field.fieldKind === "list") {
    const list = Array.isArray(node[field.jsonName]) ? (node[field.jsonName] as JsonValue[]) : [];
    list.push(converted);
    node[field.jsonName] = list;
  } else {
    node[field.jsonName] = converted;
  }
}

function scalarFromString(field: DescField, value: string): JsonValue {
  const enumDesc = field.fieldKind === "enum" ? field.enum : field.fieldKind === "list" ? field.enum : undefined;
  if (enumDesc !== undefined) return /^-?\d+$/.test(value) ? Number(value) : value;
  const scalar = field.fieldKind === "scalar" ? field.scalar : field.fieldKind === "list" ? field.scalar : undefined;
  switch (scalar) {
    case ScalarType.BOOL:
      if (value !== "true" && value !== "false") throw new Error(`${field.name} must be true or false`);
      return value === "true";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32: {
      const n = Number(value);
      if (value.trim() === "" || Number.isNaN(n)) throw new Error(`${field.name} must be a number`);
      return n;
    }
    default:
      return value;
  }
}
