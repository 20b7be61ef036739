// A finished call lets go of its answer. Node keeps a closed HTTP/2 stream's object (and what it points to) alive
// until a full collection, and anything that still holds the call after it ended (a closure of the caller, the
// stream) would otherwise keep a large response alive through every minor collection: on GetJob at concurrency 1
// that was most of the client's garbage-collection time. These tests hold the call itself and check that the
// answer is collectable.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create } from "@bufbuild/protobuf";
import { afterEach, expect, it } from "vitest";
import { GatewayService, GetJobRequestSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { GrpcChannel } from "../../src/transport/grpc-channel.js";
import { answerCorrectly, JOB } from "./hostile.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function startChannel(): Promise<GrpcChannel> {
  const h2 = http2.createServer();
  h2.on("session", (session) => session.on("error", () => {}));
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    answerCorrectly(stream, headers);
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise<void>((resolve) => h2.close(() => resolve())));
  const channel = new GrpcChannel({
    url: new URL(`http://127.0.0.1:${String((h2.address() as AddressInfo).port)}`),
    tls: undefined,
    keepalive: {
      pingIntervalMs: 300_000,
      pingTimeoutMs: 20_000,
      pingIdleConnection: false,
      idleConnectionTimeoutMs: 900_000,
    },
    proxy: undefined,
    maxReceiveMessageBytes: 4 * 1024 * 1024,
  });
  cleanup.push(() => channel.close("test over"));
  return channel;
}

/** Whether `ref`'s target is gone after a full collection (on a later task: a WeakRef holds it for the current one). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  return ref.deref() === undefined;
}

it("a unary call that settled keeps no reference to its response once the result is taken", async () => {
  const channel = await startChannel();
  const plan = channel.plan(GatewayService.method.getJob);
  const headers = { ...channel.headers(plan), authorization: "Bearer sk-memory-0123456789" };
  const call = channel.start(plan.unary, headers, plan.encode(create(GetJobRequestSchema, { jobUuid: JOB })));
  let response: object | undefined = await call.takeResult();
  expect((response as { job?: { jobUuid: string } }).job?.jobUuid).toBe(JOB);
  const ref = new WeakRef(response);
  response = undefined;
  expect(await collected(ref)).toBe(true);
  // The call is still held here, and taking its result twice is a programming error, said plainly.
  expect(() => call.takeResult()).toThrow(/already taken/);
});

it("a server stream's messages are collectable once read, while the call is still held", async () => {
  const channel = await startChannel();
  const plan = channel.plan(GatewayService.method.evaluate);
  const headers = { ...channel.headers(plan), authorization: "Bearer sk-memory-0123456789" };
  const call = channel.start(plan.stream, headers, new Uint8Array(0));
  const refs: WeakRef<object>[] = [];
  for (;;) {
    const next = await call.next();
    if (next.done) break;
    refs.push(new WeakRef(next.value));
  }
  expect(refs).toHaveLength(2);
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  expect(refs.map((r) => r.deref())).toEqual([undefined, undefined]);
});
