// The one mapping from Connect errors to the SDK's error classes, and the
// refusal details, checked against the golden refusal trailer of the wire
// contract.
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { create, fromBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  AbortedError,
  AuthenticationError,
  ClavataError,
  ConnectionError,
  EvaluationRefusedError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  PrecheckFailureSchema,
  PrecheckFailureType,
  PrecheckMatchConfidence,
  RateLimitError,
  RefusalReason,
  RetryInfoSchema,
  RpcStatusSchema,
  ServerError,
  TimeoutError,
  toClavataError,
} from "../../src/index.js";

const vectors = (
  JSON.parse(readFileSync(new URL("../fixtures/wire-vectors.json", import.meta.url), "utf8")) as {
    vectors: { name: string; hex: string }[];
  }
).vectors;
const refusalTrailer = Buffer.from(vectors.find((v) => v.name === "refusal_status_details_bin")!.hex, "hex");

/** The ConnectError a Connect client makes from a status: the details stay raw ({ type, value }) as on the wire. */
function errorFromStatus(bytes: Uint8Array, code?: Code): ConnectError {
  const status = fromBinary(RpcStatusSchema, bytes);
  const error = new ConnectError(status.message, code ?? (status.code as Code));
  error.details = status.details.map((any) => ({
    type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
    value: any.value,
  }));
  return error;
}

function refusal(type: PrecheckFailureType, hash: string) {
  return {
    desc: PrecheckFailureSchema,
    value: { type, message: `refused ${hash}`, details: { kind: { case: "stringValue" as const, value: hash } } },
  };
}

