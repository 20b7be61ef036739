// How a call ends when the server cuts it short, the same on both transports: the client's own and Connect-node's
// name a stream reset, retry what the server refused unprocessed (CreateJob included), call a GOAWAY with an error
// code a lost connection (not a peer that does not speak HTTP/2), and fail an Evaluate stream that ends OK with
// fewer results than items.
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { type ClavataClient, ConnectionError, RateLimitError, ServerError, textContent } from "../../src/index.js";
import { thrown } from "../support/calls.js";
import { TRANSPORT } from "../support/transports.js";
import {
  goawayAboveFirstStream,
  type HostileBehaviour,
  hostileClient,
  JOB,
  startHostile,
} from "../transport/hostile.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(behaviour: HostileBehaviour, options: { maxReceiveMessageBytes?: number } = {}) {
  const server = await startHostile(behaviour);
  cleanup.push(() => server.close());
  const client = hostileClient(server, "sk-resets-0123456789", { transport: TRANSPORT, ...options });
  cleanup.push(() => client.close());
  return { server, client };
}

const createJob = (client: ClavataClient) => client.createJob({ policyId: "p", contentData: [textContent("a")] });

describe(`stream resets on the ${TRANSPORT} transport`, () => {
  it("a stream refused with REFUSED_STREAM is sent again at once, CreateJob included", async () => {
    const { client, server } = await setup({
      stream: (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM),
    });
    expect((await createJob(client)).jobUuid).toBe(JOB);
    expect(server.paths).toHaveLength(2);
  });

  it("a stream above a GOAWAY's last stream id is sent again at once, CreateJob included", async () => {
    // The GetJob on the first stream is processed; the CreateJob above it is not.
    const { client, server } = await setup(goawayAboveFirstStream());
    const job = client.getJob(JOB);
    await expect.poll(() => server.paths.length).toBe(1);
    expect((await createJob(client)).jobUuid).toBe(JOB);
    expect((await job).jobUuid).toBe(JOB);
    expect(server.paths.filter((p) => p.endsWith("/CreateJob"))).toHaveLength(2);
  });

  it("RST_STREAM ENHANCE_YOUR_CALM is a RateLimitError that names the reset", async () => {
    const { client } = await setup({ stream: (stream) => stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.message).toMatch(/RST_STREAM ENHANCE_YOUR_CALM/);
  });

  it("a GOAWAY with an error code mid-call is a ConnectionError about the closed connection, and not retried", async () => {
    const { client, server } = await setup({
      stream: (_stream, _headers, session) => {
        session.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, 1);
        session.destroy();
      },
    });
    const error = await thrown(createJob(client));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/closed the connection/);
    expect(error.message).not.toMatch(/does not speak HTTP\/2/);
    expect(server.paths).toHaveLength(1);
    expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
  });
});

describe(`a short Evaluate stream on the ${TRANSPORT} transport`, () => {
  it("ends with a ServerError after the results that came, when it ends OK with fewer results than items", async () => {
    // The correct answer to any Evaluate is two results: for three items, one is missing.
    const { client } = await setup({ times: 0 });
    const seen: string[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate({
          policyId: "p",
          contentData: ["a", "b", "c"].map((t) => textContent(t)),
        }))
          seen.push(r.contentHash);
      })(),
    );
    expect(seen).toEqual(["h::1", "h::2"]);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/ended the stream after 2 of 3 results/);
    const two: string[] = [];
    for await (const r of client.evaluate({ policyId: "p", contentData: [textContent("a"), textContent("b")] }))
      two.push(r.contentHash);
    expect(two).toEqual(["h::1", "h::2"]);
  });
});

describe(`maxReceiveMessageBytes on the ${TRANSPORT} transport`, () => {
  it("an answer larger than maxReceiveMessageBytes is a ServerError, and not retried", async () => {
    const { client, server } = await setup({ times: 0 }, { maxReceiveMessageBytes: 10 });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ServerError);
    expect(server.paths).toHaveLength(1);
  });
});
