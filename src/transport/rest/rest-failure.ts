// The REST transport's failures below the status of a call (an answer it cannot decode, a message over the read
// limit), raised as the gRPC transport raises them: a ConnectError whose cause is a TransportFailure, so that the
// transport failure table in errors.ts gives both protocols the same class, code and retry rule.

import { ConnectError } from "@connectrpc/connect";
import { classifyTransportFailure, TransportFailure, type TransportFailureKind } from "../../errors.js";

/** The ConnectError that carries a transport failure of `kind`, with the table's status code. @internal */
export function restFailure(kind: TransportFailureKind, message: string, headers?: Headers): ConnectError {
  const failure = new TransportFailure(kind, message);
  return new ConnectError(message, classifyTransportFailure(kind).code, headers, undefined, failure);
}

/** The failure of an answer longer than the read limit: a ServerError, never retried. @internal */
export function tooLargeFailure(what: string, limit: number, headers?: Headers): ConnectError {
  return restFailure(
    "message-too-large",
    `the gateway sent ${what} longer than maxReceiveMessageBytes (${String(limit)} bytes); ` +
      "raise that option if the message is expected",
    headers,
  );
}
