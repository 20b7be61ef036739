// How the client's own transports turn the gateway's messages into bytes and back. Every call's request and
// response pass through `messageCodec`, so that the generated binary codecs can stand in for protobuf-es's
// reflection-based `toBinary`/`fromBinary` for the gateway's messages without the transports knowing which runs.

import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

/** Encodes and decodes one message type on the binary wire. @internal */
export interface MessageCodec<Desc extends DescMessage> {
  encode(message: MessageShape<Desc>): Uint8Array;
  decode(bytes: Uint8Array): MessageShape<Desc>;
}

/**
 * The codec for `schema`. Today this is always protobuf-es; the generated codecs plug in here.
 * @internal
 */
export function messageCodec<Desc extends DescMessage>(schema: Desc): MessageCodec<Desc> {
  return {
    encode: (message) => toBinary(schema, message),
    decode: (bytes) => fromBinary(schema, bytes),
  };
}
