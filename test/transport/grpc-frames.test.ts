// gRPC framing and status mapping, without a network: messages cut anywhere by DATA chunks, the limits checked from
// the prefix, and the gRPC spec's tables for HTTP statuses and RST_STREAM codes.
import { constants } from "node:http2";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { transportFailureOf } from "../../src/errors.js";
import { encodeFrame, FrameReader } from "../../src/transport/grpc-frames.js";
import { codeFromHttpStatus, percentDecode, resetError, statusError } from "../../src/transport/grpc-status.js";

function frames(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.map((m) => encodeFrame(m)).flatMap((f) => (Array.isArray(f) ? f : [f])));
}

describe("FrameReader", () => {
  it("reads messages cut at every possible point, including inside the prefix", () => {
    const messages = [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("last")];
    const body = frames(...messages);
    for (const cut of [1, 2, 3, 4, 5, 6, 7, 100, 65_536, body.length - 3]) {
      const got: Buffer[] = [];
      const reader = new FrameReader(1 << 20, (bytes) => got.push(Buffer.from(bytes)));
      const failures = [];
      for (let i = 0; i < body.length; i += cut) failures.push(reader.push(body.subarray(i, i + cut)));
      expect(failures.filter((f) => f !== undefined)).toEqual([]);
      expect(got.map((m) => m.length)).toEqual(messages.map((m) => m.length));
      expect(got.every((m, i) => m.equals(messages[i]!))).toBe(true);
      expect(reader.partial).toBe(false);
    }
  });

  it("knows a message was cut short", () => {
    const reader = new FrameReader(100, () => {});
    reader.push(frames(Buffer.from("hello")).subarray(0, 7));
    expect(reader.partial).toBe(true);
  });

  it("refuses a too-large or compressed message from its prefix", () => {
    const reader = new FrameReader(10, () => {});
    expect(transportFailureOf(reader.push(Buffer.from([0, 0, 0, 0, 11])))?.kind).toBe("message-too-large");
    const other = new FrameReader(10, () => {});
    expect(other.push(Buffer.from([1, 0, 0, 0, 1, 0]))?.kind).toBe("malformed-response");
  });
});

describe("status mapping", () => {
  it("maps HTTP statuses as gRPC's HTTP-to-gRPC table says", () => {
    expect([400, 401, 403, 404, 429, 502, 503, 504, 500, 418].map(codeFromHttpStatus)).toEqual([
      Code.Internal,
      Code.Unauthenticated,
      Code.PermissionDenied,
      Code.Unimplemented,
      Code.Unavailable,
      Code.Unavailable,
      Code.Unavailable,
      Code.Unavailable,
      Code.Unknown,
      Code.Unknown,
    ]);
  });

  it("maps RST_STREAM codes, and knows REFUSED_STREAM left the call unprocessed", () => {
    expect(resetError(constants.NGHTTP2_CANCEL).code).toBe(Code.Canceled);
    expect(resetError(constants.NGHTTP2_ENHANCE_YOUR_CALM).code).toBe(Code.ResourceExhausted);
    expect(resetError(constants.NGHTTP2_INADEQUATE_SECURITY).code).toBe(Code.PermissionDenied);
    expect(resetError(constants.NGHTTP2_PROTOCOL_ERROR).code).toBe(Code.Internal);
    const refused = resetError(constants.NGHTTP2_REFUSED_STREAM);
    expect(refused.code).toBe(Code.Unavailable);
    expect(transportFailureOf(refused)?.unprocessed).toBe(true);
  });

  it("reads grpc-status and grpc-message, and calls an unknown status UNKNOWN", () => {
    expect(statusError("0", {})).toBeUndefined();
    expect(statusError("5", { "grpc-message": "no%20such%20job" })?.rawMessage).toBe("no such job");
    expect(statusError("99", {})?.code).toBe(Code.Unknown);
    expect(statusError("x", {})?.rawMessage).toMatch(/not a gRPC status code/);
    expect(percentDecode("100%")).toBe("100%");
  });
});