describe("toClavataError", () => {
  const table: [Code, new (...args: never[]) => ClavataError, string][] = [
    [Code.Unauthenticated, AuthenticationError, "UNAUTHENTICATED"],
    [Code.PermissionDenied, PermissionDeniedError, "PERMISSION_DENIED"],
    [Code.InvalidArgument, InvalidRequestError, "INVALID_ARGUMENT"],
    [Code.FailedPrecondition, InvalidRequestError, "FAILED_PRECONDITION"],
    [Code.OutOfRange, InvalidRequestError, "OUT_OF_RANGE"],
    [Code.AlreadyExists, InvalidRequestError, "ALREADY_EXISTS"],
    [Code.NotFound, NotFoundError, "NOT_FOUND"],
    [Code.ResourceExhausted, RateLimitError, "RESOURCE_EXHAUSTED"],
    [Code.DeadlineExceeded, TimeoutError, "DEADLINE_EXCEEDED"],
    [Code.Unavailable, ConnectionError, "UNAVAILABLE"],
    [Code.Canceled, ConnectionError, "CANCELLED"],
    [Code.Aborted, ConnectionError, "ABORTED"],
    [Code.Internal, ServerError, "INTERNAL"],
    [Code.Unknown, ServerError, "UNKNOWN"],
    [Code.Unimplemented, ServerError, "UNIMPLEMENTED"],
    [Code.DataLoss, ServerError, "DATA_LOSS"],
  ];
  for (const [code, cls, name] of table) {
    it(`maps ${name} to ${cls.name}`, () => {
      const cause = new ConnectError("server says no", code, { "x-request-id": "r1" });
      const error = toClavataError(cause, { method: "GetJob" });
      expect(error).toBeInstanceOf(cls);
      expect(error).toBeInstanceOf(ClavataError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(cls.name);
      expect(error.code).toBe(code);
      expect(error.codeName).toBe(name);
      expect(error.rawMessage).toBe("server says no");
      expect(error.metadata.get("x-request-id")).toBe("r1");
      expect(error.cause).toBe(cause);
      expect(error.message).toContain("GetJob failed");
      expect(error.message).toContain(`${name}: server says no`);
    });
  }

  it("passes a ClavataError through unchanged", () => {
    const e = new NotFoundError("gone", { code: Code.NotFound });
    expect(toClavataError(e)).toBe(e);
  });

  it("turns a non-Connect failure into a ServerError that keeps it as the cause's cause", () => {
    const boom = new TypeError("boom");
    const error = toClavataError(boom);
    expect(error).toBeInstanceOf(ServerError);
    expect((error.cause as ConnectError).cause).toBe(boom);
  });

  it("says how to fix an authentication failure", () => {
    const error = toClavataError(new ConnectError("bad key", Code.Unauthenticated));
    expect(error.message).toMatch(/apiKey.*CLAVATA_API_KEY/);
  });

  it("carries the RetryInfo delay of a rate limit", () => {
    const cause = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(1500) } },
    ]);
    const error = toClavataError(cause);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryDelayMs).toBe(1500);
    expect(error.message).toContain("1500 ms");
    expect(
      (toClavataError(new ConnectError("x", Code.ResourceExhausted)) as RateLimitError).retryDelayMs,
    ).toBeUndefined();
  });

  it("names the timeout in a DEADLINE_EXCEEDED message", () => {
    const error = toClavataError(new ConnectError("the operation timed out", Code.DeadlineExceeded), {
      timeoutMs: 250,
    });
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toContain("250 ms");
  });

  it("makes the caller's own abort an AbortedError, although it arrives as CANCELLED", () => {
    const controller = new AbortController();
    controller.abort();
    const cause = ConnectError.from(controller.signal.reason, Code.Canceled);
    expect(cause.code).toBe(Code.Canceled);
    const error = toClavataError(cause, { signal: controller.signal });
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.code).toBe(Code.Canceled);
    // The same CANCELLED without the caller's abort is not the caller's doing.
    expect(toClavataError(cause)).toBeInstanceOf(ConnectionError);
  });

  it("makes an abort with the caller's own reason an AbortedError, whatever that reason is, always CANCELLED", () => {
    for (const reason of [new Error("user pressed stop"), "shutdown", 42]) {
      const controller = new AbortController();
      controller.abort(reason);
      const error = toClavataError(reason, { signal: controller.signal });
      expect(error).toBeInstanceOf(AbortedError);
      expect(error.code).toBe(Code.Canceled);
    }
  });

  it("says close() when the client was closed, even if the call's signal fired with it", () => {
    const controller = new AbortController();
    const closed = new ConnectError("the client was closed", Code.Canceled);
    controller.abort(closed);
    const error = toClavataError(closed, { method: "GetJob", signal: controller.signal, clientClosed: true });
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.message).toBe("GetJob failed: the client was closed while the call was running");
    expect(error.code).toBe(Code.Canceled);
  });

  it("tells an UNAVAILABLE the gateway answered from a connection that failed", () => {
    const answered = toClavataError(new ConnectError("draining", Code.Unavailable, { "grpc-status": "14" }));
    expect(answered).toBeInstanceOf(ConnectionError);
    expect(answered.message).toMatch(/the gateway answered that it is unavailable \(UNAVAILABLE: draining\)/);
    expect(answered.message).not.toMatch(/check the host/);
    const unreached = toClavataError(new ConnectError("connect ECONNREFUSED", Code.Unavailable));
    expect(unreached.message).toMatch(/could not reach the gateway.*check the host, the port and the network/);
  });

  it("says whose time ran out in a DEADLINE_EXCEEDED", () => {
    const deadline = new ConnectError("deadline", Code.DeadlineExceeded, { "grpc-status": "4" });
    const early = toClavataError(deadline, { timeoutMs: 60_000, deadlineAt: Date.now() + 30_000 });
    expect(early.message).toMatch(/the gateway, or a proxy in front of it, gave up on the call/);
    const late = toClavataError(deadline, { timeoutMs: 60_000, deadlineAt: Date.now() - 1 });
    expect(late.message).toMatch(/it did not finish within timeoutMs \(60000 ms\).*raise timeoutMs/);
    const legacy = toClavataError(deadline, { timeoutMs: 60_000 });
    expect(legacy.message).toMatch(/raise timeoutMs/);
  });

  it("makes an AbortSignal.timeout() firing a TimeoutError", async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    expect(signal.aborted).toBe(true);
    const error = toClavataError(ConnectError.from(signal.reason, Code.Canceled), { signal });
    expect(error).toBeInstanceOf(TimeoutError);
  });

  it("makes a call ended by close() an AbortedError", () => {
    const error = toClavataError(new ConnectError("connection aborted", Code.Canceled), { clientClosed: true });
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.message).toContain("closed");
  });

  it("scrubs a secret from the message, the raw message, the metadata and the cause", () => {
    const key = "sk-live-SECRET-0123456789abcdef";
    const cause = new ConnectError(`key ${key} is revoked`, Code.Unauthenticated, { "x-echo": `Bearer ${key}` });
    const error = toClavataError(cause, { redact: (t) => t.split(key).join("[redacted]") });
    expect(error).toBeInstanceOf(AuthenticationError);
    const outputs = [
      error.message,
      error.rawMessage,
      String(error),
      error.stack ?? "",
      inspect(error, { depth: 10, showHidden: true }),
      JSON.stringify(error),
      JSON.stringify([...error.metadata]),
      String(error.cause),
    ];
    for (const out of outputs) expect(out).not.toContain(key);
    expect(error.rawMessage).toBe("key [redacted] is revoked");
    expect(error.metadata.get("x-echo")).toBe("Bearer [redacted]");
  });
});

