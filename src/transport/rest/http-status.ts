// The one table between gRPC status codes and the HTTP statuses of the REST
// surface (grpc-gateway's mapping, as the wire contract gives it). The REST
// transport reads it one way, the emulator's REST server the other.

import { Code } from "@connectrpc/connect";

// grpc-gateway's runtime.HTTPStatusFromCode, restricted to what the contract documents plus its neighbours.
const httpStatusByCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The HTTP status the REST gateway answers for a gRPC status code (CANCELLED → 499, UNAVAILABLE → 503, …). */
export function httpStatusForCode(code: Code): number {
  return httpStatusByCode[code] ?? 500;
}

/**
 * The gRPC status code an HTTP error status stands for, used only when the body carries no code (a proxy's own
 * answer, for example): 400, 413, 414, 431 → INVALID_ARGUMENT, 401 → UNAUTHENTICATED, 429 → RESOURCE_EXHAUSTED,
 * 499 → CANCELLED, 502/503 → UNAVAILABLE, 504 → DEADLINE_EXCEEDED, any other → UNKNOWN (4xx) or INTERNAL (5xx).
 */
export function codeForHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 408:
    case 504:
      return Code.DeadlineExceeded;
    case 409:
      return Code.Aborted;
    // Too large for the gateway or a proxy: the caller's request to change, not a fault to retry.
    case 413:
    case 414:
    case 431:
      return Code.InvalidArgument;
    case 429:
      return Code.ResourceExhausted;
    case 499:
      return Code.Canceled;
    case 501:
      return Code.Unimplemented;
    case 502:
    case 503:
      return Code.Unavailable;
    default:
      return status >= 500 ? Code.Internal : Code.Unknown;
  }
}

/** Whether `code` is a gRPC status code other than OK, as a JSON body may carry it. @private */
export function isErrorCode(code: unknown): code is Code {
  return typeof code === "number" && Number.isInteger(code) && code >= 1 && code <= 16;
}
