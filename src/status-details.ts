// The details of a gRPC status: the google.rpc.Status that a server puts, base64-encoded, in the
// `grpc-status-details-bin` trailer. The client's transport decodes it here, and the SDK reads the details it cares
// about (retry delay hints, refusals) here, so that the wire format and the detail types are known in one place.

import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { type PrecheckFailure, PrecheckFailureSchema } from "../gen/clavata/gateway/v1/errs_pb.js";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/** A status detail as it came off the wire: its fully-qualified type name and its encoded message. @internal */
export interface WireDetail {
  readonly type: string;
  readonly value: Uint8Array;
}

/**
 * Decodes a `grpc-status-details-bin` value (base64, with or without padding) into its details, in the form
 * ConnectError keeps incoming details. Returns undefined when the value is not a google.rpc.Status: a garbled
 * value must not hide the status code and message that came with it.
 * @internal
 */
export function decodeStatusDetails(value: string): WireDetail[] | undefined {
  // Buffer's base64 decoder accepts both padded and unpadded input, and the URL-safe alphabet.
  const bytes = Buffer.from(value, "base64");
  if (bytes.length === 0 && value.trim() !== "") return undefined;
  try {
    const status = fromBinary(StatusSchema, bytes);
    return status.details.map((any) => ({
      type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
      value: any.value,
    }));
  } catch {
    return undefined;
  }
}

/** Every detail of type `schema` in the error's status, in the order the server sent them. */
export function statusDetails<Desc extends DescMessage>(error: ConnectError, schema: Desc): MessageShape<Desc>[] {
  return error.findDetails(schema);
}

/**
 * The delay the server asked for in a google.rpc.RetryInfo detail of the error, in ms; undefined when there is none.
 */
export function retryDelayHintMs(error: ConnectError): number | undefined {
  for (const info of statusDetails(error, RetryInfoSchema)) {
    const delay = info.retryDelay;
    if (delay === undefined) continue;
    const ms = Number(delay.seconds) * 1000 + Math.ceil(delay.nanos / 1_000_000);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return undefined;
}

/** The PrecheckFailure details of the error (the gateway's refusals), in the order the gateway sent them. */
export function precheckFailures(error: ConnectError): PrecheckFailure[] {
  return statusDetails(error, PrecheckFailureSchema);
}
