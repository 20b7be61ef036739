// Answers that do not fit the request, the same on both transports: each is an error that says what did not fit,
// never a wrong result taken for a right one, an endless wait, or an endless collection.
import * as http2 from "node:http2";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ClavataClientOptions,
  EvaluateLabelsResponseSchema,
  EvaluateResponseSchema,
  GetJobResponseSchema,
  JobStatus,
  ListJobsResponseSchema,
  ServerError,
  TimeoutError,
  textContent,
} from "../../src/index.js";
import { thrown } from "../support/calls.js";
import { TRANSPORT } from "../support/transports.js";
import { frame, hostileClient, JOB, startHostile } from "../transport/hostile.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/**
 * A server that answers every call with `answer(path)`: gRPC headers, the framed messages, then `status`; or, with
 * `hold`, the messages and nothing more, the stream left open (as an endless stream would be).
 */
async function setup(
  answer: (path: string) => { messages: Buffer[]; status?: string; hold?: boolean },
  options: ClavataClientOptions = {},
) {
  const server = await startHostile({
    times: Number.POSITIVE_INFINITY,
    stream: (stream, headers) => {
      const { messages, status = "0", hold = false } = answer(String(headers[":path"]));
      if (hold) {
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
        stream.write(Buffer.concat(messages));
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": status }));
      stream.end(Buffer.concat(messages));
    },
  });
  cleanup.push(() => server.close());
  const client = hostileClient(server, "sk-odd-answers-0123456789", { transport: TRANSPORT, ...options });
  cleanup.push(() => client.close());
  return { server, client };
}

function message<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  return frame(toBinary(schema, create(schema, init)));
}

const job = (status: JobStatus, jobUuid = JOB) => message(GetJobResponseSchema, { job: { jobUuid, status } });
const result = (hash: string) => message(EvaluateResponseSchema, { contentHash: hash });

describe(`answers that do not fit the request, on the ${TRANSPORT} transport`, () => {
  it("waitForJob waits its own timeoutMs, not the client's, and then says the job's status", async () => {
    const { client, server } = await setup(() => ({ messages: [job(JobStatus.RUNNING)] }), { timeoutMs: 300 });
    const error = await thrown(client.waitForJob(JOB, { timeoutMs: 1_200, pollIntervalMs: 50 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(new RegExp(`waitForJob: job ${JOB} was still RUNNING after 1200 ms`));
    expect(server.paths.length).toBeGreaterThan(1);
  });

  it("getJob answered with another job is a ServerError, not that job", async () => {
    const other = "00000000-0000-4000-8000-000000000000";
    const { client } = await setup(() => ({ messages: [job(JobStatus.COMPLETED, other)] }));
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/answered for job "00000000-0000-4000-8000-000000000000" when asked for/);
    expect(await thrown(client.waitForJob(JOB, { pollIntervalMs: 10 }))).toBeInstanceOf(ServerError);
  });

  it("evaluate that sends more results than items is a ServerError in place of the first extra one", async () => {
    const { client } = await setup(() => ({ messages: [result("h::1"), result("h::2"), result("h::3")] }));
    const seen: string[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a")] }))
          seen.push(r.contentHash);
      })(),
    );
    expect(seen).toEqual(["h::1"]);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/more results than the 1 items sent/);
  });

  it("evaluateOne stops at a second result instead of collecting an endless stream", async () => {
    const endless = Array.from({ length: 200 }, (_, i) => result(`h::${String(i)}`));
    const { client, server } = await setup(() => ({ messages: endless, hold: true }));
    const error = await thrown(client.evaluateOne({ policyId: "p", contentData: textContent("a") }));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/more than one result for one content item/);
    // The stream is cancelled on the wire at once.
    await expect.poll(() => server.resets).toContain(http2.constants.NGHTTP2_CANCEL);
  });

  it("evaluateLabels answered for other label versions, or in another order, is a ServerError", async () => {
    const labels = (...ids: string[]) =>
      message(EvaluateLabelsResponseSchema, { results: ids.map((labelVersionId) => ({ labelVersionId })) });
    let answer = labels("b", "a");
    const { client } = await setup(() => ({ messages: [answer] }));
    const request = { contentData: textContent("a"), labelVersionIds: ["a", "b"] };
    const error = await thrown(client.evaluateLabels(request));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/answered for the label versions \["b","a"\] when asked for \["a","b"\]/);
    answer = labels("a");
    expect(await thrown(client.evaluateLabels(request))).toBeInstanceOf(ServerError);
    answer = labels("a", "b");
    expect((await client.evaluateLabels(request)).results.map((r) => r.labelVersionId)).toEqual(["a", "b"]);
  });

  it("listAllJobs gives up on a listing of empty pages whose tokens never repeat", async () => {
    let page = 0;
    const { client, server } = await setup(() => ({
      messages: [message(ListJobsResponseSchema, { jobs: [], nextPageToken: `token-${String(page++)}` })],
    }));
    const error = await thrown(
      (async () => {
        for await (const _ of client.listAllJobs()) {
          // no jobs ever arrive
        }
      })(),
    );
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/100 empty pages in a row/);
    expect(server.paths).toHaveLength(100);
  });

  it("a DEADLINE_EXCEEDED the server sent is not retried", async () => {
    const { client, server } = await setup(() => ({ messages: [], status: "4" }), {
      maxRetries: 2,
      retryBackoff: { initialDelayMs: 1 },
    });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(server.paths).toHaveLength(1);
  });
});
