// How the client's own transports turn the gateway's messages into bytes and back. Every call's request and
// response pass through `messageCodec`, so that the generated binary codecs (gen/clavata/binary_codec.ts, written
// by tools/protoc-gen-clavata-codec) stand in for protobuf-es's `fromBinary` and `toBinary` for the gateway's
// messages without the transports knowing which runs. They decode and encode exactly as protobuf-es does, only
// faster; the switch exists so that a user who meets a difference can fall back to protobuf-es and report it.

import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { generatedDecoders, generatedEncoders } from "../gen/clavata/binary_codec.js";

/** Encodes and decodes one message type on the binary wire. @internal */
export interface MessageCodec<Desc extends DescMessage> {
  encode(message: MessageShape<Desc>): Uint8Array;
  decode(bytes: Uint8Array): MessageShape<Desc>;
}

/** Which codecs `messageCodec` returns. @internal */
export interface MessageCodecOptions {
  /**
   * Use the generated decoders and encoders for the gateway's messages. Default: on, unless the
   * CLAVATA_GENERATED_CODECS environment variable turns them off.
   */
  generated?: boolean;
}

/** The environment variable that turns the generated codecs off: "0", "false", "off" or "no". */
export const GENERATED_CODECS_ENV = "CLAVATA_GENERATED_CODECS";

/**
 * Whether the environment leaves the generated codecs on: true unless CLAVATA_GENERATED_CODECS is "0", "false",
 * "off" or "no" (any case). Never throws.
 * @internal
 */
export function generatedCodecsFromEnv(
  // Edge runtimes may have no `process`: the codecs then stay on.
  env: Record<string, string | undefined> = typeof process === "undefined" ? {} : process.env,
): boolean {
  const value = env[GENERATED_CODECS_ENV];
  return value === undefined || !/^\s*(0|false|off|no)\s*$/i.test(value);
}

// One codec object per schema and kind: transports ask for one on every call.
const generatedCache = new WeakMap<DescMessage, MessageCodec<DescMessage>>();
const protobufEsCache = new WeakMap<DescMessage, MessageCodec<DescMessage>>();

function protobufEsCodec<Desc extends DescMessage>(schema: Desc): MessageCodec<Desc> {
  let codec = protobufEsCache.get(schema) as MessageCodec<Desc> | undefined;
  if (codec === undefined) {
    codec = {
      encode: (message) => toBinary(schema, message),
      decode: (bytes) => fromBinary(schema, bytes),
    };
    protobufEsCache.set(schema, codec as unknown as MessageCodec<DescMessage>);
  }
  return codec;
}

/**
 * The codec for `schema`: the generated decoder and encoder for a gateway message (everything under proto/clavata)
 * unless `options.generated` is false (default: on unless CLAVATA_GENERATED_CODECS turns it off), protobuf-es
 * otherwise. `decode` throws as `fromBinary` throws on malformed input, `encode` as `toBinary` throws.
 * @internal
 */
export function messageCodec<Desc extends DescMessage>(
  schema: Desc,
  options: MessageCodecOptions = {},
): MessageCodec<Desc> {
  const useGenerated = options.generated ?? generatedCodecsFromEnv();
  const decode = useGenerated ? generatedDecoders.get(schema) : undefined;
  if (decode === undefined) return protobufEsCodec(schema);
  let codec = generatedCache.get(schema) as MessageCodec<Desc> | undefined;
  if (codec === undefined) {
    // The map holds each schema's own decoder, so its messages are of this schema's shape.
    const encode = generatedEncoders.get(schema);
    codec = {
      encode: (encode ?? ((message) => toBinary(schema, message))) as (message: MessageShape<Desc>) => Uint8Array,
      decode: decode as (bytes: Uint8Array) => MessageShape<Desc>,
    };
    generatedCache.set(schema, codec as unknown as MessageCodec<DescMessage>);
  }
  return codec;
}
