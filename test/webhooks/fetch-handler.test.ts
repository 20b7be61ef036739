// The WHATWG handler called directly with Request objects, as fetch-style servers and edge runtimes call it.
import { equals } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type Job, JobSchema } from "../../src/index.js";
import { createFetchWebhookHandler, createTestWebhookRequest } from "../../src/webhooks/index.js";
import { sampleJob } from "../support/webhook-servers.js";

const SECRET = "whsec-fetch-tests-0123456789ab";
const URL = "https://receiver.example/hooks/clavata";

function makeHandler(maxBodyBytes?: number) {
  const received: Job[] = [];
  const errors: [unknown, number][] = [];
  const handler = createFetchWebhookHandler({
    secret: SECRET,
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    onJob: (job, request) => {
      expect(request).toBeInstanceOf(Request);
      received.push(job);
    },
    onError: (error, status) => errors.push([error, status]),
  });
  return { handler, received, errors };
}

describe("createFetchWebhookHandler", () => {
  it("turns the test helper's Request into the job and a 200 Response", async () => {
    const { handler, received } = makeHandler();
    const job = sampleJob();
    const response = await handler(new Request(URL, createTestWebhookRequest(job, { secret: SECRET })));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({ received: true });
    expect(equals(JobSchema, received[0]!, job)).toBe(true);
  });

  it("answers 405 with Allow: POST for other methods", async () => {
    const { handler } = makeHandler();
    for (const method of ["GET", "PUT", "HEAD"]) {
      const response = await handler(new Request(URL, { method }));
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
    }
  });

  it("says the body was already read when something consumed the Request first (500 parsed_body)", async () => {
    const { handler, received, errors } = makeHandler();
    const request = new Request(URL, createTestWebhookRequest(sampleJob(), { secret: SECRET }));
    await request.json();
    const response = await handler(request);
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe("parsed_body");
    expect(body.message).toContain("request.clone()");
    expect(received).toEqual([]);
    expect(errors[0]![1]).toBe(500);
  });

  it("stops pulling an endless body once over the limit, cancels it and answers 413", async () => {
    const { handler } = makeHandler(10_000);
    let pulls = 0;
    let canceled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(4096).fill(0x20));
      },
      cancel() {
        canceled = true;
      },
    });
    const request = createTestWebhookRequest(sampleJob(), { secret: SECRET });
    const response = await handler(
      new Request(URL, { ...request, body: endless, duplex: "half" } as ConstructorParameters<typeof Request>[1]),
    );
    expect(response.status).toBe(413);
    expect(canceled).toBe(true);
    // 10 000 bytes are exceeded by the third 4096-byte chunk; a little read-ahead is the stream's own.
    expect(pulls).toBeLessThan(8);
  });

  it("treats an empty body as bad JSON", async () => {
    const { handler } = makeHandler();
    const request = createTestWebhookRequest(sampleJob(), { secret: SECRET });
    const response = await handler(new Request(URL, { ...request, body: "" }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("bad_json");
  });
});