describe("refusals", () => {
  it("reads every refusal of the golden grpc-status-details-bin trailer", () => {
    const error = toClavataError(errorFromStatus(refusalTrailer), { method: "Evaluate" });
    expect(error).toBeInstanceOf(EvaluationRefusedError);
    const refused = error as EvaluationRefusedError;
    expect(refused.code).toBe(Code.Canceled);
    expect(refused.codeName).toBe("CANCELLED");
    expect(refused.rawMessage).toBe("content refused");
    expect(refused.refusals).toEqual([
      {
        reason: RefusalReason.CSAM,
        contentHash: "fnv1a128::aa",
        message: "content matched a known CSAM hash",
        matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      },
      {
        reason: RefusalReason.UNSUPPORTED_FORMAT,
        contentHash: "fnv1a128::bb",
        message: "unsupported image format",
        matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      },
      {
        reason: RefusalReason.UNSUPPORTED_FORMAT,
        contentHash: "fnv1a128::cc",
        message: "unsupported image format",
        matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      },
    ]);
    // As the vector's note says.
    expect(refused.topReason).toBe(RefusalReason.CSAM);
    expect(refused.mostCommonReason).toBe(RefusalReason.UNSUPPORTED_FORMAT);
    expect(refused.firstReason).toBe(RefusalReason.CSAM);
    expect(refused.refusedContentHashes).toEqual(["fnv1a128::aa", "fnv1a128::bb", "fnv1a128::cc"]);
    expect(refused.message).toContain("refused 3 content items");
    expect(refused.message).toContain("CSAM: 1");
    expect(refused.message).toContain("UNSUPPORTED_FORMAT: 2");
  });

  it("recognises a refusal by its details whatever the status code", () => {
    for (const code of [Code.FailedPrecondition, Code.InvalidArgument, Code.Internal]) {
      const error = toClavataError(errorFromStatus(refusalTrailer, code));
      expect(error).toBeInstanceOf(EvaluationRefusedError);
      expect(error.code).toBe(code);
    }
  });

  it("takes refusal details over the caller's abort and a closed client", () => {
    const controller = new AbortController();
    controller.abort();
    const error = toClavataError(errorFromStatus(refusalTrailer), { signal: controller.signal, clientClosed: true });
    expect(error).toBeInstanceOf(EvaluationRefusedError);
  });

  it("handles one refusal, and maps every failure type", () => {
    const cases: [PrecheckFailureType, RefusalReason][] = [
      [PrecheckFailureType.NCMEC, RefusalReason.CSAM],
      [PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT, RefusalReason.UNSUPPORTED_FORMAT],
      [PrecheckFailureType.INVALID_IMAGE, RefusalReason.INVALID_CONTENT],
      [PrecheckFailureType.UNSPECIFIED, RefusalReason.UNKNOWN],
      [99 as PrecheckFailureType, RefusalReason.UNKNOWN],
    ];
    for (const [type, reason] of cases) {
      const error = toClavataError(new ConnectError("refused", Code.Canceled, undefined, [refusal(type, "h::1")]));
      expect(error).toBeInstanceOf(EvaluationRefusedError);
      const refused = error as EvaluationRefusedError;
      expect(refused.refusals).toHaveLength(1);
      expect(refused.topReason).toBe(reason);
      expect(refused.mostCommonReason).toBe(reason);
      expect(refused.firstReason).toBe(reason);
      expect(refused.refusedContentHashes).toEqual(["h::1"]);
      expect(refused.message).toContain("refused 1 content item ");
    }
  });

  it("breaks a tie for the most common reason by severity, deduplicates hashes and keeps the match confidence", () => {
    const details = [
      refusal(PrecheckFailureType.INVALID_IMAGE, "h::1"),
      refusal(PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT, "h::2"),
      refusal(PrecheckFailureType.INVALID_IMAGE, "h::1"),
      refusal(PrecheckFailureType.UNSUPPORTED_IMAGE_FORMAT, "h::3"),
      {
        desc: PrecheckFailureSchema,
        value: create(PrecheckFailureSchema, {
          type: PrecheckFailureType.NCMEC,
          matchConfidence: PrecheckMatchConfidence.HIGH,
        }),
      },
    ];
    const refused = toClavataError(
      new ConnectError("refused", Code.Canceled, undefined, details),
    ) as EvaluationRefusedError;
    expect(refused.refusals).toHaveLength(5);
    expect(refused.firstReason).toBe(RefusalReason.INVALID_CONTENT);
    expect(refused.topReason).toBe(RefusalReason.CSAM);
    expect(refused.mostCommonReason).toBe(RefusalReason.UNSUPPORTED_FORMAT);
    expect(refused.refusals[4]).toMatchObject({ contentHash: "", matchConfidence: PrecheckMatchConfidence.HIGH });
    expect(refused.refusedContentHashes).toEqual(["h::1", "h::2", "h::3"]);
  });

  it("is a runtime enum with string values", () => {
    expect(Object.values(RefusalReason)).toEqual(["UNKNOWN", "CSAM", "UNSUPPORTED_FORMAT", "INVALID_CONTENT"]);
  });
});
